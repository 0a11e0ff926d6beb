//! The HTTP/WebSocket API: `router(state)` serves health, metrics, the OpenAPI document and docs page
//! without a key, and the `/v1` reads, stream and key listing behind keys, scopes and rate limits.

mod admin;
mod auth;
mod docs;
mod market;
mod observe;
mod problem;
mod stream;

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::response::Redirect;
use axum::routing::get;
use tickstream_model::UnixNanos;

pub use self::auth::Caller;
pub use self::docs::openapi_document;
pub use self::observe::ApiMetrics;
pub use self::problem::{ApiError, ErrorBody, ErrorDetail};
use crate::Error;
use crate::cache::Cache;
use crate::config::ApiConfig;
use crate::keys::KeyRing;
use crate::rate_limit::RateLimits;

/// The wall clock used for key expiry and revocation (replaceable in tests).
pub type WallClock = Arc<dyn Fn() -> UnixNanos + Send + Sync>;

/// The system clock as UTC nanoseconds.
pub fn system_clock() -> UnixNanos {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    UnixNanos(i64::try_from(since.as_nanos()).unwrap_or(i64::MAX))
}

pub(crate) struct Shared {
    pub(crate) cache: Cache,
    pub(crate) keys: KeyRing,
    pub(crate) limits: RateLimits,
    pub(crate) metrics: ApiMetrics,
    pub(crate) config: ApiConfig,
    pub(crate) clock: WallClock,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("cache", &self.cache)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// Everything the handlers share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState(pub(crate) Arc<Shared>);

impl AppState {
    /// Checks `config` and builds the state; `keys` is kept current by [`crate::keys::spawn_reload`].
    pub fn new(config: ApiConfig, cache: Cache, keys: KeyRing) -> Result<AppState, Error> {
        AppState::with_clock(config, cache, keys, Arc::new(system_clock))
    }

    pub fn with_clock(
        config: ApiConfig,
        cache: Cache,
        keys: KeyRing,
        clock: WallClock,
    ) -> Result<AppState, Error> {
        config.validate()?;
        let limits = RateLimits::new(&config.tiers, &config.default_tier, config.anonymous);
        Ok(AppState(Arc::new(Shared {
            cache,
            keys,
            limits,
            metrics: ApiMetrics::default(),
            config,
            clock,
        })))
    }

    pub fn metrics(&self) -> &ApiMetrics {
        &self.0.metrics
    }

    pub fn rate_limits(&self) -> &RateLimits {
        &self.0.limits
    }
}

/// The API's routes.
pub fn router(state: AppState) -> Router {
    let read = Router::new()
        .route("/v1/instruments", get(market::instruments))
        .route("/v1/latest", get(market::latest))
        .route("/v1/bars", get(market::bars))
        .route("/v1/signals", get(market::signals))
        .route_layer(from_fn_with_state(state.clone(), auth::require_read));
    let stream = Router::new()
        .route("/v1/stream", get(stream::stream))
        .route_layer(from_fn_with_state(state.clone(), auth::require_stream));
    let admin = Router::new()
        .route("/v1/keys", get(admin::keys))
        .route_layer(from_fn_with_state(state.clone(), auth::require_admin));
    Router::new()
        .route("/", get(|| async { Redirect::to("/docs") }))
        .route("/healthz", get(observe::healthz))
        .route("/readyz", get(observe::readyz))
        .route("/metrics", get(observe::metrics))
        .route("/openapi.json", get(docs::openapi))
        .route("/docs", get(docs::page))
        .merge(read)
        .merge(stream)
        .merge(admin)
        .fallback(problem::not_found)
        .method_not_allowed_fallback(problem::method_not_allowed)
        .layer(from_fn_with_state(state.clone(), observe::record))
        .with_state(state)
}
