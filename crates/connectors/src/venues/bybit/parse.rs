//! Pure parse functions for Bybit v5 public data: symbols by market, trades and book messages.

use std::sync::Arc;

use tickstream_model::{Exchange, Level, Symbol, Trade, UnixNanos};

use super::messages::{BookMsg, TradeMsg};
use crate::ParseError;
use crate::fields::{levels, millis_value, taker_side, trade};
use crate::venues::binance::parse::QUOTE_SUFFIXES;

/// Which v5 public endpoint a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BybitMarket {
    /// `/v5/public/spot`.
    Spot,
    /// `/v5/public/linear`: USDT and USDC perpetuals, labeled `-PERP`.
    Linear,
}

impl BybitMarket {
    pub const fn path(self) -> &'static str {
        match self {
            BybitMarket::Spot => "/v5/public/spot",
            BybitMarket::Linear => "/v5/public/linear",
        }
    }
}

/// A Bybit symbol split at its quote-asset suffix: `BTCUSDT` → `BTC-USDT` on spot, `BTC-USDT-PERP` on
/// the linear endpoint.
pub fn market_symbol(market: BybitMarket, raw: &str) -> Option<Symbol> {
    if !raw
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return None;
    }
    QUOTE_SUFFIXES.iter().find_map(|quote| {
        let base = raw.strip_suffix(quote)?;
        (!base.is_empty()).then(|| match market {
            BybitMarket::Spot => Symbol::spot(base, quote),
            BybitMarket::Linear => Symbol::perpetual(base, quote),
        })
    })
}

pub fn parse_trade(
    msg: &TradeMsg<'_>,
    symbol: (Symbol, Arc<str>),
    ts_recv: UnixNanos,
) -> Result<Trade, ParseError> {
    trade(
        Exchange::Bybit,
        symbol,
        (millis_value(msg.time)?, ts_recv),
        msg.trade_id.to_owned(),
        [msg.price, msg.size],
        taker_side(msg.side, ["Buy", "Sell"]),
    )
}

/// A book message's levels, checked: `(bids, asks)`.
pub fn parse_book_levels(msg: &BookMsg<'_>) -> Result<(Vec<Level>, Vec<Level>), ParseError> {
    Ok((levels(&msg.bids)?, levels(&msg.asks)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickstream_model::AggressorSide;

    #[test]
    fn symbols_keep_their_market() {
        let spot = market_symbol(BybitMarket::Spot, "BTCUSDT").unwrap();
        assert_eq!(spot.as_str(), "BTC-USDT");
        let perp = market_symbol(BybitMarket::Linear, "ETHUSDC").unwrap();
        assert_eq!(perp.as_str(), "ETH-USDC-PERP");
        assert_eq!(market_symbol(BybitMarket::Linear, "BTC-26DEC25"), None);
        assert_eq!(market_symbol(BybitMarket::Spot, "btcusdt"), None);
        assert_eq!(
            taker_side("Sell", ["Buy", "Sell"]).unwrap(),
            AggressorSide::Sell
        );
        assert!(taker_side("sell", ["Buy", "Sell"]).is_err());
    }
}
