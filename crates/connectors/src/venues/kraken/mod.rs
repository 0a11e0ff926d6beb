//! Kraken spot v2 (`wss://ws.kraken.com/v2`): `trade`, `ticker` with `event_trigger: "bbo"`, and `book`
//! kept at the subscribed depth and checked against Kraken's CRC32 checksum after every message.
//!
//! A book snapshot, as documented at <https://docs.kraken.com/api/docs/websocket-v2/book>:
//! `{"channel":"book","type":"snapshot","data":[{"symbol":"MATIC/USD","bids":[{"price":0.5666,
//! "qty":4831.75496356},...],"asks":[{"price":0.5668,"qty":4410.79769741},...],"checksum":2439117997,
//! "timestamp":"2023-10-06T17:35:55.440295Z"}]}`.
//!
//! Prices and quantities are JSON numbers; they are read from their text, never through `f64`. The
//! checksum writes them with the pair's price and quantity decimals, which a JSON number does not keep
//! (`0.5660` may arrive as `0.566`): the decimals are the ones configured with
//! [`Kraken::set_precision`] or, without that, the most seen on the pair so far. A mismatch reports
//! `gap` (expected = Kraken's checksum, received = ours), unsubscribes and subscribes the pair's book
//! again, and reports `resync` once the new snapshot checks out.

pub mod messages;
pub mod parse;

use std::time::Duration;

use tickstream_model::{Event, Exchange, Level, UnixNanos};

use messages::{BookMsg, Envelope, TickerMsg, TradeMsg};

use crate::fields::{raw_items, rfc3339};
use crate::tracked_book::{TrackedBook, set_checksum, unsynced_delta};
use crate::venues::connection_state::{ConnectionBook, ConnectionLifecycle, ConnectionState};
use crate::{
    BookMode, Channel, Error, Keepalive, ParseError, Subscription, Venue, VenueLimits,
    VenueProfile, VenueSignal,
};

