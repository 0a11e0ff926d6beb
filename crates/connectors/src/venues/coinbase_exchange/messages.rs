//! Coinbase Exchange feed wire types, borrowed from the frame text
//! (<https://docs.cdp.coinbase.com/exchange/websocket-feed/channels>).

use serde::Deserialize;

/// `match` / `last_match`: `{"type":"match","trade_id":10,"sequence":50,"maker_order_id":"...",
/// "taker_order_id":"...","time":"2014-11-07T08:19:27.028459Z","product_id":"BTC-USD","size":"5.23512",
/// "price":"400.23","side":"sell"}`; `side` is the maker order's side.
#[derive(Debug, Deserialize)]
pub struct MatchMsg<'a> {
    pub trade_id: u64,
    pub time: &'a str,
    pub product_id: &'a str,
    pub size: &'a str,
    pub price: &'a str,
    pub side: &'a str,
}

/// `ticker`, with the best bid and ask and their sizes.
#[derive(Debug, Deserialize)]
pub struct TickerMsg<'a> {
    pub product_id: &'a str,
    #[serde(default)]
    pub time: Option<&'a str>,
    #[serde(default)]
    pub best_bid: Option<&'a str>,
    #[serde(default)]
    pub best_bid_size: Option<&'a str>,
    #[serde(default)]
    pub best_ask: Option<&'a str>,
    #[serde(default)]
    pub best_ask_size: Option<&'a str>,
}

/// `snapshot`: `{"type":"snapshot","product_id":"BTC-USD","bids":[["10101.10","0.45054140"]],"asks":[...]}`.
#[derive(Debug, Deserialize)]
pub struct SnapshotMsg<'a> {
    pub product_id: &'a str,
    #[serde(borrow)]
    pub bids: Vec<[&'a str; 2]>,
    #[serde(borrow)]
    pub asks: Vec<[&'a str; 2]>,
}

/// `l2update`: `{"type":"l2update","product_id":"BTC-USD","time":"...","changes":[["buy","10101.80000000","0.162567"]]}`.
#[derive(Debug, Deserialize)]
pub struct L2UpdateMsg<'a> {
    pub product_id: &'a str,
    #[serde(default)]
    pub time: Option<&'a str>,
    #[serde(borrow)]
    pub changes: Vec<[&'a str; 3]>,
}

/// `error`: `{"type":"error","message":"...","reason":"..."}`.
#[derive(Debug, Deserialize)]
pub struct ErrorMsg<'a> {
    #[serde(default, borrow)]
    pub message: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    pub reason: Option<std::borrow::Cow<'a, str>>,
}
