//! The serving cache: per (exchange, symbol) the last trade, the BBO, the latest bar and indicator values per
//! interval, the recent bars per interval and the recent signals, plus a broadcast of every update for the
//! stream endpoint. Two implementations with the same reads: [`EmbeddedCache`] (in-process, the default) and
//! [`RedisCache`] (shared by every API instance; key layout in [`redis`](self::redis)).

mod embedded;
mod entry;
mod redis;
mod redis_writer;
mod sink_config;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use tickstream_model::{Event, Exchange, Interval, Symbol, UnixNanos};
use tokio::sync::broadcast;

pub use self::embedded::EmbeddedCache;
pub use self::entry::{Channel, Update};
pub use self::redis::RedisCache;
pub(crate) use self::redis::RedisLink;
pub use self::redis_writer::WriterStats;
pub use self::sink_config::{CacheSinkConfig, issue_demo_key};
use crate::Error;

/// Where the cache lives and how much it keeps.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// `redis://host:port/db`; none means the embedded in-process cache.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and channel.
    pub key_prefix: String,
    /// Recent bars kept per (exchange, symbol, interval).
    pub bars_cap: usize,
    /// Recent signals kept (all instruments together).
    pub signals_cap: usize,
    /// Updates buffered for stream clients before the slowest is disconnected.
    pub broadcast_capacity: usize,
    /// Updates held for publishing while Redis is unreachable (the oldest are dropped beyond this).
    pub pending_updates_cap: usize,
    /// How long one Redis command or pipeline may take before Redis counts as unreachable.
    #[serde(with = "tickstream_model::duration_text")]
    pub redis_timeout: Duration,
}

impl Default for CacheConfig {
    fn default() -> CacheConfig {
        CacheConfig {
            redis_url: None,
            key_prefix: "tickstream".into(),
            bars_cap: 1_000,
            signals_cap: 10_000,
            broadcast_capacity: 4_096,
            pending_updates_cap: 10_000,
            redis_timeout: Duration::from_secs(1),
        }
    }
}

impl CacheConfig {
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(url) = &self.redis_url {
            ::redis::Client::open(url.as_str())
                .map_err(|e| Error::config("redis_url", e.to_string()))?;
        }
        if self.key_prefix.is_empty() || self.key_prefix.contains(char::is_whitespace) {
            return Err(Error::config(
                "key_prefix",
                "must be non-empty text without spaces",
            ));
        }
        for (field, value) in [
            ("bars_cap", self.bars_cap),
            ("signals_cap", self.signals_cap),
            ("broadcast_capacity", self.broadcast_capacity),
            ("pending_updates_cap", self.pending_updates_cap),
        ] {
            if value == 0 || value > 10_000_000 {
                return Err(Error::config(field, "must be between 1 and 10000000"));
            }
        }
        if self.redis_timeout.is_zero() {
            return Err(Error::config("redis_timeout", "must be more than 0"));
        }
        Ok(())
    }
}

/// One instrument the cache has seen.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, utoipa::ToSchema)]
pub struct InstrumentRef {
    #[schema(value_type = String, example = "binance")]
    pub exchange: Exchange,
    #[schema(value_type = String, example = "BTC-USDT")]
    pub symbol: Symbol,
}

/// The latest bar and indicator values of one interval.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct IntervalLatest {
    /// The newest bar (`bar.v1`).
    #[schema(schema_with = entry::bar_schema)]
    pub bar: Option<Arc<RawValue>>,
    /// The newest indicator values (`indicator.v1`).
    #[schema(schema_with = entry::indicator_schema)]
    pub indicators: Option<Arc<RawValue>>,
}

/// Everything current about one instrument.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Latest {
    #[schema(value_type = String, example = "binance")]
    pub exchange: Exchange,
    #[schema(value_type = String, example = "BTC-USDT")]
    pub symbol: Symbol,
    /// The last trade (`trade.v1`).
    #[schema(schema_with = entry::trade_schema)]
    pub trade: Option<Arc<RawValue>>,
    /// The best bid and offer (`quote.v1`).
    #[schema(schema_with = entry::quote_schema)]
    pub quote: Option<Arc<RawValue>>,
    /// By interval (`1m`, `1h`, ...).
    pub intervals: BTreeMap<String, IntervalLatest>,
}

