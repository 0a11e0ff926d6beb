//! Pure parse functions for OKX v5 public data: instrument ids, trades, the `bbo-tbt` quote and book
//! levels.

use std::sync::Arc;

use tickstream_model::{Exchange, Level, Quote, Symbol, Trade, UnixNanos};

use super::messages::{BookMsg, LevelMsg, TradeMsg};
use crate::ParseError;
use crate::fields::{level, millis_value, quote, taker_side, trade};

/// An OKX instrument id as a canonical symbol, keeping its kind: `BTC-USDT` (spot) → `BTC-USDT`,
/// `BTC-USDT-SWAP` → `BTC-USDT-PERP`, `BTC-USD-250328` (dated future) → `BTC-USD-20250328`. Options
/// and anything else are not mapped.
pub fn inst_symbol(inst_id: &str) -> Option<Symbol> {
    let parts: Vec<&str> = inst_id.split('-').collect();
    let valid = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    match parts.as_slice() {
        [base, quote] if valid(base) && valid(quote) => Some(Symbol::spot(base, quote)),
        [base, quote, "SWAP"] if valid(base) && valid(quote) => {
            Some(Symbol::perpetual(base, quote))
        }
        [base, quote, expiry]
            if valid(base)
                && valid(quote)
                && expiry.len() == 6
                && expiry.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Symbol::future(base, quote, &format!("20{expiry}")).ok()
        }
        _ => None,
    }
}

/// A `trades` entry; for swaps and futures the quantity is in contracts, as OKX sends it.
pub fn parse_trade(
    msg: &TradeMsg<'_>,
    symbol: (Symbol, Arc<str>),
    ts_recv: UnixNanos,
) -> Result<Trade, ParseError> {
    trade(
        Exchange::Okx,
        symbol,
        (millis_value(msg.ts)?, ts_recv),
        msg.trade_id.to_owned(),
        [msg.px, msg.sz],
        taker_side(msg.side, ["buy", "sell"]),
    )
}

/// A `bbo-tbt` push as a quote; `None` when a side is empty.
pub fn parse_bbo(
    msg: &BookMsg<'_>,
    symbol: (Symbol, Arc<str>),
    ts_recv: UnixNanos,
) -> Result<Option<Quote>, ParseError> {
    let (Some(bid), Some(ask)) = (msg.bids.first(), msg.asks.first()) else {
        return Ok(None);
    };
    let ts = (millis_value(msg.ts)?, ts_recv);
    quote(
        Exchange::Okx,
        symbol,
        ts,
        [bid.price, bid.size],
        [ask.price, ask.size],
    )
    .map(Some)
}

pub fn parse_levels(levels: &[LevelMsg<'_>]) -> Result<Vec<Level>, ParseError> {
    levels.iter().map(|l| level(l.price, l.size)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickstream_model::AggressorSide;

    #[test]
    fn instruments_keep_their_kind() {
        assert_eq!(inst_symbol("BTC-USDT").unwrap().as_str(), "BTC-USDT");
        assert_eq!(
            inst_symbol("BTC-USDT-SWAP").unwrap().as_str(),
            "BTC-USDT-PERP"
        );
        assert_eq!(
            inst_symbol("BTC-USD-250328").unwrap().as_str(),
            "BTC-USD-20250328"
        );
        assert_eq!(inst_symbol("BTC-USD-250328-50000-C"), None);
        assert_eq!(inst_symbol("BTC-USD-2503"), None);
        assert_eq!(inst_symbol("BTCUSDT"), None);
        assert_eq!(
            taker_side("sell", ["buy", "sell"]).unwrap(),
            AggressorSide::Sell
        );
        assert!(taker_side("SELL", ["buy", "sell"]).is_err());
    }
}
