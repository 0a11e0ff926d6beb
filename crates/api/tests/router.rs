//! Router tests with `oneshot`: every endpoint, error code and scope rule, against the embedded cache.

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use common::app::*;
use common::*;
use serde_json::Value;
use tickstream_api::ApiConfig;
use tickstream_api::keys::Scope;
use tickstream_api::rate_limit::TierConfig;
use tickstream_model::{Exchange, Interval, UnixNanos};

fn from_ip(mut request: Request<Body>, ip: [u8; 4]) -> Request<Body> {
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((ip, 40000))));
    request
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

async fn filled(config: ApiConfig) -> (App, String) {
    let app = app(config);
    let (key, text) = issue("reader", &[Scope::Read], "pro");
    app.keys.replace(vec![key]);
    let ex = Exchange::Okx;
    let mut events = vec![
        trade(ex, "ETH-USDT", T0, "2051.95"),
        quote(ex, "ETH-USDT", T0),
    ];
    for i in 0..4 {
        events.push(bar(
            ex,
            "ETH-USDT",
            Interval::M1,
            T0 + i * MINUTE,
            2050.0 + i as f64,
        ));
    }
    events.push(indicator(ex, "ETH-USDT", Interval::M1, T0, 1.5));
    for i in 0..3 {
        events.push(signal(ex, "ETH-USDT", T0 + i, &format!("rule_{i}")));
    }
    events.push(signal(Exchange::Binance, "BTC-USDT", T0 + 10, "other"));
    app.cache.write(&events).await;
    (app, text)
}

#[tokio::test]
async fn health_readiness_and_docs_need_no_key() {
    let app = app(ApiConfig::default());
    let (status, _, body) = call(&app.router, get("/healthz", None)).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, _, body) = call(&app.router, get("/readyz", None)).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );

    let (status, headers, doc) = call(&app.router, get("/openapi.json", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/latest",
        "/v1/bars",
        "/v1/signals",
        "/v1/instruments",
        "/v1/stream",
        "/healthz",
    ] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} missing");
    }
    let schemas = &doc["components"]["schemas"];
    for name in [
        "trade.v1",
        "quote.v1",
        "bar.v1",
        "indicator.v1",
        "signal.v1",
        "Decimal",
        "ErrorBody",
    ] {
        assert!(schemas[name].is_object(), "{name} missing");
    }
    assert!(
        !doc.to_string().contains("#/$defs/"),
        "every reference points into components"
    );
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    let (status, headers, page) = call(&app.router, get("/docs", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = page.as_str().unwrap();
    assert!(page.contains("GET /v1/latest") && page.contains("trade.v1"));
    assert!(
        !page.contains("<script") && !page.contains("src=\"http"),
        "no external assets"
    );
}

#[tokio::test]
async fn latest_returns_the_current_state_and_names_bad_parameters() {
    let (app, key) = filled(ApiConfig::default()).await;
    let (status, headers, body) = call(
        &app.router,
        get("/v1/latest?exchange=okx&symbol=ETH-USDT", Some(&key)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["trade"]["price"], "2051.95");
    assert_eq!(body["quote"]["type"], "quote");
    assert_eq!(body["intervals"]["1m"]["bar"]["close"], 2053.0);
    assert_eq!(
        body["intervals"]["1m"]["indicators"]["values"]["sma_20"],
        1.5
    );
    assert!(headers.contains_key("ratelimit-remaining"));

    let cases = [
        ("/v1/latest?symbol=ETH-USDT", "exchange"),
        ("/v1/latest?exchange=nyse&symbol=ETH-USDT", "exchange"),
        ("/v1/latest?exchange=okx", "symbol"),
        ("/v1/latest?exchange=okx&symbol=eth/usdt", "symbol"),
    ];
    for (uri, parameter) in cases {
        let (status, _, body) = call(&app.router, get(uri, Some(&key))).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "bad_parameter"),
            "{uri}"
        );
        assert!(message(&body).starts_with(parameter), "{uri}: {body}");
    }
    let (status, _, body) = call(
        &app.router,
        get("/v1/latest?exchange=okx&symbol=XRP-USDT", Some(&key)),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "unknown_instrument")
    );

    let (status, _, body) = call(&app.router, get("/v1/instruments", Some(&key))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["instruments"],
        serde_json::json!([{"exchange": "okx", "symbol": "ETH-USDT"}])
    );
}

