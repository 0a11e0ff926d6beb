//! Instrument metadata for a source: base, quote and price/size steps from the venue's REST metadata
//! when it answers (Binance `GET /api/v3/exchangeInfo`, Coinbase Advanced Trade's public
//! `GET /api/v3/brokerage/market/products`), saved to a JSON cache file; when the venue cannot be
//! reached, the cache; without a cache, the documented fallback (the configured symbols as the venue's
//! symbol rules read them, e.g. Binance's known quote-asset suffixes: `BTCUSDT` → `BTC-USDT`, Coinbase's
//! `BASE-QUOTE` product ids), without steps.

use std::path::Path;
use std::time::Duration;

use tickstream_model::{Decimal, Exchange, Instrument, Symbol};

use super::ExchangeSourceConfig;
use super::rest::{DEFAULT_MAX_BODY_BYTES, RestClient};
use crate::venues::binance;
use crate::{Error, ParseError, RejectReason};

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Coinbase Advanced Trade's REST API; its `market` endpoints need no authentication.
pub const COINBASE_REST_URL: &str = "https://api.coinbase.com";

/// Where a catalog's instruments came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstrumentOrigin {
    /// The venue's REST metadata, just fetched.
    Venue,
    /// The cache file, written after an earlier fetch.
    Cache,
    /// The configured symbols read by the venue's symbol rules; no price or size steps.
    Fallback,
}

/// The instruments of a source and where they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct InstrumentCatalog {
    pub origin: InstrumentOrigin,
    pub instruments: Vec<Instrument>,
}

impl InstrumentCatalog {
    /// The instrument of a venue symbol (any case).
    pub fn find(&self, raw_symbol: &str) -> Option<&Instrument> {
        self.instruments
            .iter()
            .find(|i| i.raw_symbol.eq_ignore_ascii_case(raw_symbol))
    }
}

/// A Binance `exchangeInfo` response: the symbols with their assets and filters.
#[derive(serde::Deserialize)]
struct ExchangeInfo<'a> {
    #[serde(borrow)]
    symbols: Vec<ExchangeInfoSymbol<'a>>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExchangeInfoSymbol<'a> {
    symbol: &'a str,
    base_asset: &'a str,
    quote_asset: &'a str,
    #[serde(default, borrow)]
    filters: Vec<ExchangeInfoFilter<'a>>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExchangeInfoFilter<'a> {
    filter_type: &'a str,
    #[serde(default)]
    tick_size: Option<&'a str>,
    #[serde(default)]
    step_size: Option<&'a str>,
}

/// The spot instruments of a Binance `GET /api/v3/exchangeInfo` body: base and quote assets, the
/// `PRICE_FILTER` tick size and the `LOT_SIZE` step size.
pub fn parse_binance_exchange_info(body: &str) -> Result<Vec<Instrument>, ParseError> {
    let info: ExchangeInfo<'_> = serde_json::from_str(body).map_err(ParseError::json)?;
    info.symbols
        .iter()
        .map(|s| {
            let filter = |kind: &str| s.filters.iter().find(|f| f.filter_type == kind);
            Ok(Instrument {
                exchange: Exchange::Binance,
                symbol: Symbol::spot(s.base_asset, s.quote_asset),
                raw_symbol: s.symbol.to_owned(),
                base: s.base_asset.to_owned(),
                quote: s.quote_asset.to_owned(),
                price_increment: increment(
                    filter("PRICE_FILTER").and_then(|f| f.tick_size),
                    RejectReason::InvalidPrice,
                )?,
                size_increment: increment(
                    filter("LOT_SIZE").and_then(|f| f.step_size),
                    RejectReason::InvalidQuantity,
                )?,
            })
        })
        .collect()
}

/// A Coinbase Advanced Trade `market/products` response.
#[derive(serde::Deserialize)]
struct CoinbaseProducts<'a> {
    #[serde(borrow)]
    products: Vec<CoinbaseProduct<'a>>,
}

#[derive(serde::Deserialize)]
struct CoinbaseProduct<'a> {
    product_id: &'a str,
    base_currency_id: &'a str,
    quote_currency_id: &'a str,
    #[serde(default)]
    product_type: Option<&'a str>,
    #[serde(default)]
    price_increment: Option<&'a str>,
    #[serde(default)]
    base_increment: Option<&'a str>,
}

fn increment(text: Option<&str>, reason: RejectReason) -> Result<Option<Decimal>, ParseError> {
    match text {
        None => Ok(None),
        Some(text) => text
            .parse::<Decimal>()
            .map(Some)
            .map_err(|e| ParseError::new(reason, format!("{text:?}: {e}"))),
    }
}

/// The spot products of a Coinbase Advanced Trade `GET /api/v3/brokerage/market/products` body: base
/// and quote currency ids (not the display symbols: `BTC-USDC` displays its quote as `USD`), the
/// `price_increment` and the `base_increment`. Other product types are left out.
pub fn parse_coinbase_products(body: &str) -> Result<Vec<Instrument>, ParseError> {
    let list: CoinbaseProducts<'_> = serde_json::from_str(body).map_err(ParseError::json)?;
    list.products
        .iter()
        .filter(|p| p.product_type.is_none_or(|t| t == "SPOT"))
        .map(|p| {
            Ok(Instrument {
                exchange: Exchange::Coinbase,
                symbol: Symbol::spot(p.base_currency_id, p.quote_currency_id),
                raw_symbol: p.product_id.to_owned(),
                base: p.base_currency_id.to_owned(),
                quote: p.quote_currency_id.to_owned(),
                price_increment: increment(p.price_increment, RejectReason::InvalidPrice)?,
                size_increment: increment(p.base_increment, RejectReason::InvalidQuantity)?,
            })
        })
        .collect()
}

