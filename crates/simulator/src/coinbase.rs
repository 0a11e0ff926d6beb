//! The simulator's Coinbase protocols: Advanced Trade (`subscribe` per channel, `subscriptions` answers,
//! `market_trades`, `ticker`, `l2_data` snapshot then updates, `heartbeats`, one `sequence_num` per
//! connection) and the Exchange feed (`matches`, `ticker`, `level2_batch` snapshot then `l2update`s,
//! `heartbeat` per product), and Advanced Trade's public product list (`GET
//! /api/v3/brokerage/market/products`) for the products asked for.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Serialize, Serializer};
use serde_json::{Value, json};
use tickstream_model::{Decimal, Level, UnixNanos};
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;

use super::market::Step;
use super::{Protocol, Shared, going_away, wire};

fn rfc3339(time_ms: i64) -> String {
    UnixNanos::from_millis(time_ms)
        .unwrap_or_default()
        .to_rfc3339()
}

fn now_ms() -> i64 {
    UnixNanos::now().0 / 1_000_000
}

/// The body of `GET <base>/api/v3/brokerage/market/products?product_ids=BTC-USD&...`: each product
/// with its currencies and the simulated market's price and size steps; `None` for another path.
pub fn rest_response(target: &str, shared: &Shared) -> Option<String> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if !path.ends_with("/api/v3/brokerage/market/products") {
        return None;
    }
    let products: Vec<Value> = query
        .split('&')
        .filter_map(|pair| pair.strip_prefix("product_ids="))
        .filter_map(|id| {
            let (base, quote) = id.split_once('-')?;
            shared.with_market(id, |_| ());
            Some(json!({"product_id": id, "base_currency_id": base, "quote_currency_id": quote,
                "product_type": "SPOT", "status": "online", "price_increment": super::market::price(1).to_string(),
                "quote_increment": super::market::price(1).to_string(),
                "base_increment": super::market::quantity(1).to_string()}))
        })
        .collect();
    Some(json!({"num_products": products.len(), "products": products}).to_string())
}

fn products(request: &Value) -> Vec<String> {
    request
        .get("product_ids")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn maker_side(taker_buys: bool) -> &'static str {
    if taker_buys { "sell" } else { "buy" }
}

/// Advanced Trade on one connection.
#[derive(Debug, Default)]
pub struct AdvancedProtocol {
    channels: BTreeMap<String, BTreeSet<String>>,
    heartbeats: bool,
    heartbeat_counter: u64,
    next_sequence: u64,
    /// Per product, the update id of the snapshot sent: older steps are not sent again.
    snapshot_at: BTreeMap<String, u64>,
}

impl AdvancedProtocol {
    fn envelope<T: Serialize>(&mut self, channel: &str, timestamp: &str, events: T) -> String {
        let sequence_num = self.next_sequence;
        self.next_sequence += 1;
        wire::frame(&Envelope {
            channel,
            client_id: "",
            timestamp,
            sequence_num,
            events,
        })
    }

    fn subscribed(&self, channel: &str, product: &str) -> bool {
        self.channels
            .get(channel)
            .is_some_and(|p| p.contains(product))
    }
}

/// An Advanced Trade message: its channel, sequence number and events.
#[derive(Serialize)]
struct Envelope<'a, T> {
    channel: &'a str,
    client_id: &'static str,
    timestamp: &'a str,
    sequence_num: u64,
    events: T,
}

/// An `update` event of `market_trades` (one trade), `ticker` (one ticker) or `l2_data`.
#[derive(Serialize)]
struct Update<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trades: Option<[AdvancedTrade<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tickers: Option<[AdvancedTicker<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updates: Option<L2Updates<'a>>,
}

impl<'a> Update<'a> {
    fn new(kind: &'static str) -> Update<'a> {
        Update {
            kind,
            product_id: None,
            trades: None,
            tickers: None,
            updates: None,
        }
    }
}

#[derive(Serialize)]
struct AdvancedTrade<'a> {
    #[serde(serialize_with = "wire::as_text")]
    trade_id: u64,
    product_id: &'a str,
    price: Decimal,
    size: Decimal,
    side: &'static str,
    time: &'a str,
}

#[derive(Serialize)]
struct AdvancedTicker<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    product_id: &'a str,
    price: Decimal,
    best_bid: Decimal,
    best_bid_quantity: Decimal,
    best_ask: Decimal,
    best_ask_quantity: Decimal,
}