#[tokio::test]
async fn bars_are_newest_first_with_a_capped_limit() {
    let (app, key) = filled(ApiConfig {
        max_bars_limit: 3,
        default_limit: 2,
        ..ApiConfig::default()
    })
    .await;
    let closes = |body: &Value| -> Vec<f64> {
        body["bars"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["close"].as_f64().unwrap())
            .collect()
    };
    let uri = "/v1/bars?exchange=okx&symbol=ETH-USDT&interval=1m";
    let (status, _, body) = call(&app.router, get(uri, Some(&key))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(closes(&body), [2053.0, 2052.0], "default limit");
    let (_, _, body) = call(&app.router, get(&format!("{uri}&limit=100"), Some(&key))).await;
    assert_eq!(
        closes(&body),
        [2053.0, 2052.0, 2051.0],
        "capped at max_bars_limit"
    );
    assert_eq!(body["interval"], "1m");
    let (_, _, body) = call(
        &app.router,
        get(
            "/v1/bars?exchange=okx&symbol=ETH-USDT&interval=1h",
            Some(&key),
        ),
    )
    .await;
    assert_eq!(body["bars"], serde_json::json!([]));

    for (query, parameter) in [
        ("exchange=okx&symbol=ETH-USDT&interval=2m", "interval"),
        ("exchange=okx&symbol=ETH-USDT", "interval"),
        ("exchange=okx&symbol=ETH-USDT&interval=1m&limit=0", "limit"),
        (
            "exchange=okx&symbol=ETH-USDT&interval=1m&limit=ten",
            "limit",
        ),
    ] {
        let (status, _, body) =
            call(&app.router, get(&format!("/v1/bars?{query}"), Some(&key))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(message(&body).starts_with(parameter), "{query}: {body}");
    }
    let (status, _, body) = call(
        &app.router,
        get(
            "/v1/bars?exchange=kraken&symbol=ETH-USDT&interval=1m",
            Some(&key),
        ),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "unknown_instrument")
    );
}

#[tokio::test]
async fn signals_filter_by_symbol_exchange_and_time() {
    let (app, key) = filled(ApiConfig::default()).await;
    let rules = |body: &Value| -> Vec<String> {
        body["signals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["rule"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, _, body) = call(&app.router, get("/v1/signals", Some(&key))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rules(&body), ["other", "rule_2", "rule_1", "rule_0"]);
    let since = T0 + 1;
    let (_, _, body) = call(
        &app.router,
        get(
            &format!("/v1/signals?symbol=ETH-USDT&since={since}"),
            Some(&key),
        ),
    )
    .await;
    assert_eq!(rules(&body), ["rule_2", "rule_1"]);
    let (_, _, body) = call(
        &app.router,
        get("/v1/signals?exchange=binance&limit=1", Some(&key)),
    )
    .await;
    assert_eq!(rules(&body), ["other"]);
    let (status, _, body) = call(&app.router, get("/v1/signals?since=yesterday", Some(&key))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).starts_with("since"));
}

#[tokio::test]
async fn keys_are_checked_with_distinct_codes() {
    let app = app(ApiConfig::default());
    let (reader, reader_text) = issue("reader", &[Scope::Read], "standard");
    let (streamer, streamer_text) = issue("streamer", &[Scope::Stream], "standard");
    let (mut expired, expired_text) = issue("old", &[Scope::Read], "standard");
    expired.expires_at = Some(UnixNanos(T0));
    let (mut revoked, revoked_text) = issue("gone", &[Scope::Read], "standard");
    revoked.revoked_at = Some(UnixNanos(T0 - 1));
    app.keys.replace(vec![reader, streamer, expired, revoked]);
    let uri = "/v1/instruments";

    let (status, headers, body) = call(&app.router, get(uri, None)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "missing_key")
    );
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let (_, _, body) = call(&app.router, get(uri, Some("tsk_0123456789ab_nope"))).await;
    assert_eq!(code(&body), "unknown_key");
    let mut forged = reader_text.clone();
    forged.replace_range(forged.len() - 4.., "0000");
    let (_, _, body) = call(&app.router, get(uri, Some(&forged))).await;
    assert_eq!(
        code(&body),
        "unknown_key",
        "a right id with a wrong secret is unknown"
    );
    let (status, _, body) = call(&app.router, get(uri, Some(&expired_text))).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "key_expired")
    );
    let (status, _, body) = call(&app.router, get(uri, Some(&revoked_text))).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "key_revoked")
    );
    let basic = Request::get(uri)
        .header("authorization", "Basic dXNlcjpwYXNz")
        .body(Body::empty())
        .unwrap();
    let (status, _, _) = call(&app.router, basic).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let header_key = Request::get(uri)
        .header("x-api-key", &reader_text)
        .body(Body::empty())
        .unwrap();
    let (status, _, _) = call(&app.router, header_key).await;
    assert_eq!(status, StatusCode::OK, "X-API-Key works like Bearer");

    // Scopes: read cannot stream or administer; stream cannot read.
    let (status, _, body) = call(&app.router, get(uri, Some(&streamer_text))).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "insufficient_scope")
    );
    let (status, _, body) = call(&app.router, get("/v1/stream", Some(&reader_text))).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "insufficient_scope")
    );
    let (status, _, _) = call(&app.router, get("/v1/keys", Some(&reader_text))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, body) = call(&app.router, get("/v1/stream", Some(&streamer_text))).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "websocket_required")
    );
}

