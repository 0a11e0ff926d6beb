//! tickstream's serving layer: the cache of latest prices, bars, indicators and signals (embedded or Redis)
//! and the HTTP/WebSocket API in front of it, with API keys, rate limits, metrics and an OpenAPI document.

pub mod cache;
mod config;
mod error;
pub mod http;
pub mod keys;
pub mod rate_limit;
mod serve;

pub use cache::{Cache, CacheConfig, CacheSinkConfig};
pub use config::ApiConfig;
pub use error::Error;
pub use http::{AppState, router};
pub use serve::{serve, serve_listener};
