//! Instrument metadata: Binance's `exchangeInfo` (the documentation's example) and Coinbase's
//! `market/products` (a recorded response), served by the simulator's REST side, give base, quote and
//! steps; the cache serves when the venue cannot be reached; without either, the symbol rules.

mod common;

use std::path::Path;

use common::simulator;
use tickstream_connectors::runner::instruments::{
    parse_binance_exchange_info, parse_coinbase_products,
};
use tickstream_connectors::runner::{
    ExchangeSource, ExchangeSourceConfig, InstrumentCatalog, InstrumentOrigin, load_instruments,
};
use tickstream_model::{Exchange, Instrument};

fn exchange_info() -> String {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/binance/exchangeInfo.json");
    std::fs::read_to_string(path).unwrap()
}

fn coinbase_products() -> String {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/coinbase/market-products.json");
    std::fs::read_to_string(path).unwrap()
}

fn unreachable_rest_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

/// Offline, the cache gives the instruments fetched `online`; without the cache, the fallback, asserted
/// as such and returned, for `symbol` alone.
async fn offline(
    config: &mut ExchangeSourceConfig,
    dir: &Path,
    online: &InstrumentCatalog,
    symbol: &str,
) -> InstrumentCatalog {
    config.rest_url = Some(unreachable_rest_url());
    let cached = load_instruments(config).await;
    assert_eq!(cached.origin, InstrumentOrigin::Cache);
    assert_eq!(cached.instruments, online.instruments);
    config.instrument_cache = Some(dir.join("missing.json"));
    config.symbols = vec![symbol.into()];
    let fallback = load_instruments(config).await;
    assert_eq!(fallback.origin, InstrumentOrigin::Fallback);
    fallback
}

/// An instrument as `(symbol, raw symbol, base, quote, price increment, size increment)`, to compare.
fn row(i: &Instrument) -> (&str, &str, &str, &str, String, String) {
    (
        i.symbol.as_str(),
        i.raw_symbol.as_str(),
        i.base.as_str(),
        i.quote.as_str(),
        i.price_increment.unwrap().to_string(),
        i.size_increment.unwrap().to_string(),
    )
}

#[test]
fn exchange_info_gives_assets_and_steps() {
    let instruments = parse_binance_exchange_info(&exchange_info()).unwrap();
    assert_eq!(instruments.len(), 1);
    let ethbtc = &instruments[0];
    assert_eq!(
        (ethbtc.symbol.as_str(), ethbtc.raw_symbol.as_str()),
        ("ETH-BTC", "ETHBTC")
    );
    assert_eq!(
        (ethbtc.base.as_str(), ethbtc.quote.as_str()),
        ("ETH", "BTC")
    );
    assert_eq!(ethbtc.price_increment.unwrap().to_string(), "0.00000100");
    assert_eq!(ethbtc.size_increment.unwrap().to_string(), "0.00100000");
    assert!(parse_binance_exchange_info("{\"symbols\":[{\"symbol\":1}]}").is_err());
}

#[tokio::test]
async fn venue_then_cache_then_suffix_rule() {
    let sim = simulator().await;
    sim.serve_rest("/binance/api/v3/exchangeInfo", exchange_info());
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("instruments/binance.json");
    let mut config = ExchangeSourceConfig::new(Exchange::Binance, &["ethbtc"]);
    config.rest_url = Some(sim.rest_url("binance"));
    config.instrument_cache = Some(cache.clone());

    // Online: the venue's metadata, written to the cache.
    let online = load_instruments(&config).await;
    assert_eq!(online.origin, InstrumentOrigin::Venue);
    assert_eq!(online.find("ETHBTC").unwrap().base, "ETH");
    let cached: Vec<Instrument> =
        serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    assert_eq!(cached, online.instruments);

    // The metadata decides the source's symbols.
    let (tx, _rx) = tokio::sync::mpsc::channel(16);
    let (_source, catalog) = ExchangeSource::with_instruments(config.clone(), tx)
        .await
        .unwrap();
    assert_eq!(catalog.origin, InstrumentOrigin::Venue);
    let mut applied = config.clone();
    applied.apply_instruments(&catalog);
    assert_eq!(applied.symbols, ["ETH-BTC"]);

    // Offline: the cache; without a cache, the quote-suffix rule, without steps.
    let fallback = offline(&mut config, dir.path(), &online, "BTCUSDT").await;
    let btc = fallback.find("btcusdt").unwrap();
    assert_eq!(
        (btc.symbol.as_str(), btc.base.as_str(), btc.quote.as_str()),
        ("BTC-USDT", "BTC", "USDT")
    );
    assert_eq!(btc.price_increment, None);
}

