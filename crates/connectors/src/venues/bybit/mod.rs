//! Bybit v5 public market data on the spot (`/v5/public/spot`) and linear (`/v5/public/linear`,
//! perpetuals labeled `-PERP`) endpoints: `publicTrade`, `orderbook.1` (BBO) and `orderbook.50` /
//! `orderbook.200` (a snapshot, then deltas), with the `{"op":"ping"}` keepalive every 20 s and at most
//! ten topics per subscribe request.
//!
//! A book snapshot, as documented at <https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook>:
//! `{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1672304484978,"data":{"s":"BTCUSDT",
//! "b":[["16493.50","0.006"],["16493.00","0.100"]],"a":[["16611.00","0.029"],["16612.00","0.213"]],
//! "u":18521288,"seq":7961638724}}`.
//!
//! A delta's update id `u` must be the previous one + 1; a new snapshot, or `u` = 1 (Bybit's service
//! restart), replaces the book. A break reports `gap` (expected = previous `u` + 1, received = `u`),
//! unsubscribes and subscribes the topic again, and reports `resync` with the new snapshot.

pub mod messages;
pub mod parse;

use std::collections::HashMap;
use std::time::Duration;

use tickstream_model::{Event, Exchange, Symbol, UnixNanos};

use messages::{BookMsg, Envelope, TradeMsg};
pub use parse::BybitMarket;

use crate::book::L2Book;
use crate::fields::{millis_value, top_quote};
use crate::tracked_book::{TrackedBook, unsynced_delta};
use crate::venues::connection_state::{ConnectionLifecycle, ConnectionState};
use crate::{
    BookMode, Channel, Error, Keepalive, ParseError, RejectReason, Subscription, Venue,
    VenueLimits, VenueProfile, VenueSignal,
};

