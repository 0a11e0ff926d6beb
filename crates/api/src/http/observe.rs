//! Liveness, readiness and Prometheus metrics: request counts and latency quantiles per route and status,
//! request counts per key id, and the cache writer's counters.

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use super::AppState;
use crate::cache::CacheHealth;

/// The API's own metrics registry (not the process-global recorder, so that several routers can live in
/// one process).
#[derive(Debug, Clone)]
pub struct ApiMetrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
}

impl Default for ApiMetrics {
    fn default() -> ApiMetrics {
        let builder = PrometheusBuilder::new();
        let builder = match builder.set_quantiles(&[0.5, 0.95, 0.99]) {
            Ok(b) => b,
            Err(_) => PrometheusBuilder::new(),
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        ApiMetrics {
            recorder: Arc::new(recorder),
            handle,
        }
    }
}

impl ApiMetrics {
    pub(crate) fn request(&self, route: String, method: &str, status: u16, elapsed: Duration) {
        let method = method.to_owned();
        let status = status.to_string();
        metrics::with_local_recorder(&*self.recorder, || {
            let labels = [("route", route), ("method", method), ("status", status)];
            metrics::counter!("tickstream_api_requests_total", &labels).increment(1);
            metrics::histogram!("tickstream_api_request_duration_seconds", &labels)
                .record(elapsed.as_secs_f64());
        });
    }

    pub(crate) fn key_request(&self, key_id: &str) {
        let labels = [("key_id", key_id.to_owned())];
        metrics::with_local_recorder(&*self.recorder, || {
            metrics::counter!("tickstream_api_key_requests_total", &labels).increment(1);
        });
    }

    pub(crate) fn stream_disconnect(&self, reason: &'static str) {
        metrics::with_local_recorder(&*self.recorder, || {
            metrics::counter!("tickstream_api_stream_disconnects_total", "reason" => reason)
                .increment(1);
        });
    }

    /// Folds recent samples into the quantile summaries; call now and then.
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }

    fn render(&self, cache: &CacheHealth) -> String {
        let mut text = self.handle.render();
        let stats = &cache.stats;
        let gauges = [
            (
                "tickstream_cache_reachable",
                "Cache reads work (1) or not (0).",
                "gauge",
                u64::from(cache.reachable),
            ),
            (
                "tickstream_cache_degraded",
                "Cache writes are held back (1).",
                "gauge",
                u64::from(cache.degraded),
            ),
            (
                "tickstream_cache_pending_updates",
                "Updates waiting to be written.",
                "gauge",
                stats.pending as u64,
            ),
            (
                "tickstream_cache_dropped_updates_total",
                "Updates not published (buffer full).",
                "counter",
                stats.dropped_updates,
            ),
            (
                "tickstream_cache_write_errors_total",
                "Failed cache write rounds.",
                "counter",
                stats.write_errors,
            ),
        ];
        for (name, help, kind, value) in gauges {
            let _ = write!(
                text,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            );
        }
        text
    }
}

/// Counts and times every request by its route pattern (not its path, which would explode the labels).
pub(crate) async fn record(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let route = match request.extensions().get::<MatchedPath>() {
        Some(path) => path.as_str().to_owned(),
        None => "unmatched".to_owned(),
    };
    let method = request.method().clone();
    let start = tokio::time::Instant::now();
    let response = next.run(request).await;
    state.0.metrics.request(
        route,
        method.as_str(),
        response.status().as_u16(),
        start.elapsed(),
    );
    response
}

/// `{"status": "ok"}` or `{"status": "ready" | "degraded", ...}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Status {
    /// `ok` (liveness), `ready`, or `degraded` (the cache cannot be read or its writes are held back).
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Status)))]
pub(crate) async fn healthz() -> Json<Status> {
    Json(Status {
        status: "ok".into(),
        detail: None,
    })
}

/// Readiness: the cache can be read and written.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "Ready", body = Status),
    (status = 503, description = "Degraded: the cache is unreachable or its writes are held back", body = Status)
))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let health = state.0.cache.health().await;
    if health.reachable && !health.degraded {
        return Json(Status {
            status: "ready".into(),
            detail: None,
        })
        .into_response();
    }
    let body = Status {
        status: "degraded".into(),
        detail: Some(health.detail),
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

/// Prometheus metrics in the text format.
#[utoipa::path(get, path = "/metrics", tag = "health", responses(
    (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")
))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let health = state.0.cache.health().await;
    let text = state.0.metrics.render(&health);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
