//! Bitstamp v2 (`wss://ws.bitstamp.net`): `live_trades_<pair>`, `diff_order_book_<pair>` joined to the
//! REST `/api/v2/order_book/<pair>/` snapshot by `microtimestamp`, `order_book_<pair>` (top of book as
//! the BBO), `bts:request_reconnect` (reconnect; the book is rebuilt and republished as resynced) and
//! the `bts:heartbeat` keepalive.
//!
//! A trade, as recorded from the live feed (see `tests/fixtures/bitstamp/SOURCES.md`):
//! `{"data":{"microtimestamp":"1580336751488517","amount":0.00598803,"buy_order_id":4621328909,
//! "sell_order_id":4621329035,"amount_str":"0.00598803","price_str":"9334.73","timestamp":"1580336751",
//! "price":9334.73,"type":1,"id":104007706},"event":"trade","channel":"live_trades_btcusd"}`.

pub mod diff_book;
pub mod messages;
pub mod parse;

use std::time::Duration;

use tickstream_model::{Event, Exchange, UnixNanos};

use diff_book::{DiffBook, DiffNeed, unsynced_diff};
use messages::{BookMsg, Envelope, TradeMsg};

use crate::venues::binance::parse::symbol_from_suffix;
use crate::venues::connection_state::{ConnectionLifecycle, ConnectionState};
use crate::{
    BookMode, Channel, Error, Keepalive, ParseError, RejectReason, Subscription, Venue,
    VenueLimits, VenueProfile, VenueSignal,
};

/// What the venue declares: endpoint, keepalive and limits.
pub const PROFILE: VenueProfile = VenueProfile {
    exchange: Exchange::Bitstamp,
    default_ws_url: "wss://ws.bitstamp.net",
    keepalive: Keepalive {
        ping_interval: Some(Duration::from_secs(30)),
        idle_timeout: Duration::from_secs(90),
    },
    ping_frame: Some(r#"{"event":"bts:heartbeat"}"#),
    limits: VenueLimits {
        max_streams_per_connection: 100,
        subscribe_frame_interval: Duration::from_millis(50),
        max_connection_age: None,
    },
};

pub const DEFAULT_REST_URL: &str = "https://www.bitstamp.net";

/// The venue's channel for a subscription: `live_trades_btcusd`, `order_book_btcusd`,
/// `diff_order_book_btcusd`.
pub fn channel_name(sub: &Subscription) -> Option<String> {
    let pair = sub.raw_symbol.to_ascii_lowercase();
    match sub.channel {
        Channel::Trades => Some(format!("live_trades_{pair}")),
        Channel::Bbo => Some(format!("order_book_{pair}")),
        Channel::Book => Some(format!("diff_order_book_{pair}")),
        Channel::AggTrades => None,
    }
}

/// The Bitstamp v2 venue for one connection.
#[derive(Debug)]
pub struct Bitstamp {
    state: ConnectionState<DiffBook>,
    rest_url: String,
}

impl Bitstamp {
    /// A venue serving `subs`; REST snapshots come from `rest_url` (`https://www.bitstamp.net` or the
    /// simulator).
    pub fn new(subs: &[Subscription], rest_url: &str, mode: BookMode) -> Bitstamp {
        Bitstamp {
            state: ConnectionState::new(
                subs,
                str::to_ascii_lowercase,
                symbol_from_suffix,
                "pair",
                mode,
            ),
            rest_url: rest_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The book of a pair, if diff data was seen for it.
    pub fn book(&self, pair: &str) -> Option<&crate::L2Book> {
        self.state.books.get(pair).map(|b| &b.tracked.book)
    }

    fn snapshot_url(&self, pair: &str) -> String {
        format!("{}/api/v2/order_book/{pair}/", self.rest_url)
    }

    fn on_diff(
        &mut self,
        pair: &str,
        data: &str,
        ts_recv: UnixNanos,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        let msg: BookMsg<'_> = serde_json::from_str(data).map_err(ParseError::json)?;
        let diff = parse::parse_book(&msg)?;
        let (symbol, raw) = self.state.resolve(pair)?;
        if self.state.mode == BookMode::Unsynced {
            out.push(unsynced_diff(diff, (&symbol, &raw), ts_recv));
            return Ok(());
        }
        let book = self.state.books.entry(raw.to_string()).or_default();
        if book.on_diff(diff, (&symbol, &raw), ts_recv, out) == DiffNeed::Snapshot {
            let url = self.snapshot_url(&raw);
            self.state.fetch_snapshot(&raw, url);
        }
        Ok(())
    }
}

fn data<'a>(env: &Envelope<'a>) -> Result<&'a str, ParseError> {
    env.data
        .map(|d| d.get())
        .ok_or_else(|| ParseError::new(RejectReason::ParseError, "message without data"))
}

impl Venue for Bitstamp {
    fn profile(&self) -> &'static VenueProfile {
        &PROFILE
    }

    fn url(&self, base: &str, _subs: &[Subscription]) -> Result<String, Error> {
        Ok(base.to_owned())
    }

    /// One `bts:subscribe` per channel (the venue takes one channel per message).
    fn subscribe_frames(&self, subs: &[Subscription]) -> Vec<String> {
        subs.iter()
            .filter_map(channel_name)
            .map(|channel| {
                serde_json::json!({"event": "bts:subscribe", "data": {"channel": channel}})
                    .to_string()
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
        match env.event {
            "trade" => {
                let pair = env.channel.strip_prefix("live_trades_").unwrap_or_default();
                let msg: TradeMsg<'_> =
                    serde_json::from_str(data(&env)?).map_err(ParseError::json)?;
                let sym = self.state.resolve(pair)?;
                out.push(Event::Trade(parse::parse_trade(&msg, sym, ts_recv)?));
            }
            "data" => {
                if let Some(pair) = env.channel.strip_prefix("diff_order_book_") {
                    self.on_diff(pair, data(&env)?, ts_recv, out)?;
                } else if let Some(pair) = env.channel.strip_prefix("order_book_") {
                    let msg: BookMsg<'_> =
                        serde_json::from_str(data(&env)?).map_err(ParseError::json)?;
                    let sym = self.state.resolve(pair)?;
                    out.extend(parse::parse_top_of_book(&msg, sym, ts_recv)?.map(Event::Quote));
                } else {
                    return Err(ParseError::unknown_message("data on channel", env.channel));
                }
            }
            "bts:subscription_succeeded" => self.state.signals.push(VenueSignal::Subscribed {
                detail: format!("{} subscribed", env.channel),
            }),
            "bts:request_reconnect" => self.state.signals.push(VenueSignal::Reconnect {
                reason: "bts:request_reconnect".into(),
            }),
            "bts:heartbeat" | "bts:unsubscription_succeeded" => {}
            "bts:error" => {
                return Err(ParseError::new(
                    RejectReason::VenueError,
                    env.data.map_or_else(String::new, |d| d.get().to_owned()),
                ));
            }
            other => {
                return Err(ParseError::unknown_message("event", other));
            }
        }
        Ok(())
    }

    fn apply_snapshot(
        &mut self,
        raw_symbol: &str,
        body: &str,
        ts_recv: UnixNanos,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        let snapshot = parse::parse_snapshot(body)?;
        let (symbol, raw) = self.state.resolve(&raw_symbol.to_ascii_lowercase())?;
        let book = self.state.books.entry(raw.to_string()).or_default();
        book.on_snapshot(snapshot, (&symbol, &raw), ts_recv, out);
        Ok(())
    }

    fn connection(&mut self) -> &mut dyn ConnectionLifecycle {
        &mut self.state
    }
}
