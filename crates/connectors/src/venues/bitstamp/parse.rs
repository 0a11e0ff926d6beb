//! Pure parse functions for Bitstamp v2: trades, top-of-book quotes and book messages.

use std::sync::Arc;

use tickstream_model::{AggressorSide, Exchange, Level, Quote, Symbol, Trade, UnixNanos};

use super::messages::{BookMsg, TradeMsg};
use crate::fields::{level, level_quote, levels, micros_value, raw_text, trade};
use crate::{ParseError, RejectReason};

/// The documented trade `type`: 0 is a buy, 1 a sell (the taker's side).
pub fn trade_side(kind: u8) -> Result<AggressorSide, ParseError> {
    match kind {
        0 => Ok(AggressorSide::Buy),
        1 => Ok(AggressorSide::Sell),
        other => Err(ParseError::new(
            RejectReason::ParseError,
            format!("unknown trade type {other}"),
        )),
    }
}

/// A `live_trades` event; price and amount come from the exact `price_str` / `amount_str`.
pub fn parse_trade(
    msg: &TradeMsg<'_>,
    symbol: (Symbol, Arc<str>),
    ts_recv: UnixNanos,
) -> Result<Trade, ParseError> {
    trade(
        Exchange::Bitstamp,
        symbol,
        (micros_value(msg.microtimestamp)?, ts_recv),
        raw_text(msg.id).to_owned(),
        [msg.price_str, msg.amount_str],
        trade_side(msg.kind),
    )
}

/// A book message with its levels checked and its `microtimestamp`, the key deltas are joined by.
#[derive(Debug, Clone, PartialEq)]
pub struct BookData {
    pub micros: i64,
    pub ts_event: UnixNanos,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
}

pub fn parse_book(msg: &BookMsg<'_>) -> Result<BookData, ParseError> {
    let ts_event = micros_value(msg.microtimestamp)?;
    Ok(BookData {
        micros: ts_event.as_i64() / 1_000,
        ts_event,
        bids: levels(&msg.bids)?,
        asks: levels(&msg.asks)?,
    })
}

/// The REST order book body.
pub fn parse_snapshot(body: &str) -> Result<BookData, ParseError> {
    let msg: BookMsg<'_> = serde_json::from_str(body).map_err(ParseError::json)?;
    parse_book(&msg)
}

/// The top of an `order_book` message as a quote; `None` when a side is empty.
pub fn parse_top_of_book(
    msg: &BookMsg<'_>,
    symbol: (Symbol, Arc<str>),
    ts_recv: UnixNanos,
) -> Result<Option<Quote>, ParseError> {
    let (Some([bid_p, bid_q]), Some([ask_p, ask_q])) = (msg.bids.first(), msg.asks.first()) else {
        return Ok(None);
    };
    let bid = level(bid_p, bid_q)?;
    let ask = level(ask_p, ask_q)?;
    let ts = (micros_value(msg.microtimestamp)?, ts_recv);
    Ok(Some(level_quote(Exchange::Bitstamp, symbol, ts, bid, ask)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trade_types_are_taker_sides() {
        assert_eq!(trade_side(0).unwrap(), AggressorSide::Buy);
        assert_eq!(trade_side(1).unwrap(), AggressorSide::Sell);
        assert!(trade_side(2).is_err());
    }
}
