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

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tickstream_model::{Event, Exchange, Symbol, UnixNanos};

use diff_book::{DiffBook, DiffNeed, unsynced_diff};
use messages::{BookMsg, Envelope, TradeMsg};

use crate::symbols::SymbolMap;
use crate::venues::binance::parse::symbol_from_suffix;
use crate::{
    BookMode, Channel, Error, Keepalive, ParseError, RejectReason, Subscription, Venue,
    VenueLimits, VenueSignal,
};

pub const DEFAULT_WS_URL: &str = "wss://ws.bitstamp.net";
pub const DEFAULT_REST_URL: &str = "https://www.bitstamp.net";

type Resolved = (Symbol, Arc<str>);

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
    symbols: SymbolMap,
    books: HashMap<String, DiffBook>,
    rest_url: String,
    mode: BookMode,
    signals: Vec<VenueSignal>,
}

impl Bitstamp {
    /// A venue serving `subs`; REST snapshots come from `rest_url` (`https://www.bitstamp.net` or the
    /// simulator).
    pub fn new(subs: &[Subscription], rest_url: &str, mode: BookMode) -> Bitstamp {
        let mut symbols = SymbolMap::new();
        for sub in subs {
            symbols.insert(&sub.raw_symbol.to_ascii_lowercase(), sub.symbol.clone());
        }
        Bitstamp {
            symbols,
            books: HashMap::new(),
            rest_url: rest_url.trim_end_matches('/').to_owned(),
            mode,
            signals: Vec::new(),
        }
    }

    /// The book of a pair, if diff data was seen for it.
    pub fn book(&self, pair: &str) -> Option<&crate::L2Book> {
        self.books.get(pair).map(|b| &b.tracked.book)
    }

    fn resolve(&mut self, pair: &str) -> Result<Resolved, ParseError> {
        self.symbols
            .resolve_or_reject(pair, symbol_from_suffix, "pair")
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
        let (symbol, raw) = self.resolve(pair)?;
        if self.mode == BookMode::Unsynced {
            out.push(unsynced_diff(diff, (&symbol, &raw), ts_recv));
            return Ok(());
        }
        let book = self.books.entry(raw.to_string()).or_default();
        if book.on_diff(diff, (&symbol, &raw), ts_recv, out) == DiffNeed::Snapshot {
            let url = self.snapshot_url(&raw);
            self.signals.push(VenueSignal::FetchSnapshot {
                raw_symbol: raw.to_string(),
                url,
            });
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
    fn exchange(&self) -> Exchange {
        Exchange::Bitstamp
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

    fn keepalive(&self) -> Keepalive {
        Keepalive {
            ping_interval: Some(Duration::from_secs(30)),
            idle_timeout: Duration::from_secs(90),
        }
    }

    fn ping_frame(&self) -> Option<String> {
        Some(r#"{"event":"bts:heartbeat"}"#.to_owned())
    }

    fn limits(&self) -> VenueLimits {
        VenueLimits {
            max_streams_per_connection: 100,
            subscribe_frame_interval: Duration::from_millis(50),
            max_connection_age: None,
        }
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
                let sym = self.resolve(pair)?;
                out.push(Event::Trade(parse::parse_trade(&msg, sym, ts_recv)?));
            }
            "data" => {
                if let Some(pair) = env.channel.strip_prefix("diff_order_book_") {
                    self.on_diff(pair, data(&env)?, ts_recv, out)?;
                } else if let Some(pair) = env.channel.strip_prefix("order_book_") {
                    let msg: BookMsg<'_> =
                        serde_json::from_str(data(&env)?).map_err(ParseError::json)?;
                    let sym = self.resolve(pair)?;
                    out.extend(parse::parse_top_of_book(&msg, sym, ts_recv)?.map(Event::Quote));
                } else {
                    return Err(ParseError::new(
                        RejectReason::UnknownMessage,
                        format!("data on channel {:?}", env.channel),
                    ));
                }
            }
            "bts:subscription_succeeded" => self.signals.push(VenueSignal::Subscribed {
                detail: format!("{} subscribed", env.channel),
            }),
            "bts:request_reconnect" => self.signals.push(VenueSignal::Reconnect {
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
                return Err(ParseError::new(
                    RejectReason::UnknownMessage,
                    format!("event {other:?}"),
                ));
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
        let (symbol, raw) = self.resolve(&raw_symbol.to_ascii_lowercase())?;
        let book = self.books.entry(raw.to_string()).or_default();
        book.on_snapshot(snapshot, (&symbol, &raw), ts_recv, out);
        Ok(())
    }

    fn drain_signals(&mut self, signals: &mut Vec<VenueSignal>) {
        signals.append(&mut self.signals);
    }

    fn reset(&mut self) {
        self.signals.clear();
        for book in self.books.values_mut() {
            book.reset();
        }
    }
}
