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
