//! The simulator's Binance spot protocol: combined-stream `SUBSCRIBE` with `{"result":null,"id":N}`
//! answers, `trade` / `aggTrade` / `bookTicker` / `depth@100ms` frames wrapped as
//! `{"stream":...,"data":...}`, server pings every 20 s, `serverShutdown`, and the REST depth snapshot.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use tickstream_model::Level;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;

use super::market::Step;
use super::{Protocol, Shared, going_away};
use crate::binance::parse::symbol_from_suffix;

/// A Binance stream the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Trade,
    AggTrade,
    BookTicker,
    Depth,
}

/// One connection's subscriptions: (canonical symbol, venue symbol lower case, stream kind).
#[derive(Debug, Default)]
pub struct BinanceProtocol {
    streams: BTreeSet<(String, String, Kind)>,
}

fn pairs(levels: &[Level]) -> Vec<[String; 2]> {
    levels
        .iter()
        .map(|l| [l.price().to_string(), l.quantity().to_string()])
        .collect()
}

fn raw_symbol(canonical: &str) -> String {
    canonical.replace('-', "")
}

/// The body of `GET <base>/api/v3/depth?symbol=BTCUSDT&limit=N`, or `None` for another path or symbol.
pub fn rest_response(target: &str, shared: &Shared) -> Option<String> {
    let (path, query) = target.split_once('?')?;
    if !path.ends_with("/api/v3/depth") {
        return None;
    }
    let mut symbol = None;
    let mut limit = 5000usize;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("symbol", v)) => symbol = Some(v.to_owned()),
            Some(("limit", v)) => limit = v.parse().unwrap_or(5000),
            _ => {}
        }
    }
    let canonical = symbol_from_suffix(&symbol?)?;
    let (last_update_id, bids, asks) = shared.with_market(canonical.as_str(), |m| {
        let (bids, asks) = m.book();
        (m.update_id(), bids, asks)
    });
    let bids: Vec<Level> = bids.into_iter().take(limit).collect();
    let asks: Vec<Level> = asks.into_iter().take(limit).collect();
    Some(
        json!({"lastUpdateId": last_update_id, "bids": pairs(&bids), "asks": pairs(&asks)})
            .to_string(),
    )
}

impl Protocol for BinanceProtocol {
    fn on_client_text(&mut self, text: &str, shared: &Shared, out: &mut Vec<String>) {
        let Ok(request) = serde_json::from_str::<serde_json::Value>(text) else {
            out.push(
                json!({"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"})
                    .to_string(),
            );
            return;
        };
        let id = request
            .get("id")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        if request.get("method").and_then(|m| m.as_str()) != Some("SUBSCRIBE") {
            out.push(
                json!({"code": 2, "msg": "Invalid request: unknown variant", "id": id}).to_string(),
            );
            return;
        }
        let params = request
            .get("params")
            .and_then(|p| p.as_array())
            .cloned()
            .unwrap_or_default();
        for param in params.iter().filter_map(|p| p.as_str()) {
            let Some((symbol, kind)) = param.split_once('@') else {
                continue;
            };
            let kind = match kind {
                "trade" => Kind::Trade,
                "aggTrade" => Kind::AggTrade,
                "bookTicker" => Kind::BookTicker,
                "depth" | "depth@100ms" => Kind::Depth,
                _ => continue,
            };
            let Some(canonical) = symbol_from_suffix(symbol) else {
                continue;
            };
            shared.with_market(canonical.as_str(), |_| ());
            self.streams.insert((
                canonical.as_str().to_owned(),
                symbol.to_ascii_lowercase(),
                kind,
            ));
        }
        out.push(json!({"result": null, "id": id}).to_string());
    }

    fn on_step(&mut self, step: &Step, skip_book: bool, out: &mut Vec<String>) -> bool {
        let mut skipped = false;
        let upper = raw_symbol(&step.symbol);
        for (_, lower, kind) in self
            .streams
            .range((step.symbol.clone(), String::new(), Kind::Trade)..)
            .take_while(|(s, _, _)| *s == step.symbol)
        {
            let (stream, data) = match kind {
                Kind::Trade => {
                    let Some(t) = &step.trade else { continue };
                    let data = json!({"e": "trade", "E": step.time_ms, "s": upper, "t": t.id, "p": t.price.to_string(),
                        "q": t.quantity.to_string(), "T": step.time_ms, "m": !t.taker_buys, "M": true});
                    ("trade", data)
                }
                Kind::AggTrade => {
                    let Some(t) = &step.trade else { continue };
                    let data = json!({"e": "aggTrade", "E": step.time_ms, "s": upper, "a": t.id, "p": t.price.to_string(),
                        "q": t.quantity.to_string(), "f": t.id, "l": t.id, "T": step.time_ms, "m": !t.taker_buys, "M": true});
                    ("aggTrade", data)
                }
                Kind::BookTicker => {
                    let data = json!({"u": step.last_update_id, "s": upper,
                        "b": step.best_bid.price().to_string(), "B": step.best_bid.quantity().to_string(),
                        "a": step.best_ask.price().to_string(), "A": step.best_ask.quantity().to_string()});
                    ("bookTicker", data)
                }
                Kind::Depth => {
                    if skip_book {
                        skipped = true;
                        continue;
                    }
                    let data = json!({"e": "depthUpdate", "E": step.time_ms, "s": upper, "U": step.first_update_id,
                        "u": step.last_update_id, "b": pairs(&step.bids), "a": pairs(&step.asks)});
                    ("depth@100ms", data)
                }
            };
            // Binance writes the stream name first.
            out.push(format!(
                "{{\"stream\":\"{lower}@{stream}\",\"data\":{data}}}"
            ));
        }
        skipped
    }

    fn on_second(&mut self, _out: &mut Vec<String>) {}

    fn reconnect_request(&mut self, out: &mut Vec<String>) -> Option<CloseFrame> {
        let time_ms = crate::runner::now().0 / 1_000_000;
        out.push(
            json!({"stream": "!serverShutdown", "data": {"e": "serverShutdown", "E": time_ms}})
                .to_string(),
        );
        Some(going_away("server shutdown"))
    }

    fn ping_every(&self) -> Option<Duration> {
        Some(Duration::from_secs(20))
    }
}
