//! The simulator's Bybit v5 public protocol on the spot and linear endpoints: `subscribe` /
//! `unsubscribe` answered per request, `publicTrade`, `orderbook.1` (a snapshot each step) and
//! `orderbook.50` / `orderbook.200` (a snapshot, then deltas whose `u` grows by one), and the pong for
//! `{"op":"ping"}`. A sequence reset fault makes the next book message a delta with `u = 1` carrying the
//! whole book, as Bybit sends after a restart of its service.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::json;
use tickstream_model::Level;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;

use super::market::Step;
use super::{Protocol, Shared, going_away};
use crate::book::L2Book;
use crate::bybit::BybitMarket;
use crate::bybit::parse::market_symbol;

/// A book topic of one symbol: its topic name, venue symbol, update id `u`, market update id and the
/// book as published.
#[derive(Debug)]
struct BookTopic {
    topic: String,
    raw: String,
    u: u64,
    at: u64,
    book: L2Book,
}

/// One connection's subscriptions, by canonical symbol.
#[derive(Debug)]
pub struct BybitProtocol {
    market: BybitMarket,
    trades: BTreeSet<(String, String)>,
    bbo: BTreeSet<(String, String)>,
    books: BTreeMap<String, BookTopic>,
    reset_next: bool,
}

impl BybitProtocol {
    pub fn new(market: BybitMarket) -> BybitProtocol {
        BybitProtocol {
            market,
            trades: BTreeSet::new(),
            bbo: BTreeSet::new(),
            books: BTreeMap::new(),
            reset_next: false,
        }
    }

    fn on_topic(&mut self, subscribe: bool, topic: &str, shared: &Shared, out: &mut Vec<String>) {
        let parts: Vec<&str> = topic.split('.').collect();
        let (name, raw) = match parts.as_slice() {
            ["publicTrade", raw] => ("trade", *raw),
            ["orderbook", "1", raw] => ("bbo", *raw),
            ["orderbook", depth, raw] if ["50", "200"].contains(depth) => ("book", *raw),
            _ => return,
        };
        let Some(canonical) = market_symbol(self.market, raw) else {
            return;
        };
        let canonical = canonical.as_str().to_owned();
        let entry = (canonical.clone(), raw.to_owned());
        match (name, subscribe) {
            ("trade", true) => {
                self.trades.insert(entry);
            }
            ("trade", false) => {
                self.trades.remove(&entry);
            }
            ("bbo", true) => {
                self.bbo.insert(entry);
            }
            ("bbo", false) => {
                self.bbo.remove(&entry);
            }
            (_, false) => {
                self.books.remove(&canonical);
            }
            (_, true) => {
                let (at, bids, asks) = shared.with_market(&canonical, |m| {
                    let (bids, asks) = m.book();
                    (m.update_id(), bids, asks)
                });
                let ts = crate::runner::now().0 / 1_000_000;
                out.push(
                    json!({"topic": topic, "type": "snapshot", "ts": ts, "data": {"s": raw,
                    "b": pairs(&bids), "a": pairs(&asks), "u": at, "seq": at}, "cts": ts})
                    .to_string(),
                );
                let mut book = L2Book::new();
                book.apply_snapshot(&bids, &asks, Some(at));
                self.books.insert(
                    canonical.clone(),
                    BookTopic {
                        topic: topic.to_owned(),
                        raw: raw.to_owned(),
                        u: at,
                        at,
                        book,
                    },
                );
            }
        }
        shared.with_market(&canonical, |_| ());
    }
}

fn pairs(levels: &[Level]) -> Vec<[String; 2]> {
    levels
        .iter()
        .map(|l| [l.price().to_string(), l.quantity().to_string()])
        .collect()
}