#[test]
fn coinbase_products_give_currency_ids_and_increments() {
    let instruments = parse_coinbase_products(&coinbase_products()).unwrap();
    let rows: Vec<_> = instruments.iter().map(row).collect();
    // BTC-USDC displays its quote as USD; its currency id says USDC.
    assert_eq!(
        rows,
        [
            (
                "BTC-USD",
                "BTC-USD",
                "BTC",
                "USD",
                "0.01".into(),
                "0.00000001".into()
            ),
            (
                "BTC-USDC",
                "BTC-USDC",
                "BTC",
                "USDC",
                "0.01".into(),
                "0.00000001".into()
            ),
        ]
    );
    assert!(instruments.iter().all(|i| i.exchange == Exchange::Coinbase));
    assert!(parse_coinbase_products("{\"products\":[{\"product_id\":1}]}").is_err());
}

#[tokio::test]
async fn coinbase_venue_then_cache_then_product_ids() {
    let sim = simulator().await;
    sim.serve_rest(
        "/coinbase/api/v3/brokerage/market/products",
        coinbase_products(),
    );
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("coinbase.json");
    let mut config = ExchangeSourceConfig::new(Exchange::Coinbase, &["BTC-USDC"]);
    config.rest_url = Some(sim.rest_url("coinbase"));
    config.instrument_cache = Some(cache.clone());

    // Online: the venue's metadata, written to the cache.
    let online = load_instruments(&config).await;
    assert_eq!(online.origin, InstrumentOrigin::Venue);
    let usdc = online.find("BTC-USDC").unwrap();
    assert_eq!((usdc.base.as_str(), usdc.quote.as_str()), ("BTC", "USDC"));
    assert_eq!(usdc.price_increment.unwrap().to_string(), "0.01");
    let cached: Vec<Instrument> =
        serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    assert_eq!(cached, online.instruments);

    // Offline: the cache, the same instruments; without a cache, the product id read as BASE-QUOTE,
    // without steps.
    let fallback = offline(&mut config, dir.path(), &online, "ETH-USD").await;
    let eth = fallback.find("ETH-USD").unwrap();
    assert_eq!((eth.base.as_str(), eth.quote.as_str()), ("ETH", "USD"));
    assert_eq!(eth.price_increment, None);
}

#[tokio::test]
async fn the_simulator_serves_its_own_coinbase_products() {
    let sim = simulator().await;
    let mut config = ExchangeSourceConfig::new(Exchange::Coinbase, &["ETH-USD", "SOL-USD"]);
    config.rest_url = Some(sim.rest_url("coinbase"));
    let catalog = load_instruments(&config).await;
    assert_eq!(catalog.origin, InstrumentOrigin::Venue);
    let steps: Vec<(&str, String, String)> = catalog
        .instruments
        .iter()
        .map(|i| {
            (
                i.symbol.as_str(),
                i.price_increment.unwrap().to_string(),
                i.size_increment.unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("ETH-USD", "0.01".into(), "0.0001".into()),
            ("SOL-USD", "0.01".into(), "0.0001".into())
        ]
    );
}

#[tokio::test]
async fn the_simulator_serves_its_own_binance_exchange_info() {
    let sim = simulator().await;
    let mut config = ExchangeSourceConfig::new(Exchange::Binance, &["BTCUSDT", "ETHBTC"]);
    config.rest_url = Some(sim.rest_url("binance"));
    let catalog = load_instruments(&config).await;
    assert_eq!(catalog.origin, InstrumentOrigin::Venue);
    let instruments: Vec<_> = catalog.instruments.iter().map(row).collect();
    assert_eq!(
        instruments,
        [
            (
                "BTC-USDT",
                "BTCUSDT",
                "BTC",
                "USDT",
                "0.01".into(),
                "0.0001".into()
            ),
            (
                "ETH-BTC",
                "ETHBTC",
                "ETH",
                "BTC",
                "0.01".into(),
                "0.0001".into()
            )
        ]
    );
    assert_eq!(catalog.find("btcusdt").unwrap().raw_symbol, "BTCUSDT");
}
