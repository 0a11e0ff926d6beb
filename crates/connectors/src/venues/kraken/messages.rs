//! Kraken spot v2 wire types, borrowed from the frame text. Prices and quantities are JSON numbers and
//! are kept as their raw text, so they become exact decimals
//! (<https://docs.kraken.com/api/docs/websocket-v2/book>).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// Every message: channel data (`{"channel":"book","type":"snapshot","data":[...]}`), heartbeats
/// (`{"channel":"heartbeat"}`) and method responses (`{"method":"subscribe","success":true,...}`).
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    #[serde(default)]
    pub channel: Option<&'a str>,
    #[serde(default, rename = "type")]
    pub kind: Option<&'a str>,
    #[serde(default, borrow)]
    pub data: Option<&'a RawValue>,
    #[serde(default)]
    pub method: Option<&'a str>,
    #[serde(default)]
    pub success: Option<bool>,
    #[serde(default)]
    pub error: Option<Cow<'a, str>>,
}

/// `{"symbol":"MATIC/USD","side":"buy","price":0.5147,"qty":6423.46326,"ord_type":"limit",
/// "trade_id":4665846,"timestamp":"2023-09-25T07:49:37.708706Z"}`; `side` is the taker's side.
#[derive(Debug, Deserialize)]
pub struct TradeMsg<'a> {
    pub symbol: &'a str,
    pub side: &'a str,
    #[serde(borrow)]
    pub price: &'a RawValue,
    #[serde(borrow)]
    pub qty: &'a RawValue,
    #[serde(borrow)]
    pub trade_id: &'a RawValue,
    pub timestamp: &'a str,
}

/// A ticker (subscribed with `event_trigger: "bbo"`): `{"symbol":"ALGO/USD","bid":0.10025,"bid_qty":740.0,
/// "ask":0.10036,"ask_qty":1361.44813783,...}`.
#[derive(Debug, Deserialize)]
pub struct TickerMsg<'a> {
    pub symbol: &'a str,
    #[serde(borrow)]
    pub bid: &'a RawValue,
    #[serde(borrow)]
    pub bid_qty: &'a RawValue,
    #[serde(borrow)]
    pub ask: &'a RawValue,
    #[serde(borrow)]
    pub ask_qty: &'a RawValue,
    #[serde(default)]
    pub timestamp: Option<&'a str>,
}

/// A book snapshot or update: `{"symbol":"MATIC/USD","bids":[{"price":0.5666,"qty":4831.75496356}],
/// "asks":[...],"checksum":2439117997,"timestamp":"2023-10-06T17:35:55.440295Z"}`.
#[derive(Debug, Deserialize)]
pub struct BookMsg<'a> {
    pub symbol: &'a str,
    #[serde(default, borrow)]
    pub bids: Vec<LevelMsg<'a>>,
    #[serde(default, borrow)]
    pub asks: Vec<LevelMsg<'a>>,
    pub checksum: u32,
    #[serde(default)]
    pub timestamp: Option<&'a str>,
}

/// `{"price":0.5666,"qty":4831.75496356}`; `qty` 0 removes the level.
#[derive(Debug, Deserialize)]
pub struct LevelMsg<'a> {
    #[serde(borrow)]
    pub price: &'a RawValue,
    #[serde(borrow)]
    pub qty: &'a RawValue,
}
