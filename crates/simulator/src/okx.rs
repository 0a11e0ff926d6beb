//! The simulator's OKX v5 public protocol: `subscribe` / `unsubscribe` answered per argument, `trades`,
//! `bbo-tbt` and `books` (a snapshot with `prevSeqId` -1, then updates whose `prevSeqId` is the
//! previous update's `seqId`), the text `ping` / `pong`, and `checksum` 0 as OKX now sends it. A book
//! with no update for a second gets OKX's keep-alive update (no levels, `prevSeqId` = `seqId`); a
//! sequence reset fault makes the next update's `seqId` restart below its `prevSeqId`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Serialize, Serializer};
use serde_json::json;
use tickstream_model::{Decimal, Level};
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;

use super::market::Step;
use super::{Protocol, Shared, going_away, wire};
use crate::symbols::okx_inst;

/// An OKX channel the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Trades,
    Bbo,
}

/// A `books` subscription: its instId, the market update id it is at, what is subtracted from market
/// update ids to give `seqId` (grows at each sequence reset), and whether an update went out since
/// the last second.
#[derive(Debug)]
struct OkxBook {
    inst: String,
    at: u64,
    offset: u64,
    active: bool,
}

impl OkxBook {
    fn seq_id(&self) -> u64 {
        self.at - self.offset
    }
}

/// One connection's subscriptions: streams by (canonical, instId, kind) and books by canonical symbol.
#[derive(Debug, Default)]
pub struct OkxProtocol {
    streams: BTreeSet<(String, String, Kind)>,
    books: BTreeMap<String, OkxBook>,
    reset_next: bool,
}

/// OKX's book levels: `[price, size, "0", orders]`, with one order on a level that is not empty.
struct Levels<'a>(&'a [Level]);

impl Serialize for Levels<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|l| {
            let orders = if l.quantity().is_zero() { "0" } else { "1" };
            (l.price(), l.quantity(), "0", orders)
        }))
    }
}

/// A push's `arg`.
#[derive(Serialize)]
struct Arg<'a> {
    channel: &'static str,
    #[serde(rename = "instId")]
    inst_id: &'a str,
}

/// A push: `arg`, the `action` of a `books` push, and one `data` item.
#[derive(Serialize)]
struct Push<'a, T> {
    arg: Arg<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'static str>,
    data: [T; 1],
}

/// A `trades` item.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Trade<'a> {
    inst_id: &'a str,
    #[serde(serialize_with = "wire::as_text")]
    trade_id: u64,
    px: Decimal,
    sz: Decimal,
    side: &'static str,
    ts: &'a str,
    count: &'static str,
    source: &'static str,
    seq_id: u64,
}

/// A `bbo-tbt` item, or a `books` one (with `checksum` and `prevSeqId`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Book<'a> {
    asks: Levels<'a>,
    bids: Levels<'a>,
    ts: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    checksum: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prev_seq_id: Option<i64>,
    seq_id: u64,
}

fn push<'a, T>(
    channel: &'static str,
    inst_id: &'a str,
    action: Option<&'static str>,
    item: T,
) -> Push<'a, T> {
    Push {
        arg: Arg { channel, inst_id },
        action,
        data: [item],
    }
}

impl OkxProtocol {
    fn on_arg(
        &mut self,
        op: &str,
        arg: &serde_json::Value,
        shared: &Shared,
        out: &mut Vec<String>,
    ) {
        let channel = arg.get("channel").and_then(|c| c.as_str()).unwrap_or("");
        let inst = arg.get("instId").and_then(|c| c.as_str()).unwrap_or("");
        let Some(canonical) = okx_inst(inst) else {
            out.push(json!({"event": "error", "code": "60018", "msg": format!("Wrong URL or channel:{channel},instId:{inst} doesn't exist."), "connId": "sim"}).to_string());
            return;
        };
        let canonical = canonical.as_str().to_owned();
        let kind = match channel {
            "trades" => Some(Kind::Trades),
            "bbo-tbt" => Some(Kind::Bbo),
            "books" => None,
            _ => {
                out.push(json!({"event": "error", "code": "60018", "msg": format!("Wrong URL or channel:{channel} doesn't exist."), "connId": "sim"}).to_string());
                return;
            }
        };
        let key = |kind| (canonical.clone(), inst.to_owned(), kind);
        if op == "unsubscribe" {
            match kind {
                Some(kind) => {
                    self.streams.remove(&key(kind));
                }
                None => {
                    self.books.remove(&canonical);
                }
            }
            out.push(json!({"event": "unsubscribe", "arg": arg, "connId": "sim"}).to_string());
            return;
        }
        out.push(json!({"event": "subscribe", "arg": arg, "connId": "sim"}).to_string());
        match kind {
            Some(kind) => {
                shared.with_market(&canonical, |_| ());
                self.streams.insert(key(kind));
            }
            None => {
                let (at, bids, asks) = shared.with_market(&canonical, |m| {
                    let (bids, asks) = m.book();
                    (m.update_id(), bids, asks)
                });
                let ts = (tickstream_model::UnixNanos::now().0 / 1_000_000).to_string();
                let item = Book {
                    asks: Levels(&asks),
                    bids: Levels(&bids),
                    ts: &ts,
                    checksum: Some(0),
                    prev_seq_id: Some(-1),
                    seq_id: at,
                };
                out.push(wire::frame(&push("books", inst, Some("snapshot"), item)));
                let book = OkxBook {
                    inst: inst.to_owned(),
                    at,
                    offset: 0,
                    active: true,
                };
                self.books.insert(canonical, book);
            }
        }
    }
}

