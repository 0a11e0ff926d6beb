//! Exchanges, canonical symbols (`BTC-USD`, `BTC-USDT-PERP`, `BTC-USD-20260327`) and instrument metadata.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::{Decimal, Error};

/// A venue tickstream connects to, or `composite` for values built across venues.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Exchange {
    /// Binance spot.
    Binance,
    /// Coinbase Advanced Trade.
    Coinbase,
    /// The Coinbase Exchange feed (`ws-feed.exchange.coinbase.com`).
    CoinbaseExchange,
    /// Kraken spot, websocket v2.
    Kraken,
    /// OKX v5 public.
    Okx,
    /// Bitstamp v2.
    Bitstamp,
    /// Bybit v5 public (spot and linear).
    Bybit,
    /// Values built across venues (composite bars, cross-venue signals).
    Composite,
}

impl Exchange {
    pub const ALL: [Exchange; 8] = [
        Exchange::Binance,
        Exchange::Coinbase,
        Exchange::CoinbaseExchange,
        Exchange::Kraken,
        Exchange::Okx,
        Exchange::Bitstamp,
        Exchange::Bybit,
        Exchange::Composite,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Exchange::Binance => "binance",
            Exchange::Coinbase => "coinbase",
            Exchange::CoinbaseExchange => "coinbase-exchange",
            Exchange::Kraken => "kraken",
            Exchange::Okx => "okx",
            Exchange::Bitstamp => "bitstamp",
            Exchange::Bybit => "bybit",
            Exchange::Composite => "composite",
        }
    }
}

impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Exchange {
    type Err = Error;
    fn from_str(s: &str) -> Result<Exchange, Error> {
        Exchange::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| Error::Exchange(s.to_owned()))
    }
}

/// The venue-independent code of an asset: upper case, with venue aliases mapped (`XBT` → `BTC`,
/// `XDG` → `DOGE`).
pub fn canonical_asset(code: &str) -> Cow<'_, str> {
    let upper: Cow<'_, str> = if code.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Owned(code.to_ascii_uppercase())
    } else {
        Cow::Borrowed(code)
    };
    match upper.as_ref() {
        "XBT" => Cow::Borrowed("BTC"),
        "XDG" => Cow::Borrowed("DOGE"),
        _ => upper,
    }
}

/// What an instrument is; derivatives are never labeled as spot.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum InstrumentKind {
    Spot,
    /// A perpetual swap: canonical symbol ends in `-PERP`.
    Perpetual,
    /// A dated future: canonical symbol ends in the expiry date, `-YYYYMMDD`.
    Future {
        expiry: String,
    },
}

/// A canonical symbol: `BASE-QUOTE` in upper case, with `-PERP` for perpetuals and `-YYYYMMDD` for dated
/// futures. Cheap to clone (shared text).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Symbol(Arc<str>);

impl Symbol {
    /// The spot pair `BASE-QUOTE`, with asset aliases mapped.
    pub fn spot(base: &str, quote: &str) -> Symbol {
        Symbol(format!("{}-{}", canonical_asset(base), canonical_asset(quote)).into())
    }

    /// A perpetual swap, `BASE-QUOTE-PERP`.
    pub fn perpetual(base: &str, quote: &str) -> Symbol {
        Symbol(format!("{}-{}-PERP", canonical_asset(base), canonical_asset(quote)).into())
    }

