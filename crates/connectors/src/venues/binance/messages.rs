//! Binance spot wire types, borrowed from the frame text. Field names follow the venue
//! (<https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams>).

use serde::Deserialize;
use serde_json::value::RawValue;

/// The combined-stream wrapper: `{"stream":"btcusdt@trade","data":{...}}`.
#[derive(Debug, Deserialize)]
pub struct Combined<'a> {
    pub stream: &'a str,
    #[serde(borrow)]
    pub data: &'a RawValue,
}

/// `<symbol>@trade`: `{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100",
/// "T":1672515782136,"m":true,"M":true}`.
#[derive(Debug, Deserialize)]
pub struct TradeMsg<'a> {
    #[serde(rename = "s")]
    pub symbol: &'a str,
    #[serde(rename = "t")]
    pub trade_id: u64,
    #[serde(rename = "p")]
    pub price: &'a str,
    #[serde(rename = "q")]
    pub quantity: &'a str,
    #[serde(rename = "T")]
    pub trade_time: i64,
    /// Is the buyer the market maker? Then the seller took liquidity.
    #[serde(rename = "m")]
    pub buyer_is_maker: bool,
}

/// `<symbol>@aggTrade`: `{"e":"aggTrade","E":1672515782136,"s":"BNBBTC","a":12345,"p":"0.001",
/// "q":"100","f":100,"l":105,"T":1672515782136,"m":true,"M":true}`.
#[derive(Debug, Deserialize)]
pub struct AggTradeMsg<'a> {
    #[serde(rename = "s")]
    pub symbol: &'a str,
    #[serde(rename = "a")]
    pub agg_id: u64,
    #[serde(rename = "p")]
    pub price: &'a str,
    #[serde(rename = "q")]
    pub quantity: &'a str,
    #[serde(rename = "T")]
    pub trade_time: i64,
    #[serde(rename = "m")]
    pub buyer_is_maker: bool,
}

/// `<symbol>@bookTicker`: `{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000",
/// "a":"25.36520000","A":"40.66000000"}` (no event time).
#[derive(Debug, Deserialize)]
pub struct BookTickerMsg<'a> {
    #[serde(rename = "u")]
    pub update_id: u64,
    #[serde(rename = "s")]
    pub symbol: &'a str,
    #[serde(rename = "b")]
    pub bid_price: &'a str,
    #[serde(rename = "B")]
    pub bid_qty: &'a str,
    #[serde(rename = "a")]
    pub ask_price: &'a str,
    #[serde(rename = "A")]
    pub ask_qty: &'a str,
}

/// `<symbol>@depth@100ms`: `{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,
/// "b":[["0.0024","10"]],"a":[["0.0026","100"]]}`.
#[derive(Debug, Deserialize)]
pub struct DepthUpdateMsg<'a> {
    #[serde(rename = "E")]
    pub event_time: i64,
    #[serde(rename = "s")]
    pub symbol: &'a str,
    #[serde(rename = "U")]
    pub first_update_id: u64,
    #[serde(rename = "u")]
    pub final_update_id: u64,
    #[serde(rename = "b", borrow)]
    pub bids: Vec<[&'a str; 2]>,
    #[serde(rename = "a", borrow)]
    pub asks: Vec<[&'a str; 2]>,
}

/// The REST snapshot `GET /api/v3/depth`: `{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],
/// "asks":[["4.00000200","12.00000000"]]}`.
#[derive(Debug, Deserialize)]
pub struct DepthSnapshotMsg<'a> {
    #[serde(rename = "lastUpdateId")]
    pub last_update_id: u64,
    #[serde(borrow)]
    pub bids: Vec<[&'a str; 2]>,
    #[serde(borrow)]
    pub asks: Vec<[&'a str; 2]>,
}

/// `{"e":"serverShutdown","E":1770123456789}`: the server is about to close the connection.
#[derive(Debug, Deserialize)]
pub struct ServerShutdownMsg {
    #[serde(rename = "E")]
    pub event_time: i64,
}

/// The answer to a request: `{"result":null,"id":1}` or `{"code":2,"msg":"Invalid request: ...","id":1}`.
#[derive(Debug, Deserialize)]
pub struct ResponseMsg<'a> {
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default, borrow)]
    pub msg: Option<std::borrow::Cow<'a, str>>,
}
