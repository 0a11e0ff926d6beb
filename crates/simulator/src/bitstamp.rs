//! The simulator's Bitstamp v2 protocol: `bts:subscribe` answered with `bts:subscription_succeeded`,
//! `live_trades_<pair>`, `order_book_<pair>` (the best level each step) and `diff_order_book_<pair>`
//! stamped with `microtimestamp`, the `bts:heartbeat` answer, `bts:request_reconnect`, and the REST
//! `/api/v2/order_book/<pair>/` snapshot.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use tickstream_model::Level;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;

use super::market::Step;
use super::{Protocol, Shared, going_away, wire};
use crate::symbols::joined_spot;

/// A Bitstamp channel the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Trades,
    OrderBook,
    Diff,
}

/// One connection's subscriptions: (canonical symbol, pair, channel kind).
#[derive(Debug, Default)]
pub struct BitstampProtocol {
    channels: BTreeSet<(String, String, Kind)>,
}

/// An `order_book_<pair>` or `diff_order_book_<pair>` push.
#[derive(Serialize)]
struct BookPush<'a> {
    data: Book<'a>,
    channel: String,
    event: &'static str,
}

#[derive(Serialize)]
struct Book<'a> {
    timestamp: &'a str,
    microtimestamp: &'a str,
    bids: &'a [Level],
    asks: &'a [Level],
}

/// The body of `GET <base>/api/v2/order_book/<pair>/`, or `None` for another path or pair. Its
/// `microtimestamp` is just below the current millisecond: every market step sent at or after it
/// carries a later one (steps are stamped in whole milliseconds).
pub fn rest_response(target: &str, shared: &Shared) -> Option<String> {
    let path = target.split('?').next()?;
    let pair = path
        .strip_suffix('/')
        .unwrap_or(path)
        .rsplit_once("/api/v2/order_book/")?
        .1;
    let canonical = joined_spot(pair)?;
    let now_ms = tickstream_model::UnixNanos::now().0 / 1_000_000;
    Some(order_book_body(
        shared,
        canonical.as_str(),
        now_ms * 1000 - 1,
    ))
}

/// The REST order book of a canonical symbol's market as it is now, stamped `micros`.
pub fn order_book_body(shared: &Shared, canonical: &str, micros: i64) -> String {
    let (bids, asks) = shared.with_market(canonical, |m| m.book());
    json!({"timestamp": (micros / 1_000_000).to_string(), "microtimestamp": micros.to_string(),
        "bids": &bids, "asks": &asks})
    .to_string()
}

impl Protocol for BitstampProtocol {
    fn on_client_text(&mut self, text: &str, shared: &Shared, out: &mut Vec<String>) {
        let Ok(request) = serde_json::from_str::<serde_json::Value>(text) else {
            out.push(json!({"event": "bts:error", "channel": "", "data": {"code": null, "message": "Bad request."}}).to_string());
            return;
        };
        let event = request.get("event").and_then(|e| e.as_str()).unwrap_or("");
        let channel = request
            .pointer("/data/channel")
            .and_then(|c| c.as_str())
            .unwrap_or("");
        match event {
            "bts:heartbeat" => {
                out.push(
                    json!({"event": "bts:heartbeat", "channel": "", "data": {"status": "success"}})
                        .to_string(),
                );
                return;
            }
            "bts:subscribe" | "bts:unsubscribe" => {}
            _ => {
                out.push(json!({"event": "bts:error", "channel": "", "data": {"code": null, "message": "Bad request."}}).to_string());
                return;
            }
        }
        let parsed = [
            ("diff_order_book_", Kind::Diff),
            ("order_book_", Kind::OrderBook),
            ("live_trades_", Kind::Trades),
        ]
        .into_iter()
        .find_map(|(prefix, kind)| Some((channel.strip_prefix(prefix)?, kind)));
        let Some((pair, kind)) = parsed else {
            out.push(json!({"event": "bts:error", "channel": channel, "data": {"code": null, "message": "Incorrect channel."}}).to_string());
            return;
        };
        let Some(canonical) = joined_spot(pair) else {
            out.push(json!({"event": "bts:error", "channel": channel, "data": {"code": null, "message": "Incorrect channel."}}).to_string());
            return;
        };
        let entry = (canonical.as_str().to_owned(), pair.to_owned(), kind);
        if event == "bts:unsubscribe" {
            self.channels.remove(&entry);
            out.push(
                json!({"event": "bts:unsubscription_succeeded", "channel": channel, "data": {}})
                    .to_string(),
            );
            return;
        }
        shared.with_market(canonical.as_str(), |_| ());
        self.channels.insert(entry);
        out.push(
            json!({"event": "bts:subscription_succeeded", "channel": channel, "data": {}})
                .to_string(),
        );
    }

    fn on_step(&mut self, step: &Step, _skip_book: bool, out: &mut Vec<String>) -> bool {
        let micros = step.time_ms * 1000;
        let (secs, micros_text) = ((micros / 1_000_000).to_string(), micros.to_string());
        for (_, pair, kind) in self
            .channels
            .range((step.symbol.clone(), String::new(), Kind::Trades)..)
            .take_while(|(s, _, _)| *s == step.symbol)
        {
            match kind {
                Kind::Trades => {
                    let Some(t) = &step.trade else { continue };
                    out.push(format!(
                        "{{\"data\":{{\"id\":{},\"timestamp\":\"{secs}\",\"amount\":{},\"amount_str\":\"{}\",\"price\":{},\"price_str\":\"{}\",\"type\":{},\"microtimestamp\":\"{micros_text}\",\"buy_order_id\":1,\"sell_order_id\":2}},\"channel\":\"live_trades_{pair}\",\"event\":\"trade\"}}",
                        t.id, t.quantity, t.quantity, t.price, t.price, u8::from(!t.taker_buys)
                    ));
                }
                Kind::OrderBook => {
                    let data = Book {
                        timestamp: &secs,
                        microtimestamp: &micros_text,
                        bids: &[step.best_bid],
                        asks: &[step.best_ask],
                    };
                    let channel = format!("order_book_{pair}");
                    out.push(wire::frame(&BookPush {
                        data,
                        channel,
                        event: "data",
                    }));
                }
                Kind::Diff => {
                    let data = Book {
                        timestamp: &secs,
                        microtimestamp: &micros_text,
                        bids: &step.bids,
                        asks: &step.asks,
                    };
                    let channel = format!("diff_order_book_{pair}");
                    out.push(wire::frame(&BookPush {
                        data,
                        channel,
                        event: "data",
                    }));
                }
            }
        }
        // Bitstamp's diffs carry no sequence: a left-out diff cannot be noticed, so none is left out.
        false
    }

    fn on_second(&mut self, _out: &mut Vec<String>) {}

    fn reconnect_request(&mut self, out: &mut Vec<String>) -> Option<CloseFrame> {
        out.push(json!({"event": "bts:request_reconnect", "channel": "", "data": ""}).to_string());
        Some(going_away("reconnect requested"))
    }

    fn ping_every(&self) -> Option<Duration> {
        None
    }
}