/// What the venue declares: endpoint, keepalive and limits.
pub const PROFILE: VenueProfile = VenueProfile {
    exchange: Exchange::Kraken,
    default_ws_url: "wss://ws.kraken.com/v2",
    // Subscribed connections get a `heartbeat` every second; a `ping` keeps idle ones open.
    keepalive: Keepalive {
        ping_interval: Some(Duration::from_secs(30)),
        idle_timeout: Duration::from_secs(10),
    },
    ping_frame: Some(r#"{"method":"ping"}"#),
    limits: VenueLimits {
        max_streams_per_connection: 500,
        subscribe_frame_interval: Duration::from_millis(100),
        max_connection_age: None,
    },
};

/// Book depths Kraken serves.
pub const BOOK_DEPTHS: [u16; 5] = [10, 25, 100, 500, 1000];

/// A book depth Kraken serves, or a configuration error naming `book_depth`.
pub fn check_depth(depth: u16) -> Result<(), Error> {
    if BOOK_DEPTHS.contains(&depth) {
        return Ok(());
    }
    Err(Error::Config {
        field: "book_depth".into(),
        message: format!("Kraken serves books of {BOOK_DEPTHS:?} levels, not {depth}"),
    })
}

/// One pair's book with the decimals its checksum is written with.
#[derive(Debug, Default)]
struct PairBook {
    tracked: TrackedBook,
    price_scale: u8,
    qty_scale: u8,
}

impl ConnectionBook for PairBook {
    fn reset(&mut self) {
        self.tracked.reset();
    }
}

impl PairBook {
    fn learn_scales(&mut self, levels: &[Level]) {
        for level in levels {
            self.price_scale = self.price_scale.max(level.price().scale());
            self.qty_scale = self.qty_scale.max(level.quantity().scale());
        }
    }
}

/// The Kraken spot v2 venue for one connection.
#[derive(Debug)]
pub struct Kraken {
    state: ConnectionState<PairBook>,
    depth: u16,
    scratch: Vec<u8>,
}

impl Kraken {
    /// A venue serving `subs` with books of `depth` levels (10, 25, 100, 500 or 1000).
    pub fn new(subs: &[Subscription], depth: u16, mode: BookMode) -> Result<Kraken, Error> {
        check_depth(depth)?;
        let mut venue = Kraken::with_default_depth(subs, mode);
        venue.depth = depth;
        Ok(venue)
    }

    /// A venue serving `subs` with books of 10 levels, Kraken's default.
    pub fn with_default_depth(subs: &[Subscription], mode: BookMode) -> Kraken {
        Kraken {
            state: ConnectionState::new(subs, str::to_owned, parse::pair_symbol, "pair", mode),
            depth: BOOK_DEPTHS[0],
            scratch: Vec::with_capacity(512),
        }
    }

    /// The pair's price and quantity decimals (Kraken's `price_precision` / `qty_precision`), used
    /// for the checksum; more decimals seen on the wire still win.
    pub fn set_precision(&mut self, pair: &str, price_decimals: u8, qty_decimals: u8) {
        let book = self.state.books.entry(pair.to_owned()).or_default();
        book.price_scale = book.price_scale.max(price_decimals);
        book.qty_scale = book.qty_scale.max(qty_decimals);
    }

    /// The book of a pair, if book data was seen for it.
    pub fn book(&self, pair: &str) -> Option<&crate::L2Book> {
        self.state.books.get(pair).map(|b| &b.tracked.book)
    }

    fn request(&self, method: &str, channel: Channel, pairs: &[&str]) -> Option<String> {
        let params = match channel {
            Channel::Trades => {
                serde_json::json!({"channel": "trade", "symbol": pairs, "snapshot": false})
            }
            Channel::Bbo => {
                serde_json::json!({"channel": "ticker", "symbol": pairs, "event_trigger": "bbo"})
            }
            Channel::Book => {
                serde_json::json!({"channel": "book", "symbol": pairs, "depth": self.depth})
            }
            Channel::AggTrades => return None,
        };
        Some(serde_json::json!({"method": method, "params": params}).to_string())
    }

    fn on_book(
        &mut self,
        msg: &BookMsg<'_>,
        snapshot: bool,
        ts_recv: UnixNanos,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        let (symbol, raw) = self.state.resolve(msg.symbol)?;
        let bids = parse::parse_levels(&msg.bids)?;
        let asks = parse::parse_levels(&msg.asks)?;
        let ts_event = msg.timestamp.map(rfc3339).transpose()?.unwrap_or(ts_recv);
        let ts = (ts_event, ts_recv);
        let sym = (&symbol, &raw);
        let depth = usize::from(self.depth);
        let pair = self.state.books.entry(raw.to_string()).or_default();
        if snapshot {
            pair.tracked.book.apply_snapshot(&bids, &asks, None);
        } else if pair.tracked.is_synced() {
            pair.tracked.book.apply_delta(&bids, &asks);
        } else {
            if self.state.mode == BookMode::Unsynced {
                out.push(unsynced_delta(
                    Exchange::Kraken,
                    sym,
                    (bids, asks),
                    None,
                    ts,
                ));
                let at = out.len() - 1;
                set_checksum(out, at, msg.checksum);
            }
            return Ok(());
        }
        pair.tracked.book.truncate(depth);
        pair.learn_scales(&bids);
        pair.learn_scales(&asks);
        let local = parse::book_checksum(
            &pair.tracked.book,
            pair.price_scale,
            pair.qty_scale,
            &mut self.scratch,
        );
        if local != msg.checksum {
            pair.tracked.break_with_gap(
                Exchange::Kraken,
                sym,
                Some(u64::from(msg.checksum)),
                Some(u64::from(local)),
                format!(
                    "book checksum {local} does not match Kraken's {}",
                    msg.checksum
                ),
                ts_recv,
                out,
            );
            let pairs = [msg.symbol];
            let frames = [
                self.request("unsubscribe", Channel::Book, &pairs),
                self.request("subscribe", Channel::Book, &pairs),
            ];
            self.state.signals.push(VenueSignal::Send {
                frames: frames.into_iter().flatten().collect(),
                reason: format!("book checksum mismatch on {raw}"),
            });
            return Ok(());
        }
        let at = if snapshot {
            pair.tracked
                .publish_snapshot(Exchange::Kraken, sym, ts, out)
        } else {
            pair.tracked
                .publish_delta(Exchange::Kraken, sym, (bids, asks), None, ts, out)
        };
        set_checksum(out, at, msg.checksum);
        Ok(())
    }
}

impl Venue for Kraken {
    fn profile(&self) -> &'static VenueProfile {
        &PROFILE
    }

    /// One `subscribe` request per channel, listing its pairs.
    fn subscribe_frames(&self, subs: &[Subscription]) -> Vec<String> {
        [Channel::Trades, Channel::Bbo, Channel::Book]
            .into_iter()
            .filter_map(|channel| {
                let pairs: Vec<&str> = subs
                    .iter()
                    .filter(|s| s.channel == channel)
                    .map(|s| s.raw_symbol.as_str())
                    .collect();
                if pairs.is_empty() {
                    return None;
                }
                self.request("subscribe", channel, &pairs)
            })
            .collect()
    }

    fn parse(
        &mut self,
        frame: &str,
        ts_recv: UnixNanos,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        let env: Envelope<'_> = serde_json::from_str(frame).map_err(ParseError::json)?;
        if let Some(method) = env.method {
            return self.state.answer(method, env.success, env.error.as_deref());
        }
        match env.channel {
            Some("trade") => {
                for msg in raw_items::<TradeMsg<'_>>(env.data)? {
                    let sym = self.state.resolve(msg.symbol)?;
                    out.push(Event::Trade(parse::parse_trade(&msg, sym, ts_recv)?));
                }
            }
            Some("ticker") => {
                for msg in raw_items::<TickerMsg<'_>>(env.data)? {
                    let sym = self.state.resolve(msg.symbol)?;
                    out.push(Event::Quote(parse::parse_ticker(&msg, sym, ts_recv)?));
                }
            }
            Some("book") => {
                let snapshot = match env.kind {
                    Some("snapshot") => true,
                    Some("update") => false,
                    other => {
                        return Err(ParseError::unknown_message("book type", other));
                    }
                };
                for msg in raw_items::<BookMsg<'_>>(env.data)? {
                    self.on_book(&msg, snapshot, ts_recv, out)?;
                }
            }
            Some("heartbeat" | "status") => {}
            other => {
                return Err(ParseError::unknown_message("channel", other));
            }
        }
        Ok(())
    }

    fn connection(&mut self) -> &mut dyn ConnectionLifecycle {
        &mut self.state
    }
}