/// An `l2_data` event's `updates`: the bids, then the offers, each stamped `event_time`.
struct L2Updates<'a> {
    bids: &'a [Level],
    asks: &'a [Level],
    event_time: &'a str,
}

#[derive(Serialize)]
struct L2Update<'a> {
    side: &'static str,
    event_time: &'a str,
    price_level: Decimal,
    new_quantity: Decimal,
}

impl<'a> Serialize for L2Updates<'a> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let side = |side: &'static str, levels: &'a [Level]| {
            levels.iter().map(move |l| L2Update {
                side,
                event_time: self.event_time,
                price_level: l.price(),
                new_quantity: l.quantity(),
            })
        };
        serializer.collect_seq(side("bid", self.bids).chain(side("offer", self.asks)))
    }
}

impl Protocol for AdvancedProtocol {
    fn on_client_text(&mut self, text: &str, shared: &Shared, out: &mut Vec<String>) {
        let Ok(request) = serde_json::from_str::<Value>(text) else {
            out.push(
                json!({"type": "error", "message": "failure to parse the request"}).to_string(),
            );
            return;
        };
        let channel = request
            .get("channel")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if request.get("type").and_then(Value::as_str) != Some("subscribe") || channel.is_empty() {
            out.push(
                json!({"type": "error", "message": "expected a subscribe request with a channel"})
                    .to_string(),
            );
            return;
        }
        let time_ms = now_ms();
        if channel == "heartbeats" {
            self.heartbeats = true;
        }
        let products = products(&request);
        self.channels
            .entry(channel.clone())
            .or_default()
            .extend(products.iter().cloned());
        let listing: BTreeMap<&String, Vec<&String>> = self
            .channels
            .iter()
            .map(|(c, p)| (c, p.iter().collect()))
            .collect();
        let now = rfc3339(time_ms);
        let ack = self.envelope("subscriptions", &now, json!([{"subscriptions": listing}]));
        out.push(ack);
        if channel == "level2" {
            for product in products {
                let (update_id, (bids, asks)) =
                    shared.with_market(&product, |m| (m.update_id(), m.book()));
                self.snapshot_at.insert(product.clone(), update_id);
                let updates = L2Updates {
                    bids: &bids,
                    asks: &asks,
                    event_time: &now,
                };
                let snapshot = Update {
                    product_id: Some(&product),
                    updates: Some(updates),
                    ..Update::new("snapshot")
                };
                let frame = self.envelope("l2_data", &now, [snapshot]);
                out.push(frame);
            }
        } else {
            for product in &products {
                shared.with_market(product, |_| ());
            }
        }
    }