impl Protocol for BybitProtocol {
    fn on_client_text(&mut self, text: &str, shared: &Shared, out: &mut Vec<String>) {
        let Ok(request) = serde_json::from_str::<serde_json::Value>(text) else {
            out.push(
                json!({"success": false, "ret_msg": "Invalid request", "conn_id": "sim", "op": ""})
                    .to_string(),
            );
            return;
        };
        let op = request.get("op").and_then(|o| o.as_str()).unwrap_or("");
        let req_id = request.get("req_id").cloned().unwrap_or(json!(""));
        match op {
            "ping" => out.push(json!({"success": true, "ret_msg": "pong", "conn_id": "sim", "req_id": req_id, "op": "ping"}).to_string()),
            "subscribe" | "unsubscribe" => {
                let mut answer = Vec::new();
                let topics = request.get("args").and_then(|a| a.as_array()).cloned().unwrap_or_default();
                for topic in topics.iter().filter_map(|t| t.as_str()) {
                    self.on_topic(op == "subscribe", topic, shared, &mut answer);
                }
                out.push(json!({"success": true, "ret_msg": "", "conn_id": "sim", "req_id": req_id, "op": op}).to_string());
                out.append(&mut answer);
            }
            _ => out.push(json!({"success": false, "ret_msg": format!("Invalid op {op}"), "conn_id": "sim", "op": op}).to_string()),
        }
    }

    fn on_step(&mut self, step: &Step, skip_book: bool, out: &mut Vec<String>) -> bool {
        let ts = step.time_ms;
        if let Some(t) = &step.trade {
            for (_, raw) in self
                .trades
                .range((step.symbol.clone(), String::new())..)
                .take_while(|(s, _)| *s == step.symbol)
            {
                let side = if t.taker_buys { "Buy" } else { "Sell" };
                out.push(json!({"topic": format!("publicTrade.{raw}"), "type": "snapshot", "ts": ts,
                    "data": [{"T": ts, "s": raw, "S": side, "v": t.quantity.to_string(), "p": t.price.to_string(),
                    "L": "PlusTick", "i": t.id.to_string(), "BT": false}]}).to_string());
            }
        }
        for (_, raw) in self
            .bbo
            .range((step.symbol.clone(), String::new())..)
            .take_while(|(s, _)| *s == step.symbol)
        {
            out.push(
                json!({"topic": format!("orderbook.1.{raw}"), "type": "snapshot", "ts": ts,
                "data": {"s": raw, "b": pairs(&[step.best_bid]), "a": pairs(&[step.best_ask]),
                "u": step.last_update_id, "seq": step.last_update_id}, "cts": ts})
                .to_string(),
            );
        }
        let mut skipped = false;
        if let Some(book) = self.books.get_mut(&step.symbol)
            && step.last_update_id > book.at
        {
            book.at = step.last_update_id;
            book.u += 1;
            book.book.apply_delta(&step.bids, &step.asks);
            if std::mem::take(&mut self.reset_next) {
                book.u = 1;
                let bids: Vec<Level> = book.book.bids().collect();
                let asks: Vec<Level> = book.book.asks().collect();
                out.push(
                    json!({"topic": book.topic, "type": "delta", "ts": ts, "data": {"s": book.raw,
                    "b": pairs(&bids), "a": pairs(&asks), "u": 1, "seq": step.last_update_id},
                    "cts": ts})
                    .to_string(),
                );
            } else if skip_book {
                skipped = true;
            } else {
                out.push(json!({"topic": book.topic, "type": "delta", "ts": ts, "data": {"s": book.raw,
                    "b": pairs(&step.bids), "a": pairs(&step.asks), "u": book.u, "seq": step.last_update_id},
                    "cts": ts}).to_string());
            }
        }
        skipped
    }

    fn on_second(&mut self, _out: &mut Vec<String>) {}

    fn reconnect_request(&mut self, _out: &mut Vec<String>) -> Option<CloseFrame> {
        Some(going_away("service restart"))
    }

    fn ping_every(&self) -> Option<Duration> {
        None
    }

    fn reset_sequence(&mut self) {
        self.reset_next = true;
    }
}
