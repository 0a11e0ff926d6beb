//! Building a router over the embedded cache with a settable wall clock, and calling it with `oneshot`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tickstream_api::keys::KeyRing;
use tickstream_api::{ApiConfig, AppState, Cache, CacheConfig, router};
use tickstream_model::UnixNanos;
use tower::ServiceExt;

use super::T0;

#[derive(Debug)]
pub struct App {
    pub router: Router,
    pub cache: Cache,
    pub keys: KeyRing,
    pub now: Arc<AtomicI64>,
    pub state: AppState,
}

pub fn app(config: ApiConfig) -> App {
    app_over(config, Cache::open(&CacheConfig::default()).unwrap())
}

pub fn app_over(config: ApiConfig, cache: Cache) -> App {
    let keys = KeyRing::default();
    let now = Arc::new(AtomicI64::new(T0));
    let clock = {
        let now = now.clone();
        Arc::new(move || UnixNanos(now.load(Ordering::Relaxed)))
    };
    let state = AppState::with_clock(config, cache.clone(), keys.clone(), clock).unwrap();
    App {
        router: router(state.clone()),
        cache,
        keys,
        now,
        state,
    }
}

pub async fn call(router: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, headers, body)
}

pub fn get(uri: &str, key: Option<&str>) -> Request<Body> {
    let mut request = Request::get(uri);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    request.body(Body::empty()).unwrap()
}