    fn on_step(&mut self, step: &Step, skip_book: bool, out: &mut Vec<String>) -> bool {
        let product = step.symbol.as_str();
        if !self
            .channels
            .values()
            .any(|products| products.contains(product))
        {
            return false;
        }
        let mut skipped = false;
        let time = rfc3339(step.time_ms);
        if let Some(t) = step
            .trade
            .as_ref()
            .filter(|_| self.subscribed("market_trades", product))
        {
            let side = if t.taker_buys { "SELL" } else { "BUY" };
            let trade = AdvancedTrade {
                trade_id: t.id,
                product_id: product,
                price: t.price,
                size: t.quantity,
                side,
                time: &time,
            };
            let update = Update {
                trades: Some([trade]),
                ..Update::new("update")
            };
            let frame = self.envelope("market_trades", &time, [update]);
            out.push(frame);
        }
        if let Some(t) = step
            .trade
            .as_ref()
            .filter(|_| self.subscribed("ticker", product))
        {
            let (b, a) = (step.best_bid, step.best_ask);
            let ticker = AdvancedTicker {
                kind: "ticker",
                product_id: product,
                price: t.price,
                best_bid: b.price(),
                best_bid_quantity: b.quantity(),
                best_ask: a.price(),
                best_ask_quantity: a.quantity(),
            };
            let update = Update {
                tickers: Some([ticker]),
                ..Update::new("update")
            };
            let frame = self.envelope("ticker", &time, [update]);
            out.push(frame);
        }
        let after_snapshot = self
            .snapshot_at
            .get(product)
            .is_some_and(|at| step.first_update_id > *at);
        if self.subscribed("level2", product) && after_snapshot {
            if skip_book {
                // The message is lost: its sequence number is used, never sent.
                self.next_sequence += 1;
                skipped = true;
            } else {
                let updates = L2Updates {
                    bids: &step.bids,
                    asks: &step.asks,
                    event_time: &time,
                };
                let update = Update {
                    product_id: Some(product),
                    updates: Some(updates),
                    ..Update::new("update")
                };
                let frame = self.envelope("l2_data", &time, [update]);
                out.push(frame);
            }
        }
        skipped
    }

    fn on_second(&mut self, out: &mut Vec<String>) {
        if self.heartbeats {
            self.heartbeat_counter += 1;
            let now = rfc3339(now_ms());
            let events = json!([{"current_time": now, "heartbeat_counter": self.heartbeat_counter.to_string()}]);
            let frame = self.envelope("heartbeats", &now, events);
            out.push(frame);
        }
    }

    fn reconnect_request(&mut self, _out: &mut Vec<String>) -> Option<CloseFrame> {
        Some(going_away("reconnect"))
    }

    fn ping_every(&self) -> Option<Duration> {
        None
    }
}

/// The Exchange feed on one connection.
#[derive(Debug, Default)]
pub struct ExchangeProtocol {
    channels: BTreeSet<String>,
    products: BTreeSet<String>,
    sequence: u64,
    last_trade_id: BTreeMap<String, u64>,
    snapshot_at: BTreeMap<String, u64>,
}

impl ExchangeProtocol {
    fn wants(&self, channel: &str, product: &str) -> bool {
        self.channels.contains(channel) && self.products.contains(product)
    }
}

/// An `l2update`'s `changes`: `["buy", price, size]` for the bids, then `["sell", ...]` for the asks.
struct Changes<'a> {
    bids: &'a [Level],
    asks: &'a [Level],
}

impl<'a> Serialize for Changes<'a> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let side = |name: &'static str, levels: &'a [Level]| {
            levels.iter().map(move |l| (name, l.price(), l.quantity()))
        };
        serializer.collect_seq(side("buy", self.bids).chain(side("sell", self.asks)))
    }
}

/// A `match` message.
#[derive(Serialize)]
struct Match<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    trade_id: u64,
    sequence: u64,
    maker_order_id: String,
    taker_order_id: String,
    time: &'a str,
    product_id: &'a str,
    size: Decimal,
    price: Decimal,
    side: &'static str,
}

/// A `ticker` message.
#[derive(Serialize)]
struct ExchangeTicker<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence: u64,
    product_id: &'a str,
    price: Decimal,
    best_bid: Decimal,
    best_bid_size: Decimal,
    best_ask: Decimal,
    best_ask_size: Decimal,
    side: &'static str,
    time: &'a str,
    trade_id: u64,
    last_size: Decimal,
}

/// An `l2update` message.
#[derive(Serialize)]
struct ExchangeL2Update<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    product_id: &'a str,
    time: &'a str,
    changes: Changes<'a>,
}

