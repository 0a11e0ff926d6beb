//! Bybit v5 public wire types, borrowed from the frame text. Field names follow the venue
//! (<https://bybit-exchange.github.io/docs/v5/websocket/public/orderbook>).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// Topic data (`{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1672304484978,"data":{...}}`) and
/// operation answers (`{"success":true,"ret_msg":"","op":"subscribe",...}`).
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    #[serde(default)]
    pub topic: Option<&'a str>,
    #[serde(default, rename = "type")]
    pub kind: Option<&'a str>,
    #[serde(default, borrow)]
    pub ts: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub data: Option<&'a RawValue>,
    #[serde(default)]
    pub op: Option<&'a str>,
    #[serde(default)]
    pub success: Option<bool>,
    #[serde(default)]
    pub ret_msg: Option<Cow<'a, str>>,
}

/// `publicTrade`: `{"T":1672304486865,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50","L":"PlusTick",
/// "i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false}`; `S` is the taker's side.
#[derive(Debug, Deserialize)]
pub struct TradeMsg<'a> {
    #[serde(rename = "T", borrow)]
    pub time: &'a RawValue,
    #[serde(rename = "s")]
    pub symbol: &'a str,
    #[serde(rename = "S")]
    pub side: &'a str,
    #[serde(rename = "v")]
    pub size: &'a str,
    #[serde(rename = "p")]
    pub price: &'a str,
    #[serde(rename = "i")]
    pub trade_id: &'a str,
}

/// `orderbook.{depth}`: `{"s":"BTCUSDT","b":[["16493.50","0.006"]],"a":[["16611.00","0.029"]],
/// "u":18521288,"seq":7961638724}`; size `"0"` removes a level.
#[derive(Debug, Deserialize)]
pub struct BookMsg<'a> {
    #[serde(rename = "s")]
    pub symbol: &'a str,
    #[serde(rename = "b", default, borrow)]
    pub bids: Vec<[&'a str; 2]>,
    #[serde(rename = "a", default, borrow)]
    pub asks: Vec<[&'a str; 2]>,
    #[serde(rename = "u")]
    pub update_id: u64,
}
