//! Bitstamp v2 wire types, borrowed from the frame text. Field names follow the venue
//! (<https://www.bitstamp.net/websocket/v2/>).

use serde::Deserialize;
use serde_json::value::RawValue;

/// Every message: `{"event":"trade","channel":"live_trades_btcusd","data":{...}}`, and the control events
/// `bts:subscription_succeeded`, `bts:request_reconnect`, `bts:heartbeat`, `bts:error`.
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    pub event: &'a str,
    #[serde(default)]
    pub channel: &'a str,
    #[serde(default, borrow)]
    pub data: Option<&'a RawValue>,
}

/// `live_trades_<pair>`: `{"microtimestamp":"1580336751488517","amount":0.00598803,"buy_order_id":4621328909,
/// "sell_order_id":4621329035,"amount_str":"0.00598803","price_str":"9334.73","timestamp":"1580336751",
/// "price":9334.73,"type":1,"id":104007706}`; `type` 0 is a buy, 1 a sell.
#[derive(Debug, Deserialize)]
pub struct TradeMsg<'a> {
    #[serde(borrow)]
    pub id: &'a RawValue,
    pub amount_str: &'a str,
    pub price_str: &'a str,
    #[serde(rename = "type")]
    pub kind: u8,
    #[serde(borrow)]
    pub microtimestamp: &'a RawValue,
}

/// `order_book_<pair>` and `diff_order_book_<pair>` data, and the REST `/api/v2/order_book/<pair>/`
/// body: `{"timestamp":"1580336904","microtimestamp":"1580336904228758","bids":[["9317.09","2.67910000"]],
/// "asks":[...]}`; in a diff, amount `"0.00000000"` removes the level.
#[derive(Debug, Deserialize)]
pub struct BookMsg<'a> {
    #[serde(borrow)]
    pub microtimestamp: &'a RawValue,
    #[serde(default, borrow)]
    pub bids: Vec<[&'a str; 2]>,
    #[serde(default, borrow)]
    pub asks: Vec<[&'a str; 2]>,
}