impl Protocol for ExchangeProtocol {
    fn on_client_text(&mut self, text: &str, shared: &Shared, out: &mut Vec<String>) {
        let Ok(request) = serde_json::from_str::<Value>(text) else {
            out.push(json!({"type": "error", "message": "Failed to subscribe", "reason": "malformed JSON"}).to_string());
            return;
        };
        if request.get("type").and_then(Value::as_str) != Some("subscribe") {
            out.push(json!({"type": "error", "message": "Failed to subscribe", "reason": "expected type subscribe"}).to_string());
            return;
        }
        let new_channels: Vec<String> = request
            .get("channels")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let new_products = products(&request);
        self.channels.extend(new_channels.iter().cloned());
        self.products.extend(new_products.iter().cloned());
        let listing: Vec<Value> = self
            .channels
            .iter()
            .map(|c| json!({"name": c, "product_ids": self.products.iter().collect::<Vec<_>>()}))
            .collect();
        out.push(json!({"type": "subscriptions", "channels": listing}).to_string());
        let wants_book = self.channels.contains("level2_batch");
        for product in new_products {
            let (update_id, (bids, asks)) =
                shared.with_market(&product, |m| (m.update_id(), m.book()));
            if wants_book {
                self.snapshot_at.insert(product.clone(), update_id);
                out.push(
                    json!({"type": "snapshot", "product_id": product, "bids": bids, "asks": asks})
                        .to_string(),
                );
            }
        }
    }

    fn on_step(&mut self, step: &Step, skip_book: bool, out: &mut Vec<String>) -> bool {
        let product = step.symbol.as_str();
        if !self.products.contains(product) {
            return false;
        }
        let time = rfc3339(step.time_ms);
        if let Some(t) = &step.trade {
            self.sequence += 1;
            self.last_trade_id.insert(product.to_owned(), t.id);
            if self.wants("matches", product) {
                out.push(wire::frame(&Match {
                    kind: "match",
                    trade_id: t.id,
                    sequence: self.sequence,
                    maker_order_id: format!("00000000-0000-4000-8000-{:012x}", t.id * 2),
                    taker_order_id: format!("00000000-0000-4000-8000-{:012x}", t.id * 2 + 1),
                    time: &time,
                    product_id: product,
                    size: t.quantity,
                    price: t.price,
                    side: maker_side(t.taker_buys),
                }));
            }
            if self.wants("ticker", product) {
                let (b, a) = (step.best_bid, step.best_ask);
                out.push(wire::frame(&ExchangeTicker {
                    kind: "ticker",
                    sequence: self.sequence,
                    product_id: product,
                    price: t.price,
                    best_bid: b.price(),
                    best_bid_size: b.quantity(),
                    best_ask: a.price(),
                    best_ask_size: a.quantity(),
                    side: if t.taker_buys { "buy" } else { "sell" },
                    time: &time,
                    trade_id: t.id,
                    last_size: t.quantity,
                }));
            }
        }
        let after_snapshot = self
            .snapshot_at
            .get(product)
            .is_some_and(|at| step.first_update_id > *at);
        if self.wants("level2_batch", product) && after_snapshot {
            if skip_book {
                return true;
            }
            let changes = Changes {
                bids: &step.bids,
                asks: &step.asks,
            };
            out.push(wire::frame(&ExchangeL2Update {
                kind: "l2update",
                product_id: product,
                time: &time,
                changes,
            }));
        }
        false
    }

    fn on_second(&mut self, out: &mut Vec<String>) {
        if !self.channels.contains("heartbeat") {
            return;
        }
        let time = rfc3339(now_ms());
        for product in &self.products {
            let last_trade_id = self.last_trade_id.get(product).copied().unwrap_or_default();
            out.push(json!({"type": "heartbeat", "sequence": self.sequence, "last_trade_id": last_trade_id,
                "product_id": product, "time": time}).to_string());
        }
    }

    fn reconnect_request(&mut self, _out: &mut Vec<String>) -> Option<CloseFrame> {
        Some(going_away("reconnect"))
    }

    fn ping_every(&self) -> Option<Duration> {
        None
    }
}