/// What the venue declares: endpoint, keepalive and limits.
pub const PROFILE: VenueProfile = VenueProfile {
    exchange: Exchange::Bybit,
    default_ws_url: "wss://stream.bybit.com",
    keepalive: Keepalive {
        ping_interval: Some(Duration::from_secs(20)),
        idle_timeout: Duration::from_secs(60),
    },
    ping_frame: Some(r#"{"op":"ping"}"#),
    limits: VenueLimits {
        max_streams_per_connection: 200,
        subscribe_frame_interval: Duration::from_millis(100),
        max_connection_age: None,
    },
};

/// Book depths served on both endpoints.
pub const BOOK_DEPTHS: [u16; 2] = [50, 200];
/// Topics per subscribe request.
const TOPICS_PER_REQUEST: usize = 10;

/// A book depth Bybit serves, or a configuration error naming `book_depth`.
pub fn check_depth(depth: u16) -> Result<(), Error> {
    if BOOK_DEPTHS.contains(&depth) {
        return Ok(());
    }
    Err(Error::Config {
        field: "book_depth".into(),
        message: format!("Bybit serves books of {BOOK_DEPTHS:?} levels, not {depth}"),
    })
}

fn request(op: &str, topics: &[String]) -> String {
    serde_json::json!({"op": op, "args": topics}).to_string()
}

/// The Bybit v5 public venue for one connection to one endpoint.
#[derive(Debug)]
pub struct Bybit {
    market: BybitMarket,
    state: ConnectionState<TrackedBook>,
    bbo: HashMap<String, L2Book>,
    depth: u16,
}

impl Bybit {
    /// A venue serving `subs` on `market`'s endpoint, with books of `depth` levels (50 or 200).
    pub fn new(
        subs: &[Subscription],
        market: BybitMarket,
        depth: u16,
        mode: BookMode,
    ) -> Result<Bybit, Error> {
        check_depth(depth)?;
        let mut venue = Bybit::with_default_depth(subs, market, mode);
        venue.depth = depth;
        Ok(venue)
    }

    /// A venue serving `subs` on `market`'s endpoint with books of 50 levels.
    pub fn with_default_depth(subs: &[Subscription], market: BybitMarket, mode: BookMode) -> Bybit {
        let rule: fn(&str) -> Option<Symbol> = match market {
            BybitMarket::Spot => |raw| parse::market_symbol(BybitMarket::Spot, raw),
            BybitMarket::Linear => |raw| parse::market_symbol(BybitMarket::Linear, raw),
        };
        Bybit {
            market,
            state: ConnectionState::new(subs, str::to_owned, rule, "symbol", mode),
            bbo: HashMap::new(),
            depth: BOOK_DEPTHS[0],
        }
    }

    /// The book of a symbol, if depth data was seen for it.
    pub fn book(&self, symbol: &str) -> Option<&L2Book> {
        self.state.books.get(symbol).map(|b| &b.book)
    }

    /// The venue's topic for a subscription: `publicTrade.BTCUSDT`, `orderbook.1.BTCUSDT`.
    pub fn topic(&self, sub: &Subscription) -> Option<String> {
        let raw = &sub.raw_symbol;
        match sub.channel {
            Channel::Trades => Some(format!("publicTrade.{raw}")),
            Channel::Bbo => Some(format!("orderbook.1.{raw}")),
            Channel::Book => Some(format!("orderbook.{}.{raw}", self.depth)),
            Channel::AggTrades => None,
        }
    }

    fn on_bbo(
        &mut self,
        msg: &BookMsg<'_>,
        snapshot: bool,
        ts: (UnixNanos, UnixNanos),
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        let (symbol, raw) = self.state.resolve(msg.symbol)?;
        let (bids, asks) = parse::parse_book_levels(msg)?;
        let book = self.bbo.entry(raw.to_string()).or_default();
        if snapshot {
            book.apply_snapshot(&bids, &asks, Some(msg.update_id));
        } else if book.is_synced() {
            book.apply_delta(&bids, &asks);
            book.truncate(1);
        } else {
            return Ok(());
        }
        out.extend(top_quote(
            Exchange::Bybit,
            (&symbol, &raw),
            book,
            ts.0,
            ts.1,
        ));
        Ok(())
    }

    fn on_depth(
        &mut self,
        topic: &str,
        msg: &BookMsg<'_>,
        snapshot: bool,
        ts: (UnixNanos, UnixNanos),
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        let (symbol, raw) = self.state.resolve(msg.symbol)?;
        let sym = (&symbol, &raw);
        let (bids, asks) = parse::parse_book_levels(msg)?;
        let depth = usize::from(self.depth);
        let u = msg.update_id;
        let book = self.state.books.entry(raw.to_string()).or_default();
        if snapshot || u == 1 {
            book.book.apply_snapshot(&bids, &asks, Some(u));
            book.book.truncate(depth);
            book.publish_snapshot(Exchange::Bybit, sym, ts, out);
            return Ok(());
        }
        if !book.is_synced() {
            if self.state.mode == BookMode::Unsynced {
                out.push(unsynced_delta(
                    Exchange::Bybit,
                    sym,
                    (bids, asks),
                    Some(u),
                    ts,
                ));
            }
            return Ok(());
        }
        let expected = book.book.sequence().map_or(u, |s| s + 1);
        if u != expected {
            book.break_with_gap(
                Exchange::Bybit,
                sym,
                Some(expected),
                Some(u),
                format!("{topic} update id {u} where {expected} was expected"),
                ts.1,
                out,
            );
            let topics = [topic.to_owned()];
            self.state.signals.push(VenueSignal::Send {
                frames: vec![
                    request("unsubscribe", &topics),
                    request("subscribe", &topics),
                ],
                reason: format!("{topic} update id break"),
            });
            return Ok(());
        }
        book.book.apply_delta(&bids, &asks);
        book.book.truncate(depth);
        book.book.set_sequence(u);
        book.publish_delta(Exchange::Bybit, sym, (bids, asks), Some(u), ts, out);
        Ok(())
    }
}

impl Venue for Bybit {
    fn profile(&self) -> &'static VenueProfile {
        &PROFILE
    }

    /// `base` (`wss://stream.bybit.com` or the simulator) with the market's path, unless it has one.
    fn url(&self, base: &str, _subs: &[Subscription]) -> Result<String, Error> {
        let base = base.trim_end_matches('/');
        if base.contains("/v5/public/") {
            Ok(base.to_owned())
        } else {
            Ok(format!("{base}{}", self.market.path()))
        }
    }

    fn subscribe_frames(&self, subs: &[Subscription]) -> Vec<String> {
        let topics: Vec<String> = subs.iter().filter_map(|s| self.topic(s)).collect();
        topics
            .chunks(TOPICS_PER_REQUEST)
            .map(|chunk| request("subscribe", chunk))
            .collect()
    }

    fn parse(
        &mut self,
        frame: &str,
        ts_recv: UnixNanos,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        let env: Envelope<'_> = serde_json::from_str(frame).map_err(ParseError::json)?;
        if let Some(op) = env.op {
            return self.state.answer(op, env.success, env.ret_msg.as_deref());
        }
        let Some(topic) = env.topic else {
            return Err(ParseError::new(
                RejectReason::UnknownMessage,
                "message without a topic",
            ));
        };
        let ts_event = match env.ts {
            Some(ts) => millis_value(ts)?,
            None => ts_recv,
        };
        let ts = (ts_event, ts_recv);
        let data = env.data.map_or("null", |d| d.get());
        let snapshot = env.kind == Some("snapshot");
        let mut parts = topic.split('.');
        match (parts.next(), parts.next()) {
            (Some("publicTrade"), _) => {
                let trades: Vec<TradeMsg<'_>> =
                    serde_json::from_str(data).map_err(ParseError::json)?;
                for msg in &trades {
                    let sym = self.state.resolve(msg.symbol)?;
                    out.push(Event::Trade(parse::parse_trade(msg, sym, ts_recv)?));
                }
            }
            (Some("orderbook"), Some(depth)) => {
                if !snapshot && env.kind != Some("delta") {
                    return Err(ParseError::unknown_message("orderbook type", env.kind));
                }
                let msg: BookMsg<'_> = serde_json::from_str(data).map_err(ParseError::json)?;
                if depth == "1" {
                    self.on_bbo(&msg, snapshot, ts, out)?;
                } else {
                    self.on_depth(topic, &msg, snapshot, ts, out)?;
                }
            }
            _ => {
                return Err(ParseError::unknown_message("topic", topic));
            }
        }
        Ok(())
    }

    fn connection(&mut self) -> &mut dyn ConnectionLifecycle {
        &mut self.state
    }

    fn reset(&mut self) {
        self.state.reset();
        for book in self.bbo.values_mut() {
            book.invalidate();
        }
    }
}
