//! Tests of `ExchangeSourceConfig`: defaults, the full shape, refusals naming their field, venue symbols.

use super::*;

fn parse(text: &str) -> Result<ExchangeSourceConfig, String> {
    toml::from_str::<ExchangeSourceConfig>(text).map_err(|e| e.to_string())
}

fn field_of(config: &ExchangeSourceConfig) -> String {
    match config.validate() {
        Err(Error::Config { field, .. }) => field,
        other => panic!("{other:?}"),
    }
}

#[test]
fn defaults_and_the_full_shape() {
    let config = parse("exchange = \"binance\"\nsymbols = [\"BTC-USDT\", \"ethusdt\"]").unwrap();
    config.validate().unwrap();
    assert_eq!(config.channels, [Channel::Trades, Channel::Bbo]);
    assert_eq!(config.staleness, Duration::from_secs(30));
    assert_eq!(config.max_frame_bytes, 16 * 1024 * 1024);
    assert_eq!(config.backoff, BackoffConfig::default());
    assert_eq!(config.ws_url(), "wss://stream.binance.com:9443");
    let subs = config.subscriptions().unwrap();
    assert_eq!(subs.len(), 4);
    assert_eq!(
        (subs[2].symbol.as_str(), subs[2].raw_symbol.as_str()),
        ("ETH-USDT", "ETHUSDT")
    );

    let config = parse(
        r#"exchange = "coinbase-exchange"
symbols = ["BTC-USD"]
channels = ["trades", "book"]
url = "ws://127.0.0.1:9900/coinbase-exchange"
staleness = "10s"
staleness_per_channel = { trades = "5m" }
max_frame_bytes = 1048576
connect_timeout = "3s"
backoff = { initial = "100ms", max = "5s", reset_after = "30s" }
capture = { dir = "data/capture", rotate = "15m" }"#,
    )
    .unwrap();
    config.validate().unwrap();
    assert_eq!(
        config.staleness_of(Channel::Trades),
        Duration::from_secs(300)
    );
    assert_eq!(config.staleness_of(Channel::Book), Duration::from_secs(10));
    assert_eq!(config.backoff.initial, Duration::from_millis(100));
    let capture = config.capture.unwrap();
    assert_eq!(
        (capture.rotate, capture.queue),
        (Duration::from_secs(900), 65536)
    );
    assert!(
        parse("exchange = \"binance\"\nsymbols = [\"BTC-USDT\"]\ncapture = { dir = \"d\", every = \"1h\" }")
            .unwrap_err()
            .contains("unknown field")
    );
}

#[test]
fn unknown_fields_and_bad_values_are_refused() {
    assert!(
        parse("exchange = \"binance\"\nsymbols = []\nsymbol = \"x\"")
            .unwrap_err()
            .contains("unknown field")
    );
    assert!(parse("exchange = \"nyse\"\nsymbols = []").is_err());
    assert!(
        parse("exchange = \"binance\"\nsymbols = [\"BTC-USDT\"]\nstaleness = \"soon\"").is_err()
    );
    let base = ExchangeSourceConfig::new(Exchange::Binance, &["BTC-USDT"]);
    type Edit = Box<dyn Fn(&mut ExchangeSourceConfig)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("exchange", Box::new(|c| c.exchange = Exchange::Composite)),
        ("book_depth", Box::new(|c| c.book_depth = Some(25))),
        ("symbols", Box::new(|c| c.symbols.clear())),
        (
            "symbols[0]",
            Box::new(|c| c.symbols = vec!["NOTASYMBOL".into()]),
        ),
        (
            "symbols[0]",
            Box::new(|c| c.symbols = vec!["BTC-USDT-PERP".into()]),
        ),
        ("channels", Box::new(|c| c.channels.clear())),
        (
            "url",
            Box::new(|c| c.url = Some("http://example.com".into())),
        ),
        (
            "rest_url",
            Box::new(|c| c.rest_url = Some("not a url".into())),
        ),
        ("staleness", Box::new(|c| c.staleness = Duration::ZERO)),
        ("max_frame_bytes", Box::new(|c| c.max_frame_bytes = 10)),
        (
            "capture.rotate",
            Box::new(|c| {
                let mut capture = CaptureConfig::new("data/capture");
                capture.rotate = Duration::from_secs(7);
                c.capture = Some(capture);
            }),
        ),
        (
            "max_streams_per_connection",
            Box::new(|c| c.max_streams_per_connection = Some(0)),
        ),
        (
            "max_streams_per_connection",
            Box::new(|c| c.max_streams_per_connection = Some(1025)),
        ),
        (
            "max_connection_age",
            Box::new(|c| c.max_connection_age = Some(Window(Duration::from_secs(25 * 3600)))),
        ),
        (
            "backoff.max",
            Box::new(|c| c.backoff.max = Duration::from_millis(1)),
        ),
    ];
    for (field, edit) in cases {
        let mut config = base.clone();
        edit(&mut config);
        assert_eq!(field_of(&config), field);
    }
    let binance = ExchangeSourceConfig::new(Exchange::Binance, &["BTC-USDT"]);
    assert_eq!(
        binance.connection_age(),
        Some(Duration::from_secs(24 * 3600))
    );
    let mut coinbase = ExchangeSourceConfig::new(Exchange::Coinbase, &["BTC-USD"]);
    assert_eq!(coinbase.connection_age(), None);
    coinbase.max_connection_age = Some(Window(Duration::from_secs(48 * 3600)));
    coinbase.validate().unwrap();
    coinbase.channels = vec![Channel::AggTrades];
    assert_eq!(field_of(&coinbase), "channels");
}

