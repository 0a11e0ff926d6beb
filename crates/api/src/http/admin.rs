//! `/v1/keys` (admin scope): the key records this instance accepts, without their hashes.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use tickstream_model::UnixNanos;

use super::AppState;
use super::problem::ErrorBody;
use crate::keys::Scope;

/// A key's record without its hash.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct KeyInfo {
    pub id: String,
    pub name: String,
    pub scopes: BTreeSet<Scope>,
    pub tier: String,
    /// UTC nanoseconds.
    #[schema(value_type = i64)]
    pub created_at: UnixNanos,
    #[schema(value_type = Option<i64>)]
    pub expires_at: Option<UnixNanos>,
    #[schema(value_type = Option<i64>)]
    pub revoked_at: Option<UnixNanos>,
    pub active: bool,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Keys {
    pub keys: Vec<KeyInfo>,
}

#[utoipa::path(get, path = "/v1/keys", tag = "admin", security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = Keys),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)
    ))]
pub(crate) async fn keys(State(state): State<AppState>) -> Json<Keys> {
    let now = (state.0.clock)();
    let keys = state
        .0
        .keys
        .list()
        .into_iter()
        .map(|k| KeyInfo {
            id: k.id.clone(),
            name: k.name.clone(),
            scopes: k.scopes.clone(),
            tier: k.tier.clone(),
            created_at: k.created_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            active: k.is_active(now),
        })
        .collect();
    Json(Keys { keys })
}
