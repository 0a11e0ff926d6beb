//! The simulator's Bybit v5 public protocol on the spot and linear endpoints: `subscribe` /
//! `unsubscribe` answered per request, `publicTrade`, `orderbook.1` (a snapshot each step) and
//! `orderbook.50` / `orderbook.200` (a snapshot, then deltas whose `u` grows by one), and the pong for
//! `{"op":"ping"}`. A sequence reset fault makes the next book message a delta with `u = 1` carrying the
//! whole book, as Bybit sends after a restart of its service.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use tickstream_model::{Decimal, Level};
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;

use super::market::Step;
use super::{Protocol, Shared, going_away, wire};
use crate::book::PublishedBook;
use crate::symbols::{joined_perpetual, joined_spot};

/// Which of Bybit's public endpoints a connection is on: `spot` or `linear` (USDT and USDC
/// perpetuals), which name the same symbol text (`BTCUSDT`) for different instruments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Spot,
    Linear,
}

/// A book topic of one symbol: its topic name, venue symbol, update id `u`, market update id and the
/// book as published.
#[derive(Debug)]
struct BookTopic {
    topic: String,
    raw: String,
    u: u64,
    at: u64,
    book: PublishedBook,
}

/// One connection's subscriptions, by canonical symbol.
#[derive(Debug)]
pub struct BybitProtocol {
    category: Category,
    trades: BTreeSet<(String, String)>,
    bbo: BTreeSet<(String, String)>,
    books: BTreeMap<String, BookTopic>,
    reset_next: bool,
}

impl BybitProtocol {
    pub fn new(category: Category) -> BybitProtocol {
        BybitProtocol {
            category,
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
        let canonical = match self.category {
            Category::Spot => joined_spot(raw),
            Category::Linear => joined_perpetual(raw),
        };
        let Some(canonical) = canonical else {
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
                let ts = tickstream_model::UnixNanos::now().0 / 1_000_000;
                let data = Book {
                    s: raw,
                    b: &bids,
                    a: &asks,
                    u: at,
                    seq: at,
                };
                out.push(wire::frame(&BookPush {
                    topic,
                    kind: "snapshot",
                    ts,
                    data,
                    cts: ts,
                }));
                let book = PublishedBook::from_levels(&bids, &asks);
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

/// A `publicTrade.<symbol>` push with one trade.
#[derive(Serialize)]
struct TradePush<'a> {
    topic: String,
    #[serde(rename = "type")]
    kind: &'static str,
    ts: i64,
    data: [Trade<'a>; 1],
}

#[derive(Serialize)]
struct Trade<'a> {
    #[serde(rename = "T")]
    time_ms: i64,
    s: &'a str,
    #[serde(rename = "S")]
    side: &'static str,
    v: Decimal,
    p: Decimal,
    #[serde(rename = "L")]
    tick_direction: &'static str,
    #[serde(serialize_with = "wire::as_text")]
    i: u64,
    #[serde(rename = "BT")]
    block_trade: bool,
}

/// An `orderbook.<depth>.<symbol>` push: a snapshot or a delta.
#[derive(Serialize)]
struct BookPush<'a> {
    topic: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    ts: i64,
    data: Book<'a>,
    cts: i64,
}

#[derive(Serialize)]
struct Book<'a> {
    s: &'a str,
    b: &'a [Level],
    a: &'a [Level],
    u: u64,
    seq: u64,
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
                let trade = Trade {
                    time_ms: ts,
                    s: raw,
                    side,
                    v: t.quantity,
                    p: t.price,
                    tick_direction: "PlusTick",
                    i: t.id,
                    block_trade: false,
                };
                let topic = format!("publicTrade.{raw}");
                out.push(wire::frame(&TradePush {
                    topic,
                    kind: "snapshot",
                    ts,
                    data: [trade],
                }));
            }
        }
        for (_, raw) in self
            .bbo
            .range((step.symbol.clone(), String::new())..)
            .take_while(|(s, _)| *s == step.symbol)
        {
            let data = Book {
                s: raw,
                b: &[step.best_bid],
                a: &[step.best_ask],
                u: step.last_update_id,
                seq: step.last_update_id,
            };
            let topic = format!("orderbook.1.{raw}");
            out.push(wire::frame(&BookPush {
                topic: &topic,
                kind: "snapshot",
                ts,
                data,
                cts: ts,
            }));
        }
        let mut skipped = false;
        if let Some(book) = self.books.get_mut(&step.symbol)
            && step.last_update_id > book.at
        {
            book.at = step.last_update_id;
            book.u += 1;
            book.book.apply(&step.bids, &step.asks);
            // After a sequence reset the delta carries the whole book, with `u` back at 1.
            let reset = std::mem::take(&mut self.reset_next);
            let whole: (Vec<Level>, Vec<Level>);
            let (b, a) = if reset {
                book.u = 1;
                whole = (book.book.bids().collect(), book.book.asks().collect());
                (&whole.0[..], &whole.1[..])
            } else {
                (&step.bids[..], &step.asks[..])
            };
            if skip_book && !reset {
                skipped = true;
            } else {
                let data = Book {
                    s: &book.raw,
                    b,
                    a,
                    u: book.u,
                    seq: step.last_update_id,
                };
                out.push(wire::frame(&BookPush {
                    topic: &book.topic,
                    kind: "delta",
                    ts,
                    data,
                    cts: ts,
                }));
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
