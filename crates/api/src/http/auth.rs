//! Authorization of `/v1`: the key from `Authorization: Bearer` or `X-API-Key`, its scope, and its rate
//! limit; requests without a valid key are limited per client IP. Logs name the key id, never the key.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::problem::ApiError;
use crate::keys::{ApiKey, KeyRejection, Scope, key_id};
use crate::rate_limit::Verdict;

/// The authenticated key, for handlers that want it.
#[derive(Debug, Clone)]
pub struct Caller(pub Arc<ApiKey>);

pub(crate) async fn require_read(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    authorize(&state, Scope::Read, request, next).await
}

pub(crate) async fn require_stream(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    authorize(&state, Scope::Stream, request, next).await
}

pub(crate) async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    authorize(&state, Scope::Admin, request, next).await
}

/// The key text presented, if any. `Authorization` must use the Bearer scheme.
fn presented_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let text = value.to_str().unwrap_or_default();
        return match text.split_once(' ') {
            Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") => Ok(Some(key.trim())),
            _ => Err(ApiError::unauthorized(
                "missing_key",
                "Authorization must be `Bearer <key>`",
            )),
        };
    }
    Ok(headers
        .get("x-api-key")
        .map(|v| v.to_str().unwrap_or_default().trim()))
}

fn client_ip(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(addr)| addr.ip())
}

async fn authorize(state: &AppState, scope: Scope, mut request: Request, next: Next) -> Response {
    let shared = &state.0;
    let key = match presented_key(request.headers()) {
        Err(problem) => return refuse_anonymous(state, client_ip(&request), problem),
        Ok(None) => {
            let problem = ApiError::unauthorized(
                "missing_key",
                "an API key is required (Authorization: Bearer <key>)",
            );
            return refuse_anonymous(state, client_ip(&request), problem);
        }
        Ok(Some(text)) => match shared.keys.authenticate(text, (shared.clock)()) {
            Ok(key) => key,
            Err(rejection) => {
                let id = key_id(text).unwrap_or("-");
                tracing::debug!(key_id = id, ?rejection, "key refused");
                let problem = match rejection {
                    KeyRejection::Unknown => {
                        ApiError::unauthorized("unknown_key", "the API key is not known")
                    }
                    KeyRejection::Expired => {
                        ApiError::unauthorized("key_expired", "the API key has expired")
                    }
                    KeyRejection::Revoked => {
                        ApiError::unauthorized("key_revoked", "the API key was revoked")
                    }
                };
                return refuse_anonymous(state, client_ip(&request), problem);
            }
        },
    };
    shared.metrics.key_request(&key.id);
    let verdict = shared.limits.check_key(&key.tier, &key.id);
    if let Verdict::Limited { .. } = verdict {
        tracing::debug!(key_id = %key.id, "rate limited");
        return with_rate_headers(rate_limited().into_response(), verdict);
    }
    if !key.scopes.contains(&scope) {
        tracing::debug!(key_id = %key.id, ?scope, "scope missing");
        let problem = ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("this key lacks the {:?} scope", scope).to_lowercase(),
        );
        return with_rate_headers(problem.into_response(), verdict);
    }
    request.extensions_mut().insert(Caller(key));
    with_rate_headers(next.run(request).await, verdict)
}

/// A refusal without a valid key also takes a token from the client IP's bucket, to blunt key guessing.
fn refuse_anonymous(state: &AppState, ip: IpAddr, problem: ApiError) -> Response {
    let verdict = state.0.limits.check_ip(ip);
    match verdict {
        Verdict::Limited { .. } => with_rate_headers(rate_limited().into_response(), verdict),
        Verdict::Allowed { .. } => with_rate_headers(problem.into_response(), verdict),
    }
}

fn rate_limited() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many requests; see Retry-After",
    )
}

fn with_rate_headers(mut response: Response, verdict: Verdict) -> Response {
    let (limit, remaining, reset, retry_after) = match verdict {
        Verdict::Allowed {
            limit,
            remaining,
            reset,
        } => (limit, remaining, reset, None),
        Verdict::Limited { limit, retry_after } => (limit, 0, retry_after, Some(retry_after)),
    };
    let secs = |d: std::time::Duration| d.as_secs() + u64::from(d.subsec_nanos() > 0);
    let headers = response.headers_mut();
    headers.insert("ratelimit-limit", HeaderValue::from(limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(secs(reset)));
    if let Some(wait) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs(wait).max(1)));
    }
    response
}
