//! The Redis cache against a real Redis (`REDIS_URL`): the same reads as the embedded cache, updates over
//! pub/sub, and a Redis that stops answering and loses its data while events keep coming.

mod common;

use std::time::Duration;

use common::*;
use tickstream_api::Cache;
use tickstream_api::cache::{CacheConfig, Channel};
use tickstream_model::{Exchange, Interval};

/// The outage test pauses the whole server: the tests of this file take turns.
static SERVER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn redis_url() -> String {
    std::env::var("REDIS_URL")
        .expect("REDIS_URL must point at a Redis for this test (tests/run sets it)")
}

fn config(test: &str) -> CacheConfig {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    CacheConfig {
        redis_url: Some(redis_url()),
        key_prefix: format!("tickstream-test-{test}-{nonce}"),
        bars_cap: 3,
        signals_cap: 4,
        redis_timeout: Duration::from_millis(300),
        ..CacheConfig::default()
    }
}

async fn admin() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
#[ignore = "needs Redis: run by tests/run"]
async fn redis_cache_reads() {
    let _turn = SERVER.lock().await;
    let cache = Cache::open(&config("reads")).unwrap();
    assert!(matches!(cache, Cache::Redis(_)));
    check_reads(&cache).await;
    let health = cache.health().await;
    assert!(health.reachable && !health.degraded, "{health:?}");
}

#[tokio::test]
#[ignore = "needs Redis: run by tests/run"]
async fn redis_updates_reach_subscribers_of_another_instance() {
    let _turn = SERVER.lock().await;
    let config = config("pubsub");
    let writer = Cache::open(&config).unwrap();
    let reader = Cache::open(&config).unwrap();
    let mut updates = reader.subscribe();
    // The subscription is made in the background: write until one arrives.
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            writer
                .write(&[bar(Exchange::Okx, "ETH-USDT", Interval::M1, T0, 1.0)])
                .await;
            if let Ok(Ok(update)) =
                tokio::time::timeout(Duration::from_millis(200), updates.recv()).await
            {
                return update;
            }
        }
    })
    .await
    .expect("no update over pub/sub");
    assert_eq!(got.channel, Channel::Bars);
    assert_eq!(json(&got.json)["interval"], "1m");
}

#[tokio::test]
#[ignore = "needs Redis: run by tests/run"]
async fn redis_that_stalls_and_loses_its_data_converges() {
    let _turn = SERVER.lock().await;
    let config = config("outage");
    let prefix = config.key_prefix.clone();
    let config = CacheConfig {
        pending_updates_cap: 20,
        ..config
    };
    let cache = Cache::open(&config).unwrap();
    let ex = Exchange::Bitstamp;
    cache
        .write(&[
            trade(ex, "BTC-USD", T0, "100"),
            bar(ex, "BTC-USD", Interval::M1, T0, 7.0),
        ])
        .await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            cache
                .latest(ex, &sym("BTC-USD"))
                .await
                .is_ok_and(|l| l.is_some())
        })
        .await
    );

    // Redis loses the data, then stops answering for a while; the writer notices on its next write.
    let mut admin = admin().await;
    let latest_key = format!("{prefix}:latest:bitstamp:BTC-USD");
    let _: () = redis::cmd("DEL")
        .arg(&latest_key)
        .arg(format!("{prefix}:instruments"))
        .query_async(&mut admin)
        .await
        .unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1500)
        .arg("ALL")
        .query_async(&mut admin)
        .await
        .unwrap();
    for i in 1..=50 {
        cache
            .write(&[
                trade(ex, "BTC-USD", T0 + i, &format!("{}", 100 + i)),
                quote(ex, "BTC-USD", T0 + i),
            ])
            .await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let degraded = cache.health().await;
    assert!(degraded.degraded && !degraded.reachable, "{degraded:?}");
    // Two latest fields plus at most 20 updates to publish: the latest state, not every write.
    assert!(degraded.stats.pending <= 2 + 20, "{degraded:?}");
    assert!(degraded.stats.dropped_updates >= 80, "{degraded:?}");

    let converged = eventually(Duration::from_secs(15), || async {
        let Ok(Some(latest)) = cache.latest(ex, &sym("BTC-USD")).await else {
            return false;
        };
        latest.quote.is_some()
            && latest
                .trade
                .as_ref()
                .is_some_and(|t| json(t)["price"] == "150")
    })
    .await;
    assert!(
        converged,
        "the latest state was not written after Redis came back"
    );
    assert_eq!(
        cache.instruments().await.unwrap().len(),
        1,
        "the instrument set was written again"
    );
    let latest = cache.latest(ex, &sym("BTC-USD")).await.unwrap().unwrap();
    let bar = latest.intervals["1m"]
        .bar
        .as_ref()
        .expect("the bar from before the outage was written again");
    assert_eq!(json(bar)["close"], 7.0);
    assert!(
        eventually(Duration::from_secs(5), || async {
            !cache.health().await.degraded
        })
        .await
    );
    let stats = cache.health().await.stats;
    assert!(stats.write_errors >= 1, "{stats:?}");
}

