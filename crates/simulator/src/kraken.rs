//! The simulator's Kraken spot v2 protocol: `subscribe` / `unsubscribe` with one acknowledgement per
//! pair, `trade`, `ticker` (BBO) and `book` with Kraken's CRC32 checksum over the top ten levels,
//! prices and quantities as JSON numbers, `heartbeat` every second and `pong` for `ping`. A corrupted
//! checksum fault adds one to the checksum of the next book message (an update, or a snapshot when a
//! subscription comes first).

use std::collections::BTreeMap;
use std::fmt::{self, Write};
use std::time::Duration;

use serde_json::json;
use tickstream_model::{Level, UnixNanos};
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;

use super::market::Step;
use super::{Protocol, Shared, going_away};
use crate::book::PublishedBook;
use crate::symbols::kraken_pair;

/// Levels on each side the checksum covers, whatever the subscribed depth.
const CHECKSUM_LEVELS: usize = 10;

/// A pair's book as this connection last published it.
#[derive(Debug)]
struct PairBook {
    pair: String,
    depth: usize,
    book: PublishedBook,
    /// The market update id the book is at; older steps are ignored.
    at: u64,
    /// The top `depth` levels last published, best first.
    top: (Vec<Level>, Vec<Level>),
}

impl PairBook {
    fn top(&self) -> (Vec<Level>, Vec<Level>) {
        (
            self.book.bids().take(self.depth).collect(),
            self.book.asks().take(self.depth).collect(),
        )
    }
}

/// One connection's subscriptions, by canonical symbol.
#[derive(Debug, Default)]
pub struct KrakenProtocol {
    trades: BTreeMap<String, String>,
    tickers: BTreeMap<String, String>,
    books: BTreeMap<String, PairBook>,
    corrupt_next: bool,
    scratch: String,
}

/// Kraken's levels, `[{"price":1.5,"qty":2}]`, with the numbers as JSON numbers.
struct LevelsJson<'a>(&'a [Level]);

impl fmt::Display for LevelsJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('[')?;
        for (i, l) in self.0.iter().enumerate() {
            let comma = if i == 0 { "" } else { "," };
            write!(
                f,
                "{comma}{{\"price\":{},\"qty\":{}}}",
                l.price(),
                l.quantity()
            )?;
        }
        f.write_char(']')
    }
}

fn book_frame(
    kind: &str,
    pair: &str,
    levels: (&[Level], &[Level]),
    checksum: u32,
    ts: &str,
) -> String {
    format!(
        "{{\"channel\":\"book\",\"type\":\"{kind}\",\"data\":[{{\"symbol\":\"{pair}\",\"bids\":{},\"asks\":{},\"checksum\":{checksum},\"timestamp\":\"{ts}\"}}]}}",
        LevelsJson(levels.0),
        LevelsJson(levels.1)
    )
}

/// Kraken's v2 book checksum as its book checksum guide describes it: for the top ten asks, lowest
/// first, then the top ten bids, highest first, the price and then the quantity as published, each with
/// the decimal point and the leading zeros removed, all concatenated; the CRC32 of that text.
fn book_checksum(book: &PublishedBook, text: &mut String) -> u32 {
    text.clear();
    let asks = book.asks().take(CHECKSUM_LEVELS);
    for level in asks.chain(book.bids().take(CHECKSUM_LEVELS)) {
        for value in [level.price(), level.quantity()] {
            let published = value.to_string().replace('.', "");
            text.push_str(published.trim_start_matches('0'));
        }
    }
    crc32fast::hash(text.as_bytes())
}

fn rfc3339(time_ms: i64) -> String {
    UnixNanos::from_millis(time_ms)
        .unwrap_or_default()
        .to_rfc3339()
}