/// Which signals to read, newest first.
#[derive(Debug, Clone)]
pub struct SignalQuery {
    pub exchange: Option<Exchange>,
    pub symbol: Option<Symbol>,
    /// Only signals with `ts >= since`.
    pub since: Option<UnixNanos>,
    pub limit: usize,
}

impl SignalQuery {
    fn matches(&self, exchange: Exchange, symbol: Option<&Symbol>, ts: UnixNanos) -> bool {
        self.exchange.is_none_or(|e| e == exchange)
            && self.symbol.as_ref().is_none_or(|s| symbol == Some(s))
            && self.since.is_none_or(|since| ts >= since)
    }
}

/// Whether the cache can serve and store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CacheHealth {
    /// Reads work.
    pub reachable: bool,
    /// Writes are being held back (Redis unreachable); the latest state is kept and written on reconnect.
    pub degraded: bool,
    pub detail: String,
    /// The Redis writer's counters (zero for the embedded cache).
    pub stats: WriterStats,
}

/// The serving cache, embedded or Redis. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Cache {
    Embedded(Arc<EmbeddedCache>),
    Redis(Arc<RedisCache>),
}

impl Cache {
    /// The cache `config` asks for: Redis when `redis_url` is set (the connection is made in the background,
    /// so an unreachable Redis makes the cache degraded, not this call fail), embedded otherwise.
    pub fn open(config: &CacheConfig) -> Result<Cache, Error> {
        config.validate()?;
        Ok(match &config.redis_url {
            Some(_) => Cache::Redis(Arc::new(RedisCache::open(config)?)),
            None => Cache::Embedded(Arc::new(EmbeddedCache::new(config))),
        })
    }

    /// Stores the events the cache keeps (trades, quotes, bars, indicators, signals; books and feed status
    /// are not kept) and broadcasts each as an update. Never fails: with Redis away the latest state is held
    /// in a bounded buffer and written when Redis is back.
    pub async fn write(&self, events: &[Event]) {
        match self {
            Cache::Embedded(c) => c.write(events),
            Cache::Redis(c) => c.write(events),
        }
    }

    pub async fn instruments(&self) -> Result<Vec<InstrumentRef>, Error> {
        match self {
            Cache::Embedded(c) => Ok(c.instruments()),
            Cache::Redis(c) => c.instruments().await,
        }
    }

    /// `None` when the instrument is unknown.
    pub async fn latest(
        &self,
        exchange: Exchange,
        symbol: &Symbol,
    ) -> Result<Option<Latest>, Error> {
        match self {
            Cache::Embedded(c) => Ok(c.latest(exchange, symbol)),
            Cache::Redis(c) => c.latest(exchange, symbol).await,
        }
    }

    /// Recent bars, newest first; `None` when the instrument is unknown.
    pub async fn bars(
        &self,
        exchange: Exchange,
        symbol: &Symbol,
        interval: Interval,
        limit: usize,
    ) -> Result<Option<Vec<Arc<RawValue>>>, Error> {
        match self {
            Cache::Embedded(c) => Ok(c.bars(exchange, symbol, interval, limit)),
            Cache::Redis(c) => c.bars(exchange, symbol, interval, limit).await,
        }
    }

    /// Recent signals matching `query`, newest first.
    pub async fn signals(&self, query: &SignalQuery) -> Result<Vec<Arc<RawValue>>, Error> {
        match self {
            Cache::Embedded(c) => Ok(c.signals(query)),
            Cache::Redis(c) => c.signals(query).await,
        }
    }

    /// Every update from now on. A receiver that falls more than `broadcast_capacity` behind gets
    /// `RecvError::Lagged`.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Update>> {
        match self {
            Cache::Embedded(c) => c.subscribe(),
            Cache::Redis(c) => c.subscribe(),
        }
    }

    pub async fn health(&self) -> CacheHealth {
        match self {
            Cache::Embedded(_) => CacheHealth {
                reachable: true,
                degraded: false,
                detail: "embedded cache".into(),
                stats: WriterStats::default(),
            },
            Cache::Redis(c) => c.health().await,
        }
    }
}
