//! The Redis cache, shared by every API instance. Values are the JSON messages of `schemas/` (`type` tag
//! included). Key layout, with `P` the configured `key_prefix` (default `tickstream`):
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `P:instruments` | set | `exchange:symbol` of every instrument seen, e.g. `binance:BTC-USDT` |
//! | `P:latest:{exchange}:{symbol}` | hash | fields `trade` (last trade), `quote` (BBO), `bar:{interval}` (latest bar), `indicator:{interval}` (latest indicator values) |
//! | `P:bars:{exchange}:{symbol}:{interval}` | sorted set | recent bars scored by open time in seconds, capped at `bars_cap` |
//! | `P:signals` | stream | recent signals, field `json`, capped with `MAXLEN ~ signals_cap` |
//! | `P:updates` | pub/sub channel | every update as it is written, for `/v1/stream` |

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, FromRedisValue};
use serde_json::value::RawValue;
use tickstream_model::{Event, Exchange, Interval, Symbol};
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

use super::redis_writer::{self, WriterShared};
use super::{CacheConfig, CacheHealth, InstrumentRef, Latest, SignalQuery, Update};
use crate::Error;

type Json = Arc<RawValue>;

/// The names of the cache's Redis keys.
#[derive(Debug, Clone)]
pub(crate) struct KeyLayout {
    prefix: String,
}

impl KeyLayout {
    pub(crate) fn new(prefix: &str) -> KeyLayout {
        KeyLayout {
            prefix: prefix.to_owned(),
        }
    }

    pub(crate) fn instruments(&self) -> String {
        format!("{}:instruments", self.prefix)
    }

    pub(crate) fn latest(&self, exchange: Exchange, symbol: &Symbol) -> String {
        format!("{}:latest:{exchange}:{symbol}", self.prefix)
    }

    pub(crate) fn bars(&self, exchange: Exchange, symbol: &Symbol, interval: Interval) -> String {
        format!("{}:bars:{exchange}:{symbol}:{interval}", self.prefix)
    }

    pub(crate) fn signals(&self) -> String {
        format!("{}:signals", self.prefix)
    }

    pub(crate) fn updates(&self) -> String {
        format!("{}:updates", self.prefix)
    }
}

/// One Redis connection, made on first use and made again after a failure; every call is bounded by the
/// configured timeout.
#[derive(Debug)]
pub(crate) struct RedisLink {
    client: redis::Client,
    timeout: Duration,
    connection: Mutex<Option<MultiplexedConnection>>,
}

impl RedisLink {
    pub(crate) fn open(url: &str, timeout: Duration) -> Result<RedisLink, Error> {
        let client =
            redis::Client::open(url).map_err(|e| Error::config("redis_url", e.to_string()))?;
        Ok(RedisLink {
            client,
            timeout,
            connection: Mutex::new(None),
        })
    }

    pub(crate) fn client(&self) -> &redis::Client {
        &self.client
    }

    async fn connection(&self) -> Result<MultiplexedConnection, Error> {
        if let Some(c) = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            return Ok(c.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        *self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(connection.clone());
        Ok(connection)
    }

    /// Forgets the connection so that the next call connects again.
    pub(crate) fn reset(&self) {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, Error> {
        let mut connection = self.connection().await?;
        let result =
            tokio::time::timeout(self.timeout, cmd.query_async::<T>(&mut connection)).await;
        self.settle(result)
    }

    pub(crate) async fn query_pipe<T: FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, Error> {
        let mut connection = self.connection().await?;
        let result =
            tokio::time::timeout(self.timeout, pipe.query_async::<T>(&mut connection)).await;
        self.settle(result)
    }

    fn settle<T>(
        &self,
        result: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, Error> {
        let error = match result {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e))
                if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError) =>
            {
                return Err(Error::Redis(e));
            }
            Ok(Err(e)) => Error::Redis(e),
            Err(_) => Error::RedisTimeout(self.timeout),
        };
        self.reset();
        Err(error)
    }
}

/// The Redis cache: reads for the API, a background writer for the sink, and a pub/sub subscriber that feeds
/// the local broadcast of updates.
#[derive(Debug)]
pub struct RedisCache {
    keys: KeyLayout,
    link: Arc<RedisLink>,
    writer: Arc<WriterShared>,
    updates: broadcast::Sender<Arc<Update>>,
    tasks: Vec<AbortHandle>,
}

impl Drop for RedisCache {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl RedisCache {
    /// Starts the writer and the subscriber; connections are made in the background and again whenever
    /// Redis comes back. Must be called within a tokio runtime.
    pub fn open(config: &CacheConfig) -> Result<RedisCache, Error> {
        let url = config
            .redis_url
            .as_deref()
            .ok_or_else(|| Error::config("redis_url", "is required"))?;
        let keys = KeyLayout::new(&config.key_prefix);
        let link = Arc::new(RedisLink::open(url, config.redis_timeout)?);
        let write_link = Arc::new(RedisLink::open(url, config.redis_timeout)?);
        let writer = Arc::new(WriterShared::new(config));
        let updates = broadcast::channel(config.broadcast_capacity.max(1)).0;
        let tasks = vec![
            tokio::spawn(redis_writer::run(writer.clone(), write_link, keys.clone()))
                .abort_handle(),
            tokio::spawn(subscribe_updates(
                link.client().clone(),
                keys.updates(),
                updates.clone(),
            ))
            .abort_handle(),
        ];
        Ok(RedisCache {
            keys,
            link,
            writer,
            updates,
            tasks,
        })
    }