/// The levels that turn the published top `old` into `new` on a client that truncates to the depth:
/// every new or changed level of `new`, and a zero for each level of `old` the book no longer holds.
fn changes(old: &[Level], new: &[Level], book_has: impl Fn(&Level) -> bool) -> Vec<Level> {
    let mut out: Vec<Level> = new.iter().filter(|l| !old.contains(l)).copied().collect();
    for level in old {
        if !book_has(level) {
            out.push(Level(level.price(), tickstream_model::Decimal::ZERO));
        }
    }
    out
}

impl KrakenProtocol {
    fn subscribe(&mut self, params: &serde_json::Value, shared: &Shared, out: &mut Vec<String>) {
        let channel = params.get("channel").and_then(|c| c.as_str()).unwrap_or("");
        let depth = params.get("depth").and_then(|d| d.as_u64()).unwrap_or(10);
        let pairs = params
            .get("symbol")
            .and_then(|s| s.as_array())
            .cloned()
            .unwrap_or_default();
        for pair in pairs.iter().filter_map(|p| p.as_str()) {
            let Some(canonical) = kraken_pair(pair) else {
                out.push(json!({"method": "subscribe", "success": false, "error": format!("Currency pair not supported {pair}")}).to_string());
                continue;
            };
            let canonical = canonical.as_str().to_owned();
            let mut result = json!({"channel": channel, "symbol": pair});
            match channel {
                "trade" => {
                    self.trades.insert(canonical.clone(), pair.to_owned());
                }
                "ticker" => {
                    self.tickers.insert(canonical.clone(), pair.to_owned());
                    result["event_trigger"] = json!("bbo");
                }
                "book" => {
                    result["depth"] = json!(depth);
                    result["snapshot"] = json!(true);
                }
                _ => {
                    out.push(json!({"method": "subscribe", "success": false, "error": "Channel not supported"}).to_string());
                    continue;
                }
            }
            shared.with_market(&canonical, |_| ());
            out.push(json!({"method": "subscribe", "result": result, "success": true}).to_string());
            if channel == "book" {
                let (at, bids, asks) = shared.with_market(&canonical, |m| {
                    let (bids, asks) = m.book();
                    (m.update_id(), bids, asks)
                });
                let mut book = PairBook {
                    pair: pair.to_owned(),
                    depth: usize::try_from(depth).unwrap_or(10),
                    book: PublishedBook::from_levels(&bids, &asks),
                    at,
                    top: (Vec::new(), Vec::new()),
                };
                book.top = book.top();
                let mut checksum = book_checksum(&book.book, &mut self.scratch);
                if std::mem::take(&mut self.corrupt_next) {
                    checksum = checksum.wrapping_add(1);
                }
                let ts = rfc3339(UnixNanos::now().0 / 1_000_000);
                out.push(book_frame(
                    "snapshot",
                    pair,
                    (&book.top.0, &book.top.1),
                    checksum,
                    &ts,
                ));
                self.books.insert(canonical, book);
            }
        }
    }

    fn unsubscribe(&mut self, params: &serde_json::Value, out: &mut Vec<String>) {
        let channel = params.get("channel").and_then(|c| c.as_str()).unwrap_or("");
        let pairs = params
            .get("symbol")
            .and_then(|s| s.as_array())
            .cloned()
            .unwrap_or_default();
        for pair in pairs.iter().filter_map(|p| p.as_str()) {
            let Some(canonical) = kraken_pair(pair) else {
                continue;
            };
            let map = match channel {
                "trade" => &mut self.trades,
                "ticker" => &mut self.tickers,
                _ => {
                    self.books.remove(canonical.as_str());
                    out.push(json!({"method": "unsubscribe", "result": {"channel": channel, "symbol": pair}, "success": true}).to_string());
                    continue;
                }
            };
            map.remove(canonical.as_str());
            out.push(json!({"method": "unsubscribe", "result": {"channel": channel, "symbol": pair}, "success": true}).to_string());
        }
    }
}

