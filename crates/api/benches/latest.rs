//! In-process cost of one `GET /v1/latest`: key check (SHA-256, constant-time compare), rate-limit token,
//! embedded cache read, JSON response and metrics, through the router without a socket.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use tickstream_api::keys::{ApiKey, KeyRing, Scope, generate_key, hash_key};
use tickstream_api::rate_limit::TierConfig;
use tickstream_api::{ApiConfig, AppState, Cache, CacheConfig, router};
use tickstream_model::{Event, UnixNanos};
use tower::ServiceExt;

const EXAMPLES: [&str; 4] = [
    include_str!("../../../schemas/examples/trade.v1.json"),
    include_str!("../../../schemas/examples/bar.v1.json"),
    include_str!("../../../schemas/examples/indicator.v1.json"),
    include_str!("../../../schemas/examples/quote.v1.json"),
];

fn latest(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (app, text) = runtime.block_on(async {
        let cache = Cache::open(&CacheConfig::default()).unwrap();
        let events: Vec<Event> = EXAMPLES
            .iter()
            .map(|t| serde_json::from_str(t).unwrap())
            .collect();
        cache.write(&events).await;
        let (id, text) = generate_key().unwrap();
        let key = ApiKey {
            id,
            name: "bench".into(),
            scopes: [Scope::Read].into(),
            tier: "pro".into(),
            created_at: UnixNanos(0),
            expires_at: None,
            revoked_at: None,
            sha256: hash_key(&text).iter().map(|b| format!("{b:02x}")).collect(),
        };
        let mut config = ApiConfig::default();
        config.tiers.insert(
            "pro".into(),
            TierConfig {
                per_second: u32::MAX,
                burst: u32::MAX,
            },
        );
        let state = AppState::new(config, cache, KeyRing::new(vec![key])).unwrap();
        (router(state), Arc::<str>::from(format!("Bearer {text}")))
    });
    c.bench_function("GET /v1/latest (auth, rate limit, embedded cache)", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let request = Request::get("/v1/latest?exchange=coinbase&symbol=BTC-USD")
                    .header("authorization", &*text)
                    .body(Body::empty())
                    .unwrap();
                let response = app.clone().oneshot(request).await.unwrap();
                assert!(response.status().is_success());
                response.into_body().collect().await.unwrap().to_bytes()
            })
        })
    });
}

criterion_group!(benches, latest);
criterion_main!(benches);
