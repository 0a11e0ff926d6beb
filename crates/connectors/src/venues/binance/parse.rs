//! Pure parse functions for Binance spot frames: classification of a frame, trades, aggregated trades,
//! book tickers, depth updates and the REST depth snapshot, and the documented symbol fallback.

use std::sync::Arc;

use tickstream_model::{AggressorSide, Exchange, Level, Quote, Symbol, Trade, UnixNanos};

use super::messages::{
    AggTradeMsg, BookTickerMsg, Combined, DepthSnapshotMsg, DepthUpdateMsg, ResponseMsg,
    ServerShutdownMsg, TradeMsg,
};
use crate::fields::{levels, millis, peek_string_field, quote, trade};
use crate::{ParseError, RejectReason};

/// Quote assets Binance lists, longest first where one ends another (`FDUSD` before `USD`). When no
/// instrument metadata is at hand, a venue symbol splits at the first of these it ends with:
/// `BTCUSDT` → `BTC-USDT`, `ETHBTC` → `ETH-BTC`.
pub const QUOTE_SUFFIXES: [&str; 30] = [
    "FDUSD", "USDT", "USDC", "TUSD", "BUSD", "USDP", "BIDR", "IDRT", "AEUR", "DAI", "EUR", "GBP",
    "TRY", "BRL", "AUD", "JPY", "UAH", "RUB", "ZAR", "PLN", "RON", "ARS", "MXN", "COP", "CZK",
    "USD", "BTC", "ETH", "BNB", "XRP",
];

/// Maps a Binance symbol (any case) to a canonical spot symbol by its quote-asset suffix.
pub fn symbol_from_suffix(raw: &str) -> Option<Symbol> {
    let upper = raw.to_ascii_uppercase();
    if !upper.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    QUOTE_SUFFIXES.iter().find_map(|quote| {
        let base = upper.strip_suffix(quote)?;
        (!base.is_empty()).then(|| Symbol::spot(base, quote))
    })
}

