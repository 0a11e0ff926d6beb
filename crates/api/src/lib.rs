//! tickstream's serving layer: the cache of latest prices, bars, indicators and signals (embedded or Redis)
//! and the HTTP/WebSocket API in front of it, with API keys, rate limits, metrics and an OpenAPI document.

pub mod cache;
mod error;

pub use cache::{Cache, CacheConfig};
pub use error::Error;
