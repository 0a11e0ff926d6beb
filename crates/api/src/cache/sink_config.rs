//! The `cache` sink's parameters: the serving cache (embedded, or Redis when `redis_url` is set) and,
//! optionally, the HTTP/WebSocket API served from the same process.

use std::collections::BTreeSet;

use crate::Error;
use crate::keys::{KeyStore, NewKey, Scope};
use crate::{ApiConfig, CacheConfig};

/// `kind = "cache"`:
/// ```toml
/// [sinks.serving]
/// kind = "cache"
/// inputs = ["binance", "bars", "indicators", "signals"]
/// redis_url = "${REDIS_URL:-}"      # empty: the embedded in-process cache
/// [sinks.serving.cache]             # optional tuning: key_prefix, bars_cap, signals_cap, ...
/// bars_cap = 1000
/// [sinks.serving.api]               # optional: serve the API from this process
/// listen = "127.0.0.1:8080"
/// ```
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSinkConfig {
    /// `redis://host:port/db`; absent or empty keeps the cache in this process.
    #[serde(default)]
    pub redis_url: Option<String>,
    #[serde(default)]
    pub cache: CacheConfig,
    /// When present, the API serves this cache from this process.
    #[serde(default)]
    pub api: Option<ApiConfig>,
    /// For demos: at start, revoke the previous keys named `demo` and issue a new `read`+`stream` key,
    /// printed on standard error. Needs `api`.
    #[serde(default)]
    pub demo_key: bool,
}

impl CacheSinkConfig {
    /// The cache settings with `redis_url` applied.
    pub fn cache_config(&self) -> CacheConfig {
        let mut cache = self.cache.clone();
        if let Some(url) = self.redis_url.as_ref().filter(|u| !u.is_empty()) {
            cache.redis_url = Some(url.clone());
        }
        cache
    }

    pub fn validate(&self) -> Result<(), Error> {
        let field = |section: &str, e: Error| match e {
            Error::Config { field, message } if section.is_empty() => {
                Error::Config { field, message }
            }
            Error::Config { field, message } => Error::Config {
                field: format!("{section}.{field}"),
                message,
            },
            other => Error::config(section, other.to_string()),
        };
        self.cache_config().validate().map_err(|e| field("", e))?;
        if let Some(api) = &self.api {
            api.validate().map_err(|e| field("api", e))?;
        }
        if self.demo_key && self.api.is_none() {
            return Err(Error::config(
                "demo_key",
                "needs an [api] table: a key is only useful where the API is served",
            ));
        }
        Ok(())
    }
}

/// Revokes the earlier demo keys and issues a new one; returns its text.
pub async fn issue_demo_key(api: &ApiConfig) -> Result<String, Error> {
    let store = KeyStore::open(&api.keys)?;
    let now = tickstream_model::UnixNanos::now();
    for key in store.list().await? {
        if key.name == DEMO_KEY_NAME && key.revoked_at.is_none() {
            store.revoke(&key.id, now).await?;
        }
    }
    let issued = store
        .create(
            NewKey {
                name: DEMO_KEY_NAME.into(),
                scopes: BTreeSet::from([Scope::Read, Scope::Stream]),
                tier: api.default_tier.clone(),
                expires_at: None,
            },
            now,
        )
        .await?;
    Ok(issued.text)
}

const DEMO_KEY_NAME: &str = "demo";