#[tokio::test]
async fn admin_key_lists_keys_without_hashes() {
    let app = app(ApiConfig::default());
    let (admin, admin_text) = issue("ops", &[Scope::Admin], "standard");
    let (reader, _) = issue("reader", &[Scope::Read], "free");
    app.keys.replace(vec![admin.clone(), reader]);
    let (status, _, body) = call(&app.router, get("/v1/keys", Some(&admin_text))).await;
    assert_eq!(status, StatusCode::OK);
    let keys = body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(
        keys.iter()
            .all(|k| k["active"] == true && k.get("sha256").is_none())
    );
    assert!(!body.to_string().contains(&admin.sha256));
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json_errors() {
    let app = app(ApiConfig::default());
    let (status, _, body) = call(&app.router, get("/v2/nothing", None)).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let post = Request::post("/healthz").body(Body::empty()).unwrap();
    let (status, _, body) = call(&app.router, post).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
}

#[tokio::test]
async fn metrics_count_routes_statuses_and_key_ids() {
    let (app, key) = filled(ApiConfig::default()).await;
    let key_id = tickstream_api::keys::key_id(&key).unwrap().to_owned();
    call(
        &app.router,
        get("/v1/latest?exchange=okx&symbol=ETH-USDT", Some(&key)),
    )
    .await;
    call(
        &app.router,
        get("/v1/latest?exchange=okx&symbol=XRP-USDT", Some(&key)),
    )
    .await;
    call(
        &app.router,
        get("/v1/latest?exchange=okx&symbol=ETH-USDT", None),
    )
    .await;
    let (status, headers, text) = call(&app.router, get("/metrics", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = text.as_str().unwrap();
    let has = |needle: &str| {
        text.lines()
            .any(|l| l.contains("tickstream_api_requests_total") && l.contains(needle))
    };
    assert!(
        has(r#"route="/v1/latest""#)
            && has(r#"status="200""#)
            && has(r#"status="404""#)
            && has(r#"status="401""#),
        "{text}"
    );
    assert!(
        text.contains(r#"quantile="0.99""#),
        "latency quantiles: {text}"
    );
    assert!(
        text.contains(&format!(
            r#"tickstream_api_key_requests_total{{key_id="{key_id}"}} 2"#
        )),
        "{text}"
    );
    assert!(!text.contains(&key), "the key itself never appears");
    assert!(text.contains("tickstream_cache_degraded 0"));
}

#[tokio::test(start_paused = true)]
async fn keys_are_rate_limited_by_tier() {
    let mut config = ApiConfig::default();
    config.tiers.insert(
        "tiny".into(),
        TierConfig {
            per_second: 1,
            burst: 2,
        },
    );
    let app = app(config);
    let (key, text) = issue("tiny", &[Scope::Read], "tiny");
    app.keys.replace(vec![key]);
    let remaining = |h: &HeaderMap| h["ratelimit-remaining"].to_str().unwrap().to_owned();
    let (s1, h1, _) = call(&app.router, get("/v1/instruments", Some(&text))).await;
    let (s2, h2, _) = call(&app.router, get("/v1/instruments", Some(&text))).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(
        (remaining(&h1), remaining(&h2)),
        ("1".to_owned(), "0".to_owned())
    );
    assert_eq!(h1["ratelimit-limit"], "2");
    let (status, headers, body) = call(&app.router, get("/v1/instruments", Some(&text))).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(headers["ratelimit-remaining"], "0");
    tokio::time::advance(std::time::Duration::from_millis(1000)).await;
    let (status, _, _) = call(&app.router, get("/v1/instruments", Some(&text))).await;
    assert_eq!(status, StatusCode::OK, "a token came back after a second");
    // Another key of the same tier has its own bucket.
    let (other, other_text) = issue("tiny2", &[Scope::Read], "tiny");
    app.keys.replace(vec![other]);
    let (status, _, _) = call(&app.router, get("/v1/instruments", Some(&other_text))).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn requests_without_a_valid_key_are_limited_per_ip() {
    let config = ApiConfig {
        anonymous: TierConfig {
            per_second: 1,
            burst: 2,
        },
        ..ApiConfig::default()
    };
    let app = app(config);
    let guess = "tsk_0123456789ab_0000000000000000000000000000000000000000000000000000000000000000";
    let a = [10, 0, 0, 1];
    let (s1, _, _) = call(&app.router, from_ip(get("/v1/latest", Some(guess)), a)).await;
    let (s2, _, _) = call(&app.router, from_ip(get("/v1/latest", None), a)).await;
    let (s3, headers, body) = call(&app.router, from_ip(get("/v1/latest", Some(guess)), a)).await;
    assert_eq!(
        (s1, s2, s3),
        (
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        )
    );
    assert_eq!(code(&body), "rate_limited");
    assert!(headers.contains_key("retry-after"));
    let (status, _, _) = call(&app.router, from_ip(get("/v1/latest", None), [10, 0, 0, 2])).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "another client IP has its own bucket"
    );
    let (status, _, _) = call(&app.router, from_ip(get("/healthz", None), a)).await;
    assert_eq!(status, StatusCode::OK, "health is never limited");
}