impl Protocol for OkxProtocol {
    fn on_client_text(&mut self, text: &str, shared: &Shared, out: &mut Vec<String>) {
        if text == "ping" {
            out.push("pong".to_owned());
            return;
        }
        let Ok(request) = serde_json::from_str::<serde_json::Value>(text) else {
            out.push(json!({"event": "error", "code": "60012", "msg": format!("Invalid request: {text}"), "connId": "sim"}).to_string());
            return;
        };
        let op = request.get("op").and_then(|o| o.as_str()).unwrap_or("");
        if op != "subscribe" && op != "unsubscribe" {
            out.push(json!({"event": "error", "code": "60012", "msg": format!("Invalid request: {text}"), "connId": "sim"}).to_string());
            return;
        }
        let args = request
            .get("args")
            .and_then(|a| a.as_array())
            .cloned()
            .unwrap_or_default();
        for arg in &args {
            self.on_arg(op, arg, shared, out);
        }
    }

    fn on_step(&mut self, step: &Step, skip_book: bool, out: &mut Vec<String>) -> bool {
        let ts = step.time_ms.to_string();
        for (_, inst, kind) in self
            .streams
            .range((step.symbol.clone(), String::new(), Kind::Trades)..)
            .take_while(|(s, _, _)| *s == step.symbol)
        {
            match kind {
                Kind::Trades => {
                    let Some(t) = &step.trade else { continue };
                    let side = if t.taker_buys { "buy" } else { "sell" };
                    let item = Trade {
                        inst_id: inst,
                        trade_id: t.id,
                        px: t.price,
                        sz: t.quantity,
                        side,
                        ts: &ts,
                        count: "1",
                        source: "0",
                        seq_id: step.last_update_id,
                    };
                    out.push(wire::frame(&push("trades", inst, None, item)));
                }
                Kind::Bbo => {
                    let item = Book {
                        asks: Levels(&[step.best_ask]),
                        bids: Levels(&[step.best_bid]),
                        ts: &ts,
                        checksum: None,
                        prev_seq_id: None,
                        seq_id: step.last_update_id,
                    };
                    out.push(wire::frame(&push("bbo-tbt", inst, None, item)));
                }
            }
        }
        let mut skipped = false;
        if let Some(book) = self.books.get_mut(&step.symbol)
            && step.last_update_id > book.at
        {
            // Each market step follows the previous one: its first update id - 1 is the last seqId.
            let prev = step.first_update_id - 1 - book.offset;
            book.at = step.last_update_id;
            if std::mem::take(&mut self.reset_next) {
                book.offset = book.at - 1;
            }
            book.active = true;
            if skip_book {
                skipped = true;
            } else {
                let item = Book {
                    asks: Levels(&step.asks),
                    bids: Levels(&step.bids),
                    ts: &ts,
                    checksum: Some(0),
                    prev_seq_id: i64::try_from(prev).ok(),
                    seq_id: book.seq_id(),
                };
                out.push(wire::frame(&push(
                    "books",
                    &book.inst,
                    Some("update"),
                    item,
                )));
            }
        }
        skipped
    }

    fn on_second(&mut self, out: &mut Vec<String>) {
        let ts = (tickstream_model::UnixNanos::now().0 / 1_000_000).to_string();
        for book in self.books.values_mut() {
            if !std::mem::take(&mut book.active) {
                let seq = book.seq_id();
                let item = Book {
                    asks: Levels(&[]),
                    bids: Levels(&[]),
                    ts: &ts,
                    checksum: Some(0),
                    prev_seq_id: i64::try_from(seq).ok(),
                    seq_id: seq,
                };
                out.push(wire::frame(&push(
                    "books",
                    &book.inst,
                    Some("update"),
                    item,
                )));
            }
        }
    }

    fn reset_sequence(&mut self) {
        self.reset_next = true;
    }

    fn reconnect_request(&mut self, out: &mut Vec<String>) -> Option<CloseFrame> {
        out.push(json!({"event": "notice", "code": "64008", "msg": "The connection will soon be closed for a service upgrade. Please reconnect.", "connId": "sim"}).to_string());
        Some(going_away("service upgrade"))
    }

    fn ping_every(&self) -> Option<Duration> {
        None
    }
}
