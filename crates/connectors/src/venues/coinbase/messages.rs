//! Coinbase Advanced Trade wire types, borrowed from the frame text. Field names follow the venue
//! (<https://docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/websocket/websocket-channels>).

use serde::Deserialize;

/// An error answer: `{"type":"error","message":"..."}`.
#[derive(Debug, Deserialize)]
pub struct ErrorMsg<'a> {
    #[serde(default, rename = "type", borrow)]
    pub kind: Option<&'a str>,
    #[serde(default, borrow)]
    pub message: Option<std::borrow::Cow<'a, str>>,
}

/// Every market data message, `{"channel":"l2_data","client_id":"","timestamp":"...","sequence_num":0,
/// "events":[...]}`, with the events of its channel typed so that it is parsed in one pass.
#[derive(Debug, Deserialize)]
pub struct Message<'a, E> {
    #[serde(default, borrow)]
    pub timestamp: Option<&'a str>,
    #[serde(default)]
    pub sequence_num: Option<u64>,
    #[serde(default = "Vec::new")]
    pub events: Vec<E>,
}

/// A `market_trades` event: `{"type":"snapshot","trades":[...]}`.
#[derive(Debug, Deserialize)]
pub struct MarketTradesEvent<'a> {
    #[serde(borrow)]
    pub trades: Vec<MarketTrade<'a>>,
}

/// `{"trade_id":"000000000","product_id":"ETH-USD","price":"1260.01","size":"0.3","side":"BUY",
/// "time":"2019-08-14T20:42:27.265Z"}`; `side` is the maker's side.
#[derive(Debug, Deserialize)]
pub struct MarketTrade<'a> {
    pub trade_id: &'a str,
    pub product_id: &'a str,
    pub price: &'a str,
    pub size: &'a str,
    pub side: &'a str,
    pub time: &'a str,
}

/// A `ticker` event: `{"type":"snapshot","tickers":[...]}`.
#[derive(Debug, Deserialize)]
pub struct TickerEvent<'a> {
    #[serde(borrow)]
    pub tickers: Vec<Ticker<'a>>,
}

/// One ticker; the best bid and ask are present on `ticker` (not on `ticker_batch`).
#[derive(Debug, Deserialize)]
pub struct Ticker<'a> {
    pub product_id: &'a str,
    #[serde(default)]
    pub best_bid: Option<&'a str>,
    #[serde(default)]
    pub best_bid_quantity: Option<&'a str>,
    #[serde(default)]
    pub best_ask: Option<&'a str>,
    #[serde(default)]
    pub best_ask_quantity: Option<&'a str>,
}

/// An `l2_data` event: `{"type":"snapshot"|"update","product_id":"BTC-USD","updates":[...]}`.
#[derive(Debug, Deserialize)]
pub struct L2Event<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub product_id: &'a str,
    #[serde(borrow)]
    pub updates: Vec<L2Level<'a>>,
}

/// `{"side":"bid","event_time":"1970-01-01T00:00:00Z","price_level":"21921.73","new_quantity":"0.06317902"}`;
/// `new_quantity` is the level's new size, `"0"` removes it.
#[derive(Debug, Deserialize)]
pub struct L2Level<'a> {
    pub side: &'a str,
    #[serde(default)]
    pub event_time: Option<&'a str>,
    pub price_level: &'a str,
    pub new_quantity: &'a str,
}
