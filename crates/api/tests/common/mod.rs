//! Shared test material: events shaped like `schemas/examples/*.json` and the cache behaviour every cache
//! implementation must show.
#![allow(dead_code)]

pub mod app;

use std::collections::BTreeMap;
use std::time::Duration;

use tickstream_api::Cache;
use tickstream_api::cache::SignalQuery;
use tickstream_model::{
    AggressorSide, Bar, Direction, Event, Exchange, IndicatorValues, Interval, Quote, Signal,
    Symbol, Trade, UnixNanos,
};

pub const T0: i64 = 1_700_000_000_000_000_000;
pub const MINUTE: i64 = 60_000_000_000;

pub fn sym(text: &str) -> Symbol {
    Symbol::parse(text).unwrap()
}

pub fn trade(exchange: Exchange, symbol: &str, ts: i64, price: &str) -> Event {
    Event::Trade(Trade {
        exchange,
        symbol: sym(symbol),
        raw_symbol: symbol.into(),
        ts_event: UnixNanos(ts),
        ts_recv: UnixNanos(ts + 1_000_000),
        trade_id: format!("{ts}"),
        price: price.parse().unwrap(),
        quantity: "0.00081230".parse().unwrap(),
        side: AggressorSide::Buy,
    })
}

pub fn quote(exchange: Exchange, symbol: &str, ts: i64) -> Event {
    Event::Quote(Quote {
        exchange,
        symbol: sym(symbol),
        raw_symbol: symbol.into(),
        ts_event: UnixNanos(ts),
        ts_recv: UnixNanos(ts + 1_000_000),
        bid_price: "25.35190000".parse().unwrap(),
        bid_size: "31.21000000".parse().unwrap(),
        ask_price: "25.36520000".parse().unwrap(),
        ask_size: "40.66000000".parse().unwrap(),
    })
}

pub fn bar(
    exchange: Exchange,
    symbol: &str,
    interval: Interval,
    open_time: i64,
    close: f64,
) -> Event {
    Event::Bar(Bar {
        exchange,
        symbol: sym(symbol),
        interval,
        open_time: UnixNanos(open_time),
        close_time: UnixNanos(open_time + MINUTE),
        open: 2051.32,
        high: 2052.1,
        low: 2050.87,
        close,
        volume: 41.2513,
        quote_volume: 84634.1732,
        trades: 187,
        vwap: 2051.6789,
        buy_volume: 22.104,
        sell_volume: 19.1473,
        gap: false,
    })
}

pub fn indicator(
    exchange: Exchange,
    symbol: &str,
    interval: Interval,
    open_time: i64,
    sma: f64,
) -> Event {
    Event::Indicator(IndicatorValues {
        exchange,
        symbol: sym(symbol),
        interval,
        open_time: UnixNanos(open_time),
        close_time: UnixNanos(open_time + MINUTE),
        values: BTreeMap::from([("sma_20".to_owned(), sma)]),
    })
}

pub fn signal(exchange: Exchange, symbol: &str, ts: i64, rule: &str) -> Event {
    Event::Signal(Signal {
        id: format!("{rule}:{exchange}:{symbol}:{ts}"),
        ts: UnixNanos(ts),
        exchange,
        symbol: Some(sym(symbol)),
        interval: Some(Interval::M1),
        rule: rule.to_owned(),
        direction: Direction::Up,
        values: BTreeMap::from([("ema_12".to_owned(), 2050.91)]),
    })
}

pub fn json(raw: &serde_json::value::RawValue) -> serde_json::Value {
    serde_json::from_str(raw.get()).unwrap()
}