/// A Binance frame, classified without parsing it twice.
#[derive(Debug)]
pub enum Frame<'a> {
    Trade(TradeMsg<'a>),
    AggTrade(AggTradeMsg<'a>),
    BookTicker(BookTickerMsg<'a>),
    Depth(DepthUpdateMsg<'a>),
    ServerShutdown(ServerShutdownMsg),
    Response(ResponseMsg<'a>),
}

fn typed<'a, T: serde::Deserialize<'a>>(text: &'a str) -> Result<T, ParseError> {
    serde_json::from_str(text).map_err(ParseError::json)
}

/// Classifies a frame from a raw stream (`/ws/...`) or a combined stream (`/stream`, wrapped as
/// `{"stream":...,"data":...}`).
pub fn classify(frame: &str) -> Result<Frame<'_>, ParseError> {
    let body = frame.trim_start();
    // Payloads never carry a "stream" key: its presence marks the combined-stream wrapper.
    if body.contains("\"stream\"") {
        // Binance writes `{"stream":"<name>","data":<payload>}`: take the payload without a first pass.
        if let Some((stream, data)) = split_combined(body)
            && let Ok(frame) = classify_stream(stream, data)
        {
            return Ok(frame);
        }
        let combined: Combined<'_> = typed(body)?;
        return classify_stream(combined.stream, combined.data.get());
    }
    match peek_event_type(body) {
        Some("trade") => typed(body).map(Frame::Trade),
        Some("aggTrade") => typed(body).map(Frame::AggTrade),
        Some("depthUpdate") => typed(body).map(Frame::Depth),
        Some("serverShutdown") => typed(body).map(Frame::ServerShutdown),
        Some(other) => Err(ParseError::unknown_message("event type", other)),
        None if body.contains("\"result\"") || body.contains("\"code\"") => {
            typed(body).map(Frame::Response)
        }
        // A book ticker is the one payload without an event type.
        None => typed(body).map(Frame::BookTicker),
    }
}

/// The stream name and payload text of a wrapper written in Binance's key order, without parsing it.
fn split_combined(body: &str) -> Option<(&str, &str)> {
    let rest = body.strip_prefix("{\"stream\":\"")?;
    let end = rest.find('"')?;
    let data = rest[end + 1..].strip_prefix(",\"data\":")?;
    Some((&rest[..end], data.trim_end().strip_suffix('}')?))
}

fn classify_stream<'a>(stream: &str, data: &'a str) -> Result<Frame<'a>, ParseError> {
    let kind = stream.split_once('@').map_or(stream, |(_, kind)| kind);
    match kind {
        "trade" => typed(data).map(Frame::Trade),
        "aggTrade" => typed(data).map(Frame::AggTrade),
        "bookTicker" => typed(data).map(Frame::BookTicker),
        "depth" | "depth@100ms" | "depth@1000ms" => typed(data).map(Frame::Depth),
        _ if stream == "!serverShutdown" => typed(data).map(Frame::ServerShutdown),
        _ => Err(ParseError::unknown_message("stream", stream)),
    }
}

fn peek_event_type(body: &str) -> Option<&str> {
    peek_string_field(body, "\"e\"")
}

fn side(buyer_is_maker: bool) -> AggressorSide {
    if buyer_is_maker {
        AggressorSide::Sell
    } else {
        AggressorSide::Buy
    }
}

/// A `trade` event as a normalized trade.
pub fn parse_trade(
    msg: &TradeMsg<'_>,
    symbol: (Symbol, Arc<str>),
    ts_recv: UnixNanos,
) -> Result<Trade, ParseError> {
    trade(
        Exchange::Binance,
        symbol,
        (millis(msg.trade_time)?, ts_recv),
        msg.trade_id.to_string(),
        [msg.price, msg.quantity],
        Ok(side(msg.buyer_is_maker)),
    )
}

/// An `aggTrade` event as a normalized trade; the trade id is the aggregate id.
pub fn parse_agg_trade(
    msg: &AggTradeMsg<'_>,
    symbol: (Symbol, Arc<str>),
    ts_recv: UnixNanos,
) -> Result<Trade, ParseError> {
    trade(
        Exchange::Binance,
        symbol,
        (millis(msg.trade_time)?, ts_recv),
        msg.agg_id.to_string(),
        [msg.price, msg.quantity],
        Ok(side(msg.buyer_is_maker)),
    )
}

/// A `bookTicker` event as a quote. The stream carries no event time, so `ts_event` is `ts_recv`.
pub fn parse_book_ticker(
    msg: &BookTickerMsg<'_>,
    symbol: (Symbol, Arc<str>),
    ts_recv: UnixNanos,
) -> Result<Quote, ParseError> {
    quote(
        Exchange::Binance,
        symbol,
        (ts_recv, ts_recv),
        [msg.bid_price, msg.bid_qty],
        [msg.ask_price, msg.ask_qty],
    )
}

/// A depth update with its levels checked and owned, ready to buffer or apply.
#[derive(Debug, Clone, PartialEq)]
pub struct DepthUpdate {
    pub ts_event: UnixNanos,
    pub first_update_id: u64,
    pub final_update_id: u64,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
}

pub fn parse_depth_update(msg: &DepthUpdateMsg<'_>) -> Result<DepthUpdate, ParseError> {
    if msg.first_update_id > msg.final_update_id {
        return Err(ParseError::new(
            RejectReason::ParseError,
            format!(
                "first update id {} after final {}",
                msg.first_update_id, msg.final_update_id
            ),
        ));
    }
    Ok(DepthUpdate {
        ts_event: millis(msg.event_time)?,
        first_update_id: msg.first_update_id,
        final_update_id: msg.final_update_id,
        bids: levels(&msg.bids)?,
        asks: levels(&msg.asks)?,
    })
}

/// The REST depth snapshot with its levels checked.
#[derive(Debug, Clone, PartialEq)]
pub struct DepthSnapshot {
    pub last_update_id: u64,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
}

pub fn parse_depth_snapshot(body: &str) -> Result<DepthSnapshot, ParseError> {
    let msg: DepthSnapshotMsg<'_> = typed(body)?;
    Ok(DepthSnapshot {
        last_update_id: msg.last_update_id,
        bids: levels(&msg.bids)?,
        asks: levels(&msg.asks)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_suffix_fallback() {
        assert_eq!(symbol_from_suffix("BTCUSDT").unwrap().as_str(), "BTC-USDT");
        assert_eq!(
            symbol_from_suffix("btcfdusd").unwrap().as_str(),
            "BTC-FDUSD"
        );
        assert_eq!(symbol_from_suffix("ETHBTC").unwrap().as_str(), "ETH-BTC");
        assert_eq!(symbol_from_suffix("BNBEUR").unwrap().as_str(), "BNB-EUR");
        assert_eq!(symbol_from_suffix("USDT"), None);
        assert_eq!(symbol_from_suffix("BTC-USDT"), None);
        assert_eq!(symbol_from_suffix("FOOBAR"), None);
    }
}
