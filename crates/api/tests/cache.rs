//! The embedded cache: reads, caps, ordering and the update broadcast.

mod common;

use std::time::Duration;

use common::*;
use tickstream_api::Cache;
use tickstream_api::cache::{CacheConfig, Channel};
use tickstream_model::Exchange;

fn small() -> CacheConfig {
    CacheConfig {
        bars_cap: 3,
        signals_cap: 4,
        broadcast_capacity: 8,
        ..CacheConfig::default()
    }
}

#[tokio::test]
async fn embedded_cache_reads() {
    let cache = Cache::open(&small()).unwrap();
    assert!(matches!(cache, Cache::Embedded(_)));
    check_reads(&cache).await;
    let health = cache.health().await;
    assert!(health.reachable && !health.degraded);
}

#[tokio::test]
async fn embedded_cache_broadcasts_every_update_and_skips_books() {
    let cache = Cache::open(&small()).unwrap();
    let mut updates = cache.subscribe();
    cache
        .write(&[
            trade(Exchange::Kraken, "BTC-USD", T0, "1"),
            quote(Exchange::Kraken, "BTC-USD", T0),
        ])
        .await;
    let first = tokio::time::timeout(Duration::from_secs(1), updates.recv())
        .await
        .unwrap()
        .unwrap();
    let second = updates.recv().await.unwrap();
    assert_eq!(
        (first.channel, second.channel),
        (Channel::Trades, Channel::Quotes)
    );
    assert_eq!(json(&first.json)["exchange"], "kraken");
}

#[test]
fn config_validation_names_the_field() {
    let bad = CacheConfig {
        bars_cap: 0,
        ..CacheConfig::default()
    };
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .starts_with("bars_cap")
    );
    let bad = CacheConfig {
        redis_url: Some("nope://x".into()),
        ..CacheConfig::default()
    };
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .starts_with("redis_url")
    );
    let parsed: CacheConfig =
        serde_json::from_str(r#"{"redis_url":"redis://127.0.0.1:6379","redis_timeout":"250ms"}"#)
            .unwrap();
    assert_eq!(parsed.redis_timeout, Duration::from_millis(250));
    assert!(serde_json::from_str::<CacheConfig>(r#"{"bars":1}"#).is_err());
}

#[tokio::test]
async fn unreachable_redis_degrades_instead_of_failing() {
    use axum::http::StatusCode;
    use common::app::*;

    // Nothing listens on port 1: the cache opens, writes are held, readiness says degraded.
    let config = CacheConfig {
        redis_url: Some("redis://127.0.0.1:1".into()),
        pending_updates_cap: 5,
        redis_timeout: Duration::from_millis(200),
        ..small()
    };
    let cache = Cache::open(&config).unwrap();
    for i in 0..20 {
        cache
            .write(&[trade(Exchange::Okx, "ETH-USDT", T0 + i, "1")])
            .await;
    }
    let degraded = eventually(Duration::from_secs(5), || async {
        cache.health().await.degraded
    })
    .await;
    assert!(degraded);
    let health = cache.health().await;
    assert!(!health.reachable);
    assert!(health.stats.pending <= 1 + 5, "{health:?}");
    assert!(cache.instruments().await.is_err(), "reads report the error");

    let app = app_over(tickstream_api::ApiConfig::default(), cache);
    let (status, _, body) = call(&app.router, get("/readyz", None)).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("degraded"))
    );
}

#[test]
fn api_config_validation_names_the_field() {
    use tickstream_api::ApiConfig;
    use tickstream_api::rate_limit::TierConfig;

    ApiConfig::default().validate().unwrap();
    let parsed: ApiConfig = serde_json::from_value(serde_json::json!({
        "listen": "0.0.0.0:9000",
        "keys": {"kind": "redis", "url": "redis://127.0.0.1:6379"},
        "tiers": {"gold": {"per_second": 5, "burst": 10}},
        "default_tier": "gold",
        "ws_send_timeout": "2s"
    }))
    .unwrap();
    parsed.validate().unwrap();
    assert_eq!(parsed.ws_send_timeout, Duration::from_secs(2));
    let field = |c: ApiConfig| c.validate().unwrap_err().to_string();
    assert!(
        field(ApiConfig {
            default_tier: "gold".into(),
            ..ApiConfig::default()
        })
        .starts_with("default_tier")
    );
    let mut zero = ApiConfig::default();
    zero.tiers.insert(
        "zero".into(),
        TierConfig {
            per_second: 0,
            burst: 1,
        },
    );
    assert!(field(zero).starts_with("tiers.zero.per_second"));
    assert!(
        field(ApiConfig {
            key_reload: Duration::from_secs(5),
            ..ApiConfig::default()
        })
        .starts_with("key_reload")
    );
    assert!(
        field(ApiConfig {
            max_bars_limit: 0,
            ..ApiConfig::default()
        })
        .starts_with("max_bars_limit")
    );
    assert!(serde_json::from_value::<ApiConfig>(serde_json::json!({"listen_on": "x"})).is_err());
}