    /// Takes the events into the writer's buffer and wakes the writer; never waits for Redis.
    pub fn write(&self, events: &[Event]) {
        self.writer
            .merge(events.iter().filter_map(Update::from_event));
    }

    pub async fn instruments(&self) -> Result<Vec<InstrumentRef>, Error> {
        let members: Vec<String> = self
            .link
            .query(redis::cmd("SMEMBERS").arg(self.keys.instruments()))
            .await?;
        let mut list: Vec<InstrumentRef> = members
            .iter()
            .filter_map(|m| {
                let (exchange, symbol) = m.split_once(':')?;
                Some(InstrumentRef {
                    exchange: exchange.parse().ok()?,
                    symbol: Symbol::parse(symbol).ok()?,
                })
            })
            .collect();
        list.sort();
        Ok(list)
    }

    pub async fn latest(
        &self,
        exchange: Exchange,
        symbol: &Symbol,
    ) -> Result<Option<Latest>, Error> {
        let fields: HashMap<String, String> = self
            .link
            .query(redis::cmd("HGETALL").arg(self.keys.latest(exchange, symbol)))
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let mut latest = Latest {
            exchange,
            symbol: symbol.clone(),
            trade: None,
            quote: None,
            intervals: BTreeMap::new(),
        };
        for (field, text) in fields {
            let Some(json) = to_json(text) else { continue };
            match field.split_once(':') {
                None if field == "trade" => latest.trade = Some(json),
                None if field == "quote" => latest.quote = Some(json),
                Some(("bar", interval)) => {
                    latest.intervals.entry(interval.to_owned()).or_default().bar = Some(json)
                }
                Some(("indicator", interval)) => {
                    latest
                        .intervals
                        .entry(interval.to_owned())
                        .or_default()
                        .indicators = Some(json)
                }
                _ => {}
            }
        }
        Ok(Some(latest))
    }

    pub async fn bars(
        &self,
        exchange: Exchange,
        symbol: &Symbol,
        interval: Interval,
        limit: usize,
    ) -> Result<Option<Vec<Json>>, Error> {
        let mut pipe = redis::pipe();
        pipe.cmd("EXISTS").arg(self.keys.latest(exchange, symbol));
        pipe.cmd("ZRANGE")
            .arg(self.keys.bars(exchange, symbol, interval))
            .arg("+inf")
            .arg("-inf")
            .arg("BYSCORE")
            .arg("REV")
            .arg("LIMIT")
            .arg(0)
            .arg(limit);
        let (exists, bars): (bool, Vec<String>) = self.link.query_pipe(&pipe).await?;
        Ok(exists.then(|| bars.into_iter().filter_map(to_json).collect()))
    }

    /// Walks the signal stream from the newest entry in pages until `limit` matches are found.
    pub async fn signals(&self, query: &SignalQuery) -> Result<Vec<Json>, Error> {
        const PAGE: usize = 512;
        let mut found = Vec::new();
        let mut end = "+".to_owned();
        while found.len() < query.limit {
            let page: redis::streams::StreamRangeReply = self
                .link
                .query(
                    redis::cmd("XREVRANGE")
                        .arg(self.keys.signals())
                        .arg(&end)
                        .arg("-")
                        .arg("COUNT")
                        .arg(PAGE),
                )
                .await?;
            for entry in &page.ids {
                let Some(text) = entry.get::<String>("json") else {
                    continue;
                };
                let Some(update) = Update::from_json(&text) else {
                    continue;
                };
                if query.matches(update.exchange, update.symbol.as_ref(), update.ts)
                    && found.len() < query.limit
                {
                    found.push(update.json);
                }
            }
            match page.ids.last() {
                Some(last) if page.ids.len() == PAGE => end = format!("({}", last.id),
                _ => break,
            }
        }
        Ok(found)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Update>> {
        self.updates.subscribe()
    }

    pub async fn health(&self) -> CacheHealth {
        let ping = self.link.query::<String>(&redis::cmd("PING")).await;
        let stats = self.writer.stats();
        let degraded = stats.degraded;
        let detail = match (&ping, &stats.last_error) {
            (Err(e), _) => format!("redis unreachable: {e}"),
            (Ok(_), Some(e)) if degraded => format!("redis writes held back: {e}"),
            _ => "redis".to_owned(),
        };
        CacheHealth {
            reachable: ping.is_ok(),
            degraded,
            detail,
            stats,
        }
    }
}

fn to_json(text: String) -> Option<Json> {
    match RawValue::from_string(text) {
        Ok(json) => Some(Arc::from(json)),
        Err(e) => {
            tracing::warn!(error = %e, "cache value is not JSON; skipped");
            None
        }
    }
}

/// Feeds `P:updates` into the local broadcast, subscribing again with backoff whenever the connection ends.
async fn subscribe_updates(
    client: redis::Client,
    channel: String,
    updates: broadcast::Sender<Arc<Update>>,
) {
    let mut backoff = redis_writer::Backoff::default();
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                Ok(()) => {
                    backoff.reset();
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        let text: String = match message.get_payload() {
                            Ok(text) => text,
                            Err(_) => continue,
                        };
                        if let Some(update) = Update::from_json(&text) {
                            let _ = updates.send(Arc::new(update));
                        }
                    }
                    tracing::warn!(
                        channel,
                        "redis update subscription ended; subscribing again"
                    );
                }
                Err(e) => tracing::warn!(error = %e, channel, "redis subscribe failed"),
            },
            Err(e) => tracing::debug!(error = %e, "redis unreachable for the update subscription"),
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}
