//! Error responses: `{"error": {"code", "message"}}` with the matching status.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The body of every error response.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code: `bad_parameter`, `unknown_instrument`, `missing_key`, `unknown_key`,
    /// `key_expired`, `key_revoked`, `insufficient_scope`, `rate_limited`, `not_found`,
    /// `method_not_allowed`, `cache_unavailable`, `websocket_required`.
    pub code: String,
    /// A sentence for people; for `bad_parameter` it starts with the parameter's name.
    pub message: String,
}

/// An error on its way to becoming a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 naming the parameter.
    pub fn bad_parameter(name: &str, problem: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            format!("{name}: {problem}"),
        )
    }

    pub fn unknown_instrument(
        exchange: impl std::fmt::Display,
        symbol: impl std::fmt::Display,
    ) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_instrument",
            format!("no instrument {symbol} on {exchange}"),
        )
    }

    pub fn unauthorized(code: &'static str, message: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn cache_unavailable(error: &crate::Error) -> ApiError {
        tracing::warn!(error = %error, "cache read failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "cache_unavailable",
            "the cache cannot be read right now",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tickstream\""),
            );
        }
        response
    }
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; see /docs",
    )
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}
