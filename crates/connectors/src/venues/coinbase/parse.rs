//! Pure parse functions for Coinbase Advanced Trade events: market trades, tickers and level2 levels.

use std::sync::Arc;

use tickstream_model::{AggressorSide, Exchange, Level, Quote, Symbol, Trade, UnixNanos};

use super::messages::{L2Level, MarketTrade, Ticker};
use crate::book::Side;
use crate::fields::{level, quote, rfc3339, trade};
use crate::{ParseError, RejectReason};

/// Coinbase products are already canonical (`BTC-USD`).
pub fn product_symbol(product_id: &str) -> Option<Symbol> {
    let (base, quote) = product_id.split_once('-')?;
    let valid = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    (valid(base) && valid(quote)).then(|| Symbol::spot(base, quote))
}

/// The aggressor side from the maker's side (`BUY` / `SELL`, any case).
pub fn aggressor_from_maker(maker_side: &str) -> Result<AggressorSide, ParseError> {
    if maker_side.eq_ignore_ascii_case("buy") {
        Ok(AggressorSide::Sell)
    } else if maker_side.eq_ignore_ascii_case("sell") {
        Ok(AggressorSide::Buy)
    } else {
        Err(ParseError::new(
            RejectReason::ParseError,
            format!("unknown side {maker_side:?}"),
        ))
    }
}

pub fn parse_market_trade(
    msg: &MarketTrade<'_>,
    symbol: (Symbol, Arc<str>),
    ts_recv: UnixNanos,
) -> Result<Trade, ParseError> {
    trade(
        Exchange::Coinbase,
        symbol,
        (rfc3339(msg.time)?, ts_recv),
        msg.trade_id.to_owned(),
        [msg.price, msg.size],
        aggressor_from_maker(msg.side),
    )
}

/// A ticker's best bid and offer; `None` when the ticker carries none (as `ticker_batch` does).
pub fn parse_ticker(
    msg: &Ticker<'_>,
    symbol: (Symbol, Arc<str>),
    ts_event: UnixNanos,
    ts_recv: UnixNanos,
) -> Result<Option<Quote>, ParseError> {
    let (Some(bid), Some(bid_size), Some(ask), Some(ask_size)) = (
        msg.best_bid,
        msg.best_bid_quantity,
        msg.best_ask,
        msg.best_ask_quantity,
    ) else {
        return Ok(None);
    };
    let ts = (ts_event, ts_recv);
    quote(
        Exchange::Coinbase,
        symbol,
        ts,
        [bid, bid_size],
        [ask, ask_size],
    )
    .map(Some)
}

/// Level2 updates split by side (`bid`, `offer`; `ask` and `sell`/`buy` also accepted).
pub fn parse_l2_levels(updates: &[L2Level<'_>]) -> Result<(Vec<Level>, Vec<Level>), ParseError> {
    let mut bids = Vec::new();
    let mut asks = Vec::new();
    for update in updates {
        let level = level(update.price_level, update.new_quantity)?;
        match book_side(update.side)? {
            Side::Bid => bids.push(level),
            Side::Ask => asks.push(level),
        }
    }
    Ok((bids, asks))
}

/// A book side word as Coinbase writes it.
pub fn book_side(side: &str) -> Result<Side, ParseError> {
    match side {
        "bid" | "buy" => Ok(Side::Bid),
        "offer" | "ask" | "sell" => Ok(Side::Ask),
        other => Err(ParseError::new(
            RejectReason::ParseError,
            format!("unknown book side {other:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_and_sides() {
        assert_eq!(product_symbol("BTC-USD").unwrap().as_str(), "BTC-USD");
        assert_eq!(product_symbol("BTCUSD"), None);
        assert_eq!(product_symbol("BTC-"), None);
        assert_eq!(aggressor_from_maker("BUY").unwrap(), AggressorSide::Sell);
        assert_eq!(aggressor_from_maker("sell").unwrap(), AggressorSide::Buy);
        assert!(aggressor_from_maker("UNKNOWN").is_err());
        assert_eq!(book_side("offer").unwrap(), Side::Ask);
        assert!(book_side("middle").is_err());
    }
}