impl Protocol for KrakenProtocol {
    fn on_client_text(&mut self, text: &str, shared: &Shared, out: &mut Vec<String>) {
        let Ok(request) = serde_json::from_str::<serde_json::Value>(text) else {
            out.push(json!({"error": "Malformed request", "success": false}).to_string());
            return;
        };
        let params = request.get("params").cloned().unwrap_or_default();
        match request.get("method").and_then(|m| m.as_str()) {
            Some("ping") => {
                let now = rfc3339(UnixNanos::now().0 / 1_000_000);
                out.push(json!({"method": "pong", "time_in": now, "time_out": now}).to_string());
            }
            Some("subscribe") => self.subscribe(&params, shared, out),
            Some("unsubscribe") => self.unsubscribe(&params, out),
            _ => out.push(json!({"error": "Method not found", "success": false}).to_string()),
        }
    }

    fn on_step(&mut self, step: &Step, skip_book: bool, out: &mut Vec<String>) -> bool {
        let ts = rfc3339(step.time_ms);
        if let (Some(pair), Some(t)) = (self.trades.get(&step.symbol), &step.trade) {
            let side = if t.taker_buys { "buy" } else { "sell" };
            out.push(format!(
                "{{\"channel\":\"trade\",\"type\":\"update\",\"data\":[{{\"symbol\":\"{pair}\",\"side\":\"{side}\",\"price\":{},\"qty\":{},\"ord_type\":\"market\",\"trade_id\":{},\"timestamp\":\"{ts}\"}}]}}",
                t.price, t.quantity, t.id
            ));
        }
        if let Some(pair) = self.tickers.get(&step.symbol) {
            let (b, a) = (step.best_bid, step.best_ask);
            out.push(format!(
                "{{\"channel\":\"ticker\",\"type\":\"update\",\"data\":[{{\"symbol\":\"{pair}\",\"bid\":{},\"bid_qty\":{},\"ask\":{},\"ask_qty\":{},\"timestamp\":\"{ts}\"}}]}}",
                b.price(), b.quantity(), a.price(), a.quantity()
            ));
        }
        let mut skipped = false;
        if let Some(pb) = self.books.get_mut(&step.symbol)
            && step.last_update_id > pb.at
        {
            pb.at = step.last_update_id;
            pb.book.apply(&step.bids, &step.asks);
            let top = pb.top();
            let bids = changes(&pb.top.0, &top.0, |l| pb.book.has(true, l.price()));
            let asks = changes(&pb.top.1, &top.1, |l| pb.book.has(false, l.price()));
            pb.top = top;
            if skip_book {
                skipped = true;
            } else if !bids.is_empty() || !asks.is_empty() {
                let mut checksum = book_checksum(&pb.book, &mut self.scratch);
                if std::mem::take(&mut self.corrupt_next) {
                    checksum = checksum.wrapping_add(1);
                }
                out.push(book_frame(
                    "update",
                    &pb.pair,
                    (&bids, &asks),
                    checksum,
                    &ts,
                ));
            }
        }
        skipped
    }

    fn on_second(&mut self, out: &mut Vec<String>) {
        out.push("{\"channel\":\"heartbeat\"}".to_owned());
    }

    fn reconnect_request(&mut self, _out: &mut Vec<String>) -> Option<CloseFrame> {
        Some(going_away("maintenance"))
    }

    fn ping_every(&self) -> Option<Duration> {
        None
    }

    fn corrupt_checksum(&mut self) {
        self.corrupt_next = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_text_follows_the_guide() {
        let level = |p: &str, q: &str| Level(p.parse().unwrap(), q.parse().unwrap());
        // The guide's example level: "45285.2" → "452852", "0.00100000" → "100000".
        let book = PublishedBook::from_levels(
            &[level("45283.5", "0.10000000")],
            &[level("45285.2", "0.00100000")],
        );
        let mut text = String::new();
        let checksum = book_checksum(&book, &mut text);
        assert_eq!(text, "45285210000045283510000000");
        assert_eq!(checksum, crc32fast::hash(text.as_bytes()));
    }
}
