//! The simulator's Binance spot protocol: combined-stream `SUBSCRIBE` with `{"result":null,"id":N}`
//! answers, `trade` / `aggTrade` / `bookTicker` / `depth@100ms` frames wrapped as
//! `{"stream":...,"data":...}`, server pings every 20 s, `serverShutdown`, and the REST depth snapshot and `exchangeInfo`.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use tickstream_model::{Decimal, Level};
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;

use super::market::Step;
use super::{Protocol, Shared, going_away, wire};
use crate::symbols::joined_spot;

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

/// A combined-stream frame; Binance writes the stream name first.
#[derive(Serialize)]
struct Combined<T> {
    stream: String,
    data: T,
}

/// A `<symbol>@trade` event (with `t`) or a `<symbol>@aggTrade` one (with `a`, `f` and `l`).
#[derive(Serialize)]
struct Trade<'a> {
    e: &'static str,
    #[serde(rename = "E")]
    event_ms: i64,
    s: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    t: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    a: Option<u64>,
    p: Decimal,
    q: Decimal,
    #[serde(skip_serializing_if = "Option::is_none")]
    f: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    l: Option<u64>,
    #[serde(rename = "T")]
    trade_ms: i64,
    m: bool,
    #[serde(rename = "M")]
    best_match: bool,
}

/// A `<symbol>@bookTicker` event.
#[derive(Serialize)]
struct BookTicker<'a> {
    u: u64,
    s: &'a str,
    b: Decimal,
    #[serde(rename = "B")]
    bid_qty: Decimal,
    a: Decimal,
    #[serde(rename = "A")]
    ask_qty: Decimal,
}

/// A `<symbol>@depth@100ms` event.
#[derive(Serialize)]
struct DepthUpdate<'a> {
    e: &'static str,
    #[serde(rename = "E")]
    event_ms: i64,
    s: &'a str,
    #[serde(rename = "U")]
    first_id: u64,
    u: u64,
    b: &'a [Level],
    a: &'a [Level],
}

fn raw_symbol(canonical: &str) -> String {
    canonical.replace('-', "")
}

/// The body of `GET <base>/api/v3/depth?symbol=BTCUSDT&limit=N` or of
/// `GET <base>/api/v3/exchangeInfo?symbols=["BTCUSDT",...]`, or `None` for another path or an unknown
/// symbol.
pub fn rest_response(target: &str, shared: &Shared) -> Option<String> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path.ends_with("/api/v3/exchangeInfo") {
        return exchange_info(query, shared);
    }
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
    let canonical = joined_spot(&symbol?)?;
    let (last_update_id, bids, asks) = shared.with_market(canonical.as_str(), |m| {
        let (bids, asks) = m.book();
        (m.update_id(), bids, asks)
    });
    let bids: Vec<Level> = bids.into_iter().take(limit).collect();
    let asks: Vec<Level> = asks.into_iter().take(limit).collect();
    Some(json!({"lastUpdateId": last_update_id, "bids": &bids, "asks": &asks}).to_string())
}

/// Decodes the `%XX` escapes of a query value (`%5B%22BTCUSDT%22%5D` → `["BTCUSDT"]`).
fn percent_decoded(text: &str) -> Option<String> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// A symbol of an `exchangeInfo` answer: the fields the simulated market can fill truthfully, its
/// assets, that it trades, and its price and quantity steps as `PRICE_FILTER` and `LOT_SIZE`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SymbolInfo {
    symbol: String,
    status: &'static str,
    base_asset: String,
    quote_asset: String,
    filters: [serde_json::Value; 2],
}

/// `exchangeInfo` for `symbol=BTCUSDT` or `symbols=["BTCUSDT","ETHBTC"]` (URL-encoded), or for every
/// market the simulator has when neither is given; `None` when a symbol is not one it can read.
fn exchange_info(query: &str, shared: &Shared) -> Option<String> {
    let mut raw_symbols = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("symbol", value)) => raw_symbols.push(percent_decoded(value)?),
            Some(("symbols", value)) => {
                let list: Vec<String> = serde_json::from_str(&percent_decoded(value)?).ok()?;
                raw_symbols.extend(list);
            }
            _ => {}
        }
    }
    if raw_symbols.is_empty() {
        raw_symbols = shared
            .market_symbols()
            .iter()
            .map(|s| raw_symbol(s))
            .collect();
    }
    let step = |kind: &str, field: &str, value: Decimal| json!({"filterType": kind, field: value.to_string()});
    let mut symbols = Vec::new();
    for raw in raw_symbols {
        let canonical = joined_spot(&raw)?;
        shared.with_market(canonical.as_str(), |_| ());
        symbols.push(SymbolInfo {
            symbol: raw.to_ascii_uppercase(),
            status: "TRADING",
            base_asset: canonical.base().to_owned(),
            quote_asset: canonical.quote().to_owned(),
            filters: [
                step("PRICE_FILTER", "tickSize", super::market::price(1)),
                step("LOT_SIZE", "stepSize", super::market::quantity(1)),
            ],
        });
    }
    let server_time = tickstream_model::UnixNanos::now().0 / 1_000_000;
    Some(json!({"timezone": "UTC", "serverTime": server_time, "exchangeFilters": [], "symbols": symbols}).to_string())
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
            let Some(canonical) = joined_spot(symbol) else {
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
        let s = upper.as_str();
        for (_, lower, kind) in self
            .streams
            .range((step.symbol.clone(), String::new(), Kind::Trade)..)
            .take_while(|(s, _, _)| *s == step.symbol)
        {
            let stream = |name: &str| format!("{lower}@{name}");
            let frame = match kind {
                Kind::Trade | Kind::AggTrade => {
                    let Some(t) = &step.trade else { continue };
                    let agg = *kind == Kind::AggTrade;
                    let (one, agg_id) = (Some(t.id).filter(|_| !agg), Some(t.id).filter(|_| agg));
                    let name = if agg { "aggTrade" } else { "trade" };
                    let data = Trade {
                        e: name,
                        event_ms: step.time_ms,
                        s,
                        t: one,
                        a: agg_id,
                        p: t.price,
                        q: t.quantity,
                        f: agg_id,
                        l: agg_id,
                        trade_ms: step.time_ms,
                        m: !t.taker_buys,
                        best_match: true,
                    };
                    wire::frame(&Combined {
                        stream: stream(name),
                        data,
                    })
                }
                Kind::BookTicker => {
                    let (b, a) = (step.best_bid, step.best_ask);
                    let data = BookTicker {
                        u: step.last_update_id,
                        s,
                        b: b.price(),
                        bid_qty: b.quantity(),
                        a: a.price(),
                        ask_qty: a.quantity(),
                    };
                    wire::frame(&Combined {
                        stream: stream("bookTicker"),
                        data,
                    })
                }
                Kind::Depth => {
                    if skip_book {
                        skipped = true;
                        continue;
                    }
                    let data = DepthUpdate {
                        e: "depthUpdate",
                        event_ms: step.time_ms,
                        s,
                        first_id: step.first_update_id,
                        u: step.last_update_id,
                        b: &step.bids,
                        a: &step.asks,
                    };
                    wire::frame(&Combined {
                        stream: stream("depth@100ms"),
                        data,
                    })
                }
            };
            out.push(frame);
        }
        skipped
    }

    fn on_second(&mut self, _out: &mut Vec<String>) {}

    fn reconnect_request(&mut self, out: &mut Vec<String>) -> Option<CloseFrame> {
        let time_ms = tickstream_model::UnixNanos::now().0 / 1_000_000;
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