#[test]
fn every_venue_maps_its_symbols_and_kinds() {
    let cases = [
        (Exchange::Kraken, "BTC-USD", "BTC-USD", "BTC/USD"),
        (Exchange::Kraken, "XBT/EUR", "BTC-EUR", "XBT/EUR"),
        (
            Exchange::Okx,
            "BTC-USDT-PERP",
            "BTC-USDT-PERP",
            "BTC-USDT-SWAP",
        ),
        (
            Exchange::Okx,
            "BTC-USD-20250328",
            "BTC-USD-20250328",
            "BTC-USD-250328",
        ),
        (
            Exchange::Okx,
            "ETH-USDT-SWAP",
            "ETH-USDT-PERP",
            "ETH-USDT-SWAP",
        ),
        (Exchange::Bitstamp, "BTC-USD", "BTC-USD", "btcusd"),
        (Exchange::Bitstamp, "ethusd", "ETH-USD", "ethusd"),
        (Exchange::Bybit, "BTC-USDT", "BTC-USDT", "BTCUSDT"),
    ];
    for (exchange, text, canonical, raw) in cases {
        let mut config = ExchangeSourceConfig::new(exchange, &[text]);
        config.channels = vec![Channel::Book];
        config.validate().unwrap();
        let subs = config.subscriptions().unwrap();
        assert_eq!(
            (subs[0].symbol.as_str(), subs[0].raw_symbol.as_str()),
            (canonical, raw),
            "{exchange} {text}"
        );
    }
    let perps = ExchangeSourceConfig::new(Exchange::Bybit, &["BTC-USDT-PERP", "ETHUSDT"]);
    assert_eq!(perps.bybit_market(), BybitMarket::Linear);
    assert_eq!(field_of(&perps), "symbols");
    let linear = ExchangeSourceConfig::new(Exchange::Bybit, &["BTC-USDT-PERP"]);
    assert_eq!(linear.subscriptions().unwrap()[0].raw_symbol, "BTCUSDT");
    for (exchange, text) in [
        (Exchange::Kraken, "BTC-USD-PERP"),
        (Exchange::Bitstamp, "BTC-USD-20250328"),
    ] {
        let config = ExchangeSourceConfig::new(exchange, &[text]);
        assert_eq!(field_of(&config), "symbols[0]");
    }
    let mut kraken = ExchangeSourceConfig::new(Exchange::Kraken, &["BTC-USD"]);
    kraken.book_depth = Some(50);
    assert_eq!(field_of(&kraken), "book_depth");
    kraken.book_depth = Some(25);
    kraken.validate().unwrap();
}
