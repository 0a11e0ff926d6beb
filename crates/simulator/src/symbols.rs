//! The venues' symbol formats as the simulator reads them into the canonical symbols its markets are
//! keyed by: Binance, Bitstamp and Bybit write base and quote together (`BTCUSDT`, `btcusd`), OKX
//! separates them with dashes and marks perpetual swaps `-SWAP` and futures with a `YYMMDD` expiry
//! (`BTC-USDT-SWAP`, `BTC-USD-250328`), Kraken v2 writes `BTC/USD`.

use tickstream_model::Symbol;

/// Quote assets a joined symbol may end with, longer codes before the codes they end with (`FDUSD`
/// before `USD`), so that `BTCFDUSD` is read as `BTC` / `FDUSD`.
const QUOTES: [&str; 16] = [
    "FDUSD", "USDT", "USDC", "TUSD", "BUSD", "DAI", "EUR", "GBP", "TRY", "BRL", "JPY", "USD",
    "BTC", "ETH", "BNB", "XRP",
];

fn is_code(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Base and quote of a symbol written together, in any case (`btcusdt` → `BTC`, `USDT`).
fn split_joined(raw: &str) -> Option<(String, &'static str)> {
    let upper = raw.to_ascii_uppercase();
    if !is_code(&upper) {
        return None;
    }
    QUOTES.iter().find_map(|quote| {
        let base = upper.strip_suffix(quote)?;
        (!base.is_empty()).then(|| (base.to_owned(), *quote))
    })
}

/// A spot symbol written as base and quote together: Binance (`BTCUSDT`, `btcusdt` in stream names),
/// Bitstamp (`btcusd`) and Bybit spot.
pub fn joined_spot(raw: &str) -> Option<Symbol> {
    split_joined(raw).map(|(base, quote)| Symbol::spot(&base, quote))
}

/// A Bybit linear perpetual (`BTCUSDT` on the linear endpoint).
pub fn joined_perpetual(raw: &str) -> Option<Symbol> {
    split_joined(raw).map(|(base, quote)| Symbol::perpetual(&base, quote))
}

/// An OKX instrument id: `BASE-QUOTE` spot, `BASE-QUOTE-SWAP` perpetual, `BASE-QUOTE-YYMMDD` future.
pub fn okx_inst(inst_id: &str) -> Option<Symbol> {
    let mut parts = inst_id.split('-');
    let (base, quote) = (parts.next()?, parts.next()?);
    if !is_code(base) || !is_code(quote) {
        return None;
    }
    match (parts.next(), parts.next()) {
        (None, _) => Some(Symbol::spot(base, quote)),
        (Some("SWAP"), None) => Some(Symbol::perpetual(base, quote)),
        (Some(expiry), None) if expiry.len() == 6 && expiry.bytes().all(|b| b.is_ascii_digit()) => {
            Symbol::future(base, quote, &format!("20{expiry}")).ok()
        }
        _ => None,
    }
}

/// A Kraken v2 pair, `BASE/QUOTE`.
pub fn kraken_pair(pair: &str) -> Option<Symbol> {
    let (base, quote) = pair.split_once('/')?;
    (is_code(base) && is_code(quote)).then(|| Symbol::spot(base, quote))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(symbol: Option<Symbol>) -> Option<String> {
        symbol.map(|s| s.as_str().to_owned())
    }

    #[test]
    fn each_format_reads_into_the_canonical_symbol() {
        assert_eq!(text(joined_spot("btcusdt")).as_deref(), Some("BTC-USDT"));
        assert_eq!(text(joined_spot("BTCFDUSD")).as_deref(), Some("BTC-FDUSD"));
        assert_eq!(text(joined_spot("ETHBTC")).as_deref(), Some("ETH-BTC"));
        assert_eq!(joined_spot("USDT"), None);
        assert_eq!(joined_spot("BTC-USD"), None);
        assert_eq!(
            joined_perpetual("BTCUSDT"),
            Some(Symbol::perpetual("BTC", "USDT"))
        );
        assert_eq!(okx_inst("BTC-USDT"), Some(Symbol::spot("BTC", "USDT")));
        assert_eq!(
            okx_inst("BTC-USDT-SWAP"),
            Some(Symbol::perpetual("BTC", "USDT"))
        );
        assert_eq!(
            okx_inst("BTC-USD-250328"),
            Symbol::future("BTC", "USD", "20250328").ok()
        );
        assert_eq!(okx_inst("BTC-USD-250328-100000-C"), None);
        assert_eq!(text(kraken_pair("XBT/USD")).as_deref(), Some("BTC-USD"));
        assert_eq!(kraken_pair("BTCUSD"), None);
    }
}