#[tokio::test]
#[ignore = "needs Redis: run by tests/run"]
async fn endpoints_serve_from_redis() {
    use axum::http::StatusCode;
    use common::app::*;
    use tickstream_api::ApiConfig;
    use tickstream_api::keys::Scope;

    let _turn = SERVER.lock().await;
    let cache = Cache::open(&config("endpoints")).unwrap();
    let app = app_over(ApiConfig::default(), cache.clone());
    let (key, text) = issue("reader", &[Scope::Read], "pro");
    app.keys.replace(vec![key]);
    let ex = Exchange::Okx;
    cache
        .write(&[
            trade(ex, "ETH-USDT", T0, "2051.95"),
            bar(ex, "ETH-USDT", Interval::M1, T0, 1.0),
            bar(ex, "ETH-USDT", Interval::M1, T0 + MINUTE, 2.0),
            signal(ex, "ETH-USDT", T0, "cross"),
        ])
        .await;
    let uri = "/v1/bars?exchange=okx&symbol=ETH-USDT&interval=1m";
    assert!(
        eventually(Duration::from_secs(5), || async {
            call(&app.router, get(uri, Some(&text))).await.0 == StatusCode::OK
        })
        .await
    );
    let (_, _, body) = call(&app.router, get(uri, Some(&text))).await;
    assert_eq!(body["bars"][0]["close"], 2.0);
    let (status, _, body) = call(
        &app.router,
        get("/v1/latest?exchange=okx&symbol=ETH-USDT", Some(&text)),
    )
    .await;
    assert_eq!(
        (status, body["trade"]["price"].as_str()),
        (StatusCode::OK, Some("2051.95"))
    );
    let (status, _, _) = call(
        &app.router,
        get("/v1/latest?exchange=okx&symbol=XRP-USDT", Some(&text)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, body) = call(&app.router, get("/v1/signals?symbol=ETH-USDT", Some(&text))).await;
    assert_eq!(body["signals"][0]["rule"], "cross");
    let (_, _, body) = call(&app.router, get("/v1/instruments", Some(&text))).await;
    assert_eq!(body["instruments"][0]["symbol"], "ETH-USDT");
    let (status, _, body) = call(&app.router, get("/readyz", None)).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
}

#[tokio::test]
#[ignore = "needs Redis: run by tests/run"]
async fn redis_key_store_revocation_reaches_every_instance() {
    use std::collections::BTreeSet;
    use tickstream_api::keys::{
        KeyRejection, KeyRing, KeyStore, KeyStoreConfig, NewKey, Scope, spawn_reload,
    };
    use tickstream_model::UnixNanos;

    let _turn = SERVER.lock().await;
    let store_config = KeyStoreConfig::Redis {
        url: redis_url(),
        key: format!("{}:keys", config("keys").key_prefix),
    };
    let admin_store = KeyStore::open(&store_config).unwrap();
    let new = NewKey {
        name: "app".into(),
        scopes: BTreeSet::from([Scope::Read]),
        tier: "free".into(),
        expires_at: None,
    };
    let issued = admin_store.create(new, UnixNanos(T0)).await.unwrap();
    let rings = [KeyRing::default(), KeyRing::default()];
    let mut tasks = Vec::new();
    for ring in &rings {
        let store = KeyStore::open(&store_config).unwrap();
        tasks.push(
            spawn_reload(store, ring.clone(), Duration::from_millis(500))
                .await
                .unwrap(),
        );
        assert!(ring.authenticate(&issued.text, UnixNanos(T0)).is_ok());
    }
    assert_eq!(admin_store.list().await.unwrap().len(), 1);
    admin_store
        .revoke(&issued.key.id, UnixNanos(T0))
        .await
        .unwrap();
    let revoked = eventually(Duration::from_millis(1_200), || async {
        rings
            .iter()
            .all(|r| r.authenticate(&issued.text, UnixNanos(T0)) == Err(KeyRejection::Revoked))
    })
    .await;
    assert!(
        revoked,
        "every instance refuses the key within about a second"
    );
    tasks.iter().for_each(|t| t.abort());
}

#[tokio::test]
#[ignore = "needs Redis: run by tests/run"]
async fn a_batch_redis_refuses_is_dropped_and_writing_goes_on() {
    let _turn = SERVER.lock().await;
    let config = config("refused");
    let prefix = config.key_prefix.clone();
    let mut admin = admin().await;
    // A key of the wrong type makes HSET fail with WRONGTYPE.
    let _: () = redis::cmd("SET")
        .arg(format!("{prefix}:latest:okx:ETH-USDT"))
        .arg("not a hash")
        .query_async(&mut admin)
        .await
        .unwrap();
    let cache = Cache::open(&config).unwrap();
    cache
        .write(&[trade(Exchange::Okx, "ETH-USDT", T0, "1")])
        .await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            cache.health().await.stats.rejected_batches == 1
        })
        .await
    );
    cache
        .write(&[trade(Exchange::Okx, "BTC-USDT", T0, "2")])
        .await;
    let written = eventually(Duration::from_secs(5), || async {
        cache
            .latest(Exchange::Okx, &sym("BTC-USDT"))
            .await
            .is_ok_and(|l| l.is_some())
    })
    .await;
    assert!(written, "a refused batch must not block later writes");
    assert!(!cache.health().await.degraded);
}
