//! OKX v5 public wire types, borrowed from the frame text. Field names follow the venue
//! (<https://www.okx.com/docs-v5/en/#order-book-trading-market-data-ws-order-book-channel>).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Push data (`{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[...]}`) and
/// request answers (`{"event":"subscribe","arg":{...},"connId":"a4d3ae55"}`, `{"event":"error",...}`).
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    #[serde(default, borrow)]
    pub arg: Option<Arg<'a>>,
    #[serde(default)]
    pub event: Option<&'a str>,
    #[serde(default)]
    pub action: Option<&'a str>,
    #[serde(default, borrow)]
    pub data: Option<&'a RawValue>,
    #[serde(default)]
    pub code: Option<Cow<'a, str>>,
    #[serde(default)]
    pub msg: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
pub struct Arg<'a> {
    pub channel: &'a str,
    #[serde(default, rename = "instId")]
    pub inst_id: Option<&'a str>,
}

/// `trades`: `{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy",
/// "ts":"1630048897897","count":"3","source":"0","seqId":1234}`; `side` is the taker's side.
#[derive(Debug, Deserialize)]
pub struct TradeMsg<'a> {
    #[serde(rename = "instId")]
    pub inst_id: &'a str,
    #[serde(rename = "tradeId")]
    pub trade_id: &'a str,
    pub px: &'a str,
    pub sz: &'a str,
    pub side: &'a str,
    #[serde(borrow)]
    pub ts: &'a RawValue,
}

/// `books` and `bbo-tbt`: `{"asks":[["8476.98","415","0","13"]],"bids":[...],"ts":"1597026383085",
/// "checksum":0,"prevSeqId":-1,"seqId":123456}` (`bbo-tbt` has no `prevSeqId` nor `checksum`).
#[derive(Debug, Deserialize)]
pub struct BookMsg<'a> {
    #[serde(default, borrow)]
    pub asks: Vec<LevelMsg<'a>>,
    #[serde(default, borrow)]
    pub bids: Vec<LevelMsg<'a>>,
    #[serde(borrow)]
    pub ts: &'a RawValue,
    #[serde(default, rename = "seqId")]
    pub seq_id: Option<i64>,
    #[serde(default, rename = "prevSeqId")]
    pub prev_seq_id: Option<i64>,
}

/// `["8476.98","415","0","13"]`: price, size, a deprecated field and the order count; only the first
/// two are read.
#[derive(Debug)]
pub struct LevelMsg<'a> {
    pub price: &'a str,
    pub size: &'a str,
}

impl<'de: 'a, 'a> Deserialize<'de> for LevelMsg<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LevelVisitor;
        impl<'de> Visitor<'de> for LevelVisitor {
            type Value = LevelMsg<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array [price, size, ...]")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let price: &str = seq
                    .next_element()?
                    .ok_or_else(|| serde::de::Error::invalid_length(0, &self))?;
                let size: &str = seq
                    .next_element()?
                    .ok_or_else(|| serde::de::Error::invalid_length(1, &self))?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LevelMsg { price, size })
            }
        }
        deserializer.deserialize_seq(LevelVisitor)
    }
}