/// Polls `check` until it holds or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What every cache must do with the same writes. `bars_cap` and `signals_cap` are the cache's settings,
/// expected to be 3 and 4.
pub async fn check_reads(cache: &Cache) {
    let ex = Exchange::Okx;
    let mut events = vec![
        trade(ex, "ETH-USDT", T0, "2051.10"),
        trade(ex, "ETH-USDT", T0 + 5, "2051.95"),
    ];
    events.push(quote(Exchange::Binance, "BNB-USDT", T0));
    for i in 0..5 {
        events.push(bar(
            ex,
            "ETH-USDT",
            Interval::M1,
            T0 + i * MINUTE,
            2050.0 + i as f64,
        ));
    }
    // A revision of the newest bar and a late, older indicator.
    events.push(bar(ex, "ETH-USDT", Interval::M1, T0 + 4 * MINUTE, 3000.0));
    events.push(indicator(ex, "ETH-USDT", Interval::M1, T0 + MINUTE, 1.0));
    events.push(indicator(ex, "ETH-USDT", Interval::M1, T0, 0.5));
    for i in 0..6 {
        let symbol = if i % 2 == 0 { "ETH-USDT" } else { "BTC-USDT" };
        events.push(signal(ex, symbol, T0 + i, &format!("rule_{i}")));
    }
    cache.write(&events).await;

    let ready = eventually(Duration::from_secs(10), || async {
        let signals = cache
            .signals(&SignalQuery {
                exchange: None,
                symbol: None,
                since: None,
                limit: 10,
            })
            .await;
        signals.is_ok_and(|s| s.len() == 4)
    })
    .await;
    assert!(ready, "the writes did not arrive");

    let instruments = cache.instruments().await.unwrap();
    let names: Vec<String> = instruments
        .iter()
        .map(|i| format!("{}:{}", i.exchange, i.symbol))
        .collect();
    assert_eq!(names, ["binance:BNB-USDT", "okx:ETH-USDT"]);

    let latest = cache
        .latest(ex, &sym("ETH-USDT"))
        .await
        .unwrap()
        .expect("known instrument");
    assert_eq!(json(latest.trade.as_ref().unwrap())["price"], "2051.95");
    assert!(latest.quote.is_none());
    let m1 = &latest.intervals["1m"];
    assert_eq!(json(m1.bar.as_ref().unwrap())["close"], 3000.0);
    assert_eq!(
        json(m1.indicators.as_ref().unwrap())["values"]["sma_20"],
        1.0
    );
    assert_eq!(
        json(m1.bar.as_ref().unwrap())["type"],
        "bar",
        "values are the schema JSON with its tag"
    );
    assert!(cache.latest(ex, &sym("XRP-USDT")).await.unwrap().is_none());

    let bars = cache
        .bars(ex, &sym("ETH-USDT"), Interval::M1, 10)
        .await
        .unwrap()
        .unwrap();
    let closes: Vec<f64> = bars
        .iter()
        .map(|b| json(b)["close"].as_f64().unwrap())
        .collect();
    assert_eq!(
        closes,
        [3000.0, 2053.0, 2052.0],
        "newest first, capped at 3"
    );
    let two = cache
        .bars(ex, &sym("ETH-USDT"), Interval::M1, 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(two.len(), 2);
    let none = cache
        .bars(ex, &sym("ETH-USDT"), Interval::H1, 10)
        .await
        .unwrap()
        .unwrap();
    assert!(none.is_empty());
    assert!(
        cache
            .bars(ex, &sym("XRP-USDT"), Interval::M1, 10)
            .await
            .unwrap()
            .is_none()
    );

    let all = cache
        .signals(&SignalQuery {
            exchange: None,
            symbol: None,
            since: None,
            limit: 10,
        })
        .await
        .unwrap();
    let rules: Vec<String> = all
        .iter()
        .map(|s| json(s)["rule"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        rules,
        ["rule_5", "rule_4", "rule_3", "rule_2"],
        "newest first, capped at 4"
    );
    let eth = SignalQuery {
        exchange: Some(ex),
        symbol: Some(sym("ETH-USDT")),
        since: Some(UnixNanos(T0 + 3)),
        limit: 10,
    };
    let rules: Vec<String> = cache
        .signals(&eth)
        .await
        .unwrap()
        .iter()
        .map(|s| json(s)["rule"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(rules, ["rule_4"]);
    let one = SignalQuery {
        exchange: None,
        symbol: None,
        since: None,
        limit: 1,
    };
    assert_eq!(cache.signals(&one).await.unwrap().len(), 1);
}

/// A fresh, unique directory under the system temp dir.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("tickstream-api-{name}-{nonce}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A key record and its text, made without a store.
pub fn issue(
    name: &str,
    scopes: &[tickstream_api::keys::Scope],
    tier: &str,
) -> (tickstream_api::keys::ApiKey, String) {
    let (id, text) = tickstream_api::keys::generate_key().unwrap();
    let key = tickstream_api::keys::ApiKey {
        id,
        name: name.to_owned(),
        scopes: scopes.iter().copied().collect(),
        tier: tier.to_owned(),
        created_at: UnixNanos(T0),
        expires_at: None,
        revoked_at: None,
        sha256: hex_sha256(&text),
    };
    (key, text)
}

pub fn hex_sha256(text: &str) -> String {
    tickstream_api::keys::hash_key(text)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