/// The venue symbols of a source's configured symbols, as the venue's symbol rules read them.
fn fallback(config: &ExchangeSourceConfig) -> Vec<Instrument> {
    let mut instruments: Vec<Instrument> = Vec::new();
    for sub in config.subscriptions().unwrap_or_default() {
        if instruments.iter().any(|i| i.raw_symbol == sub.raw_symbol) {
            continue;
        }
        instruments.push(Instrument {
            exchange: config.exchange,
            base: sub.symbol.base().to_owned(),
            quote: sub.symbol.quote().to_owned(),
            symbol: sub.symbol,
            raw_symbol: sub.raw_symbol,
            price_increment: None,
            size_increment: None,
        });
    }
    instruments
}

/// Reads a venue's metadata body.
type MetadataParser = fn(&str) -> Result<Vec<Instrument>, ParseError>;

/// The venue's metadata URL for the configured symbols and its parser, for venues whose metadata is
/// read here.
fn metadata_request(config: &ExchangeSourceConfig) -> Option<(String, MetadataParser)> {
    let raw_symbols = || -> Vec<String> {
        config
            .symbols
            .iter()
            .filter_map(|text| super::resolve_symbol(config.exchange, text).ok())
            .map(|(_, raw)| raw)
            .collect()
    };
    let base = |default: &str| {
        config
            .rest_url
            .as_deref()
            .unwrap_or(default)
            .trim_end_matches('/')
            .to_owned()
    };
    match config.exchange {
        Exchange::Binance => {
            let quoted: Vec<String> = raw_symbols()
                .iter()
                .map(|raw| format!("%22{raw}%22"))
                .collect();
            let url = format!(
                "{}/api/v3/exchangeInfo?symbols=%5B{}%5D",
                base(binance::DEFAULT_REST_URL),
                quoted.join(",")
            );
            Some((url, parse_binance_exchange_info))
        }
        Exchange::Coinbase => {
            let ids: Vec<String> = raw_symbols()
                .iter()
                .map(|raw| format!("&product_ids={raw}"))
                .collect();
            let url = format!(
                "{}/api/v3/brokerage/market/products?product_type=SPOT{}",
                base(COINBASE_REST_URL),
                ids.concat()
            );
            Some((url, parse_coinbase_products))
        }
        _ => None,
    }
}

/// Loads the source's instruments: the venue, then the cache, then the fallback. A fetched list is
/// written to the cache (`instrument_cache`), replacing it whole.
pub async fn load_instruments(config: &ExchangeSourceConfig) -> InstrumentCatalog {
    let cache = config.instrument_cache.as_deref();
    if let Some((url, parse)) = metadata_request(config) {
        let fetched = match RestClient::new(METADATA_TIMEOUT, DEFAULT_MAX_BODY_BYTES) {
            Ok(rest) => rest.get_text(&url).await,
            Err(e) => Err(e),
        };
        let parsed = fetched.and_then(|body| {
            parse(&body).map_err(|e| Error::Http {
                url: url.clone(),
                message: e.to_string(),
            })
        });
        match parsed {
            Ok(instruments) => {
                if let Some(path) = cache
                    && let Err(e) = write_cache(path, &instruments)
                {
                    tracing::warn!(exchange = %config.exchange, error = %e, "instrument cache not written");
                }
                return InstrumentCatalog {
                    origin: InstrumentOrigin::Venue,
                    instruments,
                };
            }
            Err(e) => {
                tracing::warn!(exchange = %config.exchange, error = %e, "instrument metadata unavailable; using the cache or the symbol rules");
            }
        }
    }
    if let Some(path) = cache {
        match read_cache(path) {
            Ok(instruments) => {
                return InstrumentCatalog {
                    origin: InstrumentOrigin::Cache,
                    instruments,
                };
            }
            Err(e) => {
                tracing::warn!(exchange = %config.exchange, error = %e, "instrument cache unreadable; using the symbol rules");
            }
        }
    }
    InstrumentCatalog {
        origin: InstrumentOrigin::Fallback,
        instruments: fallback(config),
    }
}

fn read_cache(path: &Path) -> Result<Vec<Instrument>, Error> {
    let io = |source| Error::Io {
        context: format!("reading {}", path.display()),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(io)?;
    serde_json::from_str(&text).map_err(|e| io(std::io::Error::other(e)))
}

/// Writes the cache beside itself and renames it into place, so a reader never sees half a file.
fn write_cache(path: &Path, instruments: &[Instrument]) -> Result<(), Error> {
    let io = |source| Error::Io {
        context: format!("writing {}", path.display()),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let text =
        serde_json::to_string_pretty(instruments).map_err(|e| io(std::io::Error::other(e)))?;
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    std::fs::write(&partial, text).map_err(io)?;
    std::fs::rename(&partial, path).map_err(io)
}

impl ExchangeSourceConfig {
    /// Rewrites configured venue symbols (`ETHBTC`) that the catalog knows to their canonical form from
    /// the venue's base and quote assets, so the metadata, not the suffix rule, decides them.
    pub fn apply_instruments(&mut self, catalog: &InstrumentCatalog) {
        for text in &mut self.symbols {
            if Symbol::parse(text).is_ok() {
                continue;
            }
            if let Some(instrument) = catalog.find(text) {
                *text = instrument.symbol.as_str().to_owned();
            }
        }
    }
}