    /// A dated future, `BASE-QUOTE-YYYYMMDD`; `expiry` must be eight digits.
    pub fn future(base: &str, quote: &str, expiry: &str) -> Result<Symbol, Error> {
        if expiry.len() != 8 || !expiry.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Symbol {
                text: expiry.to_owned(),
                reason: "expiry must be YYYYMMDD",
            });
        }
        Ok(Symbol(
            format!(
                "{}-{}-{expiry}",
                canonical_asset(base),
                canonical_asset(quote)
            )
            .into(),
        ))
    }

    /// Checks canonical form: two or three `-`-separated parts of `A-Z0-9`, the third `PERP` or a date.
    pub fn parse(text: &str) -> Result<Symbol, Error> {
        let bad = |reason| Error::Symbol {
            text: text.to_owned(),
            reason,
        };
        let parts: Vec<&str> = text.split('-').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(bad(
                "expected BASE-QUOTE, BASE-QUOTE-PERP or BASE-QUOTE-YYYYMMDD",
            ));
        }
        for part in &parts[..2] {
            if part.is_empty()
                || !part
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            {
                return Err(bad("base and quote must be upper-case letters and digits"));
            }
        }
        if let Some(suffix) = parts.get(2) {
            let dated = suffix.len() == 8 && suffix.bytes().all(|b| b.is_ascii_digit());
            if *suffix != "PERP" && !dated {
                return Err(bad(
                    "the third part must be PERP or an expiry date YYYYMMDD",
                ));
            }
        }
        Ok(Symbol(text.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn base(&self) -> &str {
        self.0.split('-').next().unwrap_or_default()
    }

    pub fn quote(&self) -> &str {
        self.0.split('-').nth(1).unwrap_or_default()
    }

    pub fn kind(&self) -> InstrumentKind {
        match self.0.split('-').nth(2) {
            None => InstrumentKind::Spot,
            Some("PERP") => InstrumentKind::Perpetual,
            Some(date) => InstrumentKind::Future {
                expiry: date.to_owned(),
            },
        }
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Symbol({})", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Symbol {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Symbol, D::Error> {
        let text = <Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        Symbol::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Symbol {
    fn schema_name() -> Cow<'static, str> {
        "Symbol".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[A-Z0-9]+-[A-Z0-9]+(-(PERP|[0-9]{8}))?$",
            "description": "Canonical symbol: BASE-QUOTE, BASE-QUOTE-PERP or BASE-QUOTE-YYYYMMDD."
        })
    }
}

/// What a venue says about one instrument: the mapping from its own symbol to ours, and its precision.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instrument {
    pub exchange: Exchange,
    pub symbol: Symbol,
    pub raw_symbol: String,
    pub base: String,
    pub quote: String,
    /// Smallest price step, where the venue publishes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_increment: Option<Decimal>,
    /// Smallest quantity step, where the venue publishes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_increment: Option<Decimal>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_case_are_canonical() {
        assert_eq!(Symbol::spot("XBT", "usd").as_str(), "BTC-USD");
        assert_eq!(Symbol::spot("XDG", "EUR").as_str(), "DOGE-EUR");
        assert_eq!(Symbol::perpetual("btc", "usdt").as_str(), "BTC-USDT-PERP");
        assert_eq!(
            Symbol::future("BTC", "USD", "20260327").unwrap().as_str(),
            "BTC-USD-20260327"
        );
        assert!(Symbol::future("BTC", "USD", "2026-03-27").is_err());
    }

    #[test]
    fn derivatives_are_never_spot() {
        assert_eq!(
            Symbol::parse("BTC-USDT-PERP").unwrap().kind(),
            InstrumentKind::Perpetual
        );
        assert_eq!(
            Symbol::parse("BTC-USD-20260327").unwrap().kind(),
            InstrumentKind::Future {
                expiry: "20260327".into()
            }
        );
        assert_eq!(
            Symbol::parse("ETH-USDT").unwrap().kind(),
            InstrumentKind::Spot
        );
    }

    #[test]
    fn parse_rejects_non_canonical_text() {
        for s in [
            "BTCUSDT",
            "btc-usd",
            "BTC/USD",
            "BTC-USD-SWAP",
            "-USD",
            "BTC-USD-2026032",
        ] {
            assert!(Symbol::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn exchange_names_round_trip() {
        for e in Exchange::ALL {
            assert_eq!(e.as_str().parse::<Exchange>().unwrap(), e);
            assert_eq!(serde_json::to_string(&e).unwrap(), format!("\"{e}\""));
        }
    }
}
