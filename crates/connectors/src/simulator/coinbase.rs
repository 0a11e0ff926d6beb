//! The simulator's Coinbase protocols: Advanced Trade (`subscribe` per channel, `subscriptions` answers,
//! `market_trades`, `ticker`, `l2_data` snapshot then updates, `heartbeats`, one `sequence_num` per
//! connection) and the Exchange feed (`matches`, `ticker`, `level2_batch` snapshot then `l2update`s,
//! `heartbeat` per product), and Advanced Trade's public product list (`GET
//! /api/v3/brokerage/market/products`) for the products asked for.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};
use tickstream_model::{Level, UnixNanos};
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;

use super::market::Step;
use super::{Protocol, Shared, going_away};

fn rfc3339(time_ms: i64) -> String {
    UnixNanos::from_millis(time_ms)
        .unwrap_or_default()
        .to_rfc3339()
}

fn now_ms() -> i64 {
    crate::runner::now().0 / 1_000_000
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
    fn envelope(&mut self, channel: &str, time_ms: i64, events: Value) -> String {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        json!({"channel": channel, "client_id": "", "timestamp": rfc3339(time_ms), "sequence_num": sequence, "events": events})
            .to_string()
    }

    fn subscribed(&self, channel: &str, product: &str) -> bool {
        self.channels
            .get(channel)
            .is_some_and(|p| p.contains(product))
    }
}

fn l2_updates(bids: &[Level], asks: &[Level], time_ms: i64) -> Vec<Value> {
    let side = |name: &'static str, levels: &[Level]| -> Vec<Value> {
        levels
            .iter()
            .map(|l| json!({"side": name, "event_time": rfc3339(time_ms), "price_level": l.price().to_string(), "new_quantity": l.quantity().to_string()}))
            .collect()
    };
    let mut all = side("bid", bids);
    all.extend(side("offer", asks));
    all
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
        let ack = self.envelope(
            "subscriptions",
            time_ms,
            json!([{"subscriptions": listing}]),
        );
        out.push(ack);
        if channel == "level2" {
            for product in products {
                let (update_id, (bids, asks)) =
                    shared.with_market(&product, |m| (m.update_id(), m.book()));
                self.snapshot_at.insert(product.clone(), update_id);
                let events = json!([{"type": "snapshot", "product_id": product, "updates": l2_updates(&bids, &asks, time_ms)}]);
                let frame = self.envelope("l2_data", time_ms, events);
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
        let mut skipped = false;
        if let Some(t) = step
            .trade
            .as_ref()
            .filter(|_| self.subscribed("market_trades", product))
        {
            let trade = json!({"trade_id": t.id.to_string(), "product_id": product, "price": t.price.to_string(),
                "size": t.quantity.to_string(), "side": maker_side(t.taker_buys).to_ascii_uppercase(), "time": rfc3339(step.time_ms)});
            let frame = self.envelope(
                "market_trades",
                step.time_ms,
                json!([{"type": "update", "trades": [trade]}]),
            );
            out.push(frame);
        }
        if let Some(t) = step
            .trade
            .as_ref()
            .filter(|_| self.subscribed("ticker", product))
        {
            let ticker = json!({"type": "ticker", "product_id": product, "price": t.price.to_string(),
                "best_bid": step.best_bid.price().to_string(), "best_bid_quantity": step.best_bid.quantity().to_string(),
                "best_ask": step.best_ask.price().to_string(), "best_ask_quantity": step.best_ask.quantity().to_string()});
            let frame = self.envelope(
                "ticker",
                step.time_ms,
                json!([{"type": "update", "tickers": [ticker]}]),
            );
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
                let events = json!([{"type": "update", "product_id": product, "updates": l2_updates(&step.bids, &step.asks, step.time_ms)}]);
                let frame = self.envelope("l2_data", step.time_ms, events);
                out.push(frame);
            }
        }
        skipped
    }

    fn on_second(&mut self, out: &mut Vec<String>) {
        if self.heartbeats {
            self.heartbeat_counter += 1;
            let time_ms = now_ms();
            let events = json!([{"current_time": rfc3339(time_ms), "heartbeat_counter": self.heartbeat_counter.to_string()}]);
            let frame = self.envelope("heartbeats", time_ms, events);
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

fn changes(bids: &[Level], asks: &[Level]) -> Vec<[String; 3]> {
    let side = |name: &str, l: &Level| {
        [
            name.to_owned(),
            l.price().to_string(),
            l.quantity().to_string(),
        ]
    };
    bids.iter()
        .map(|l| side("buy", l))
        .chain(asks.iter().map(|l| side("sell", l)))
        .collect()
}

fn pairs(levels: &[Level]) -> Vec<[String; 2]> {
    levels
        .iter()
        .map(|l| [l.price().to_string(), l.quantity().to_string()])
        .collect()
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
                out.push(json!({"type": "snapshot", "product_id": product, "bids": pairs(&bids), "asks": pairs(&asks)}).to_string());
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
                out.push(json!({"type": "match", "trade_id": t.id, "sequence": self.sequence,
                    "maker_order_id": format!("00000000-0000-4000-8000-{:012x}", t.id * 2),
                    "taker_order_id": format!("00000000-0000-4000-8000-{:012x}", t.id * 2 + 1),
                    "time": time, "product_id": product, "size": t.quantity.to_string(), "price": t.price.to_string(),
                    "side": maker_side(t.taker_buys)}).to_string());
            }
            if self.wants("ticker", product) {
                out.push(json!({"type": "ticker", "sequence": self.sequence, "product_id": product, "price": t.price.to_string(),
                    "best_bid": step.best_bid.price().to_string(), "best_bid_size": step.best_bid.quantity().to_string(),
                    "best_ask": step.best_ask.price().to_string(), "best_ask_size": step.best_ask.quantity().to_string(),
                    "side": if t.taker_buys { "buy" } else { "sell" }, "time": time, "trade_id": t.id,
                    "last_size": t.quantity.to_string()}).to_string());
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
            out.push(json!({"type": "l2update", "product_id": product, "time": time, "changes": changes(&step.bids, &step.asks)}).to_string());
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
