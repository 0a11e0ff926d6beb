//! `tickstream run --metrics-listen ADDR`: the process-wide Prometheus recorder (the connectors', Kafka
//! clients', operators' and lake's counters) served as `GET /metrics`, with `GET /healthz`, for the run's
//! lifetime. Same text format, content type and quantiles as the API's `/metrics` under `serve`.

use std::net::SocketAddr;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

/// `GET /metrics` (Prometheus text format) and `GET /healthz` (`{"status":"ok"}`) over `handle`.
pub fn router(handle: PrometheusHandle) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let handle = handle.clone();
                async move {
                    // Fold recent samples into the quantile summaries before rendering.
                    handle.run_upkeep();
                    (
                        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        handle.render(),
                    )
                        .into_response()
                }
            }),
        )
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
}

/// The metrics server of a run; stops when dropped.
#[derive(Debug)]
pub struct MetricsServer {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves the process-wide recorder's `handle` on `addr` (port 0 picks a free port; the bound address is
/// printed on standard error).
pub async fn serve(addr: SocketAddr, handle: PrometheusHandle) -> anyhow::Result<MetricsServer> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("--metrics-listen {addr}: {e}"))?;
    let addr = listener.local_addr()?;
    let app = router(handle);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("the metrics endpoint stopped: {e}");
        }
    });
    eprintln!("metrics on http://{addr}/metrics");
    Ok(MetricsServer { task })
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn get_text(app: Router, path: &str) -> (StatusCode, String, String) {
        let response = app
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn metrics_renders_what_was_recorded_and_healthz_answers() {
        let recorder = crate::observe::metric_samples::builder().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("tickstream_late_trades_total", "exchange" => "kraken").increment(3);
            for ms in [1.0, 2.0, 40.0] {
                metrics::histogram!("tickstream_example_seconds").record(ms / 1000.0);
            }
        });
        let app = router(handle);
        let (status, content_type, text) = get_text(app.clone(), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "text/plain; version=0.0.4");
        assert!(
            text.contains("tickstream_late_trades_total{exchange=\"kraken\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("tickstream_example_seconds{quantile=\"0.99\"}"),
            "{text}"
        );
        assert!(
            text.contains("tickstream_example_seconds_count 3"),
            "{text}"
        );
        let (status, _, body) = get_text(app.clone(), "/healthz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, r#"{"status":"ok"}"#);
        let (status, _, _) = get_text(app, "/nothing").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
