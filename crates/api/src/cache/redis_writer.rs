//! The Redis writer: events are merged into a bounded buffer of the latest state and written in one
//! pipeline per round. While Redis is unreachable the buffer keeps only the newest state (latest values,
//! capped bars, signals and updates), the writer retries with backoff, and on reconnect it first writes the
//! whole current state again so that a Redis that lost its data converges.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::mem;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::value::RawValue;
use tickstream_model::{Exchange, Interval, Symbol, UnixNanos};
use tokio::sync::Notify;

use super::entry::insert_newest_first;
use super::redis::{KeyLayout, RedisLink};
use super::{CacheConfig, Channel, Update};
use crate::Error;

type Json = Arc<RawValue>;
type InstrumentKey = (Exchange, Symbol);
/// Every instrument's latest hash fields, written again after a failure.
type Snapshot = Vec<(InstrumentKey, Vec<(String, Json)>)>;

/// Exponential backoff from 100 ms to 5 s.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff { next: Backoff::MIN }
    }
}

impl Backoff {
    const MIN: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);

    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(Backoff::MAX);
        delay
    }

    pub(crate) fn reset(&mut self) {
        self.next = Backoff::MIN;
    }
}

/// The writer's counters, shown on `/readyz` and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriterStats {
    /// Writes are being held back because Redis is unreachable.
    pub degraded: bool,
    /// Updates waiting to be written.
    pub pending: usize,
    /// Updates not published because the buffer was full while Redis was away.
    pub dropped_updates: u64,
    /// Failed write rounds.
    pub write_errors: u64,
    /// Write rounds Redis refused (a command error, such as a key of another type): dropped, not retried.
    pub rejected_batches: u64,
    pub last_error: Option<String>,
}

/// What has changed since the last successful write.
#[derive(Debug, Default)]
struct Pending {
    /// Hash fields of `P:latest:{exchange}:{symbol}`.
    fields: HashMap<InstrumentKey, BTreeMap<String, Json>>,
    bars: HashMap<(Exchange, Symbol, Interval), VecDeque<(UnixNanos, Json)>>,
    signals: VecDeque<Json>,
    publish: VecDeque<Json>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.fields.is_empty()
            && self.bars.is_empty()
            && self.signals.is_empty()
            && self.publish.is_empty()
    }

    fn len(&self) -> usize {
        self.fields.values().map(BTreeMap::len).sum::<usize>()
            + self.bars.values().map(VecDeque::len).sum::<usize>()
            + self.signals.len()
            + self.publish.len()
    }
}

#[derive(Debug, Default)]
struct Buffers {
    pending: Pending,
    /// Every instrument's latest hash fields with their event times: written again on reconnect.
    current: HashMap<InstrumentKey, BTreeMap<String, (UnixNanos, Json)>>,
    rewrite: bool,
    stats: WriterStats,
}

/// State shared by the cache handle and the writer task.
#[derive(Debug)]
pub(crate) struct WriterShared {
    buffers: Mutex<Buffers>,
    wake: Notify,
    degraded: AtomicBool,
    bars_cap: usize,
    signals_cap: usize,
    updates_cap: usize,
}

fn push_capped(list: &mut VecDeque<Json>, value: Json, cap: usize) -> bool {
    list.push_back(value);
    let over = list.len() > cap;
    if over {
        list.pop_front();
    }
    over
}

impl WriterShared {
    pub(crate) fn new(config: &CacheConfig) -> WriterShared {
        WriterShared {
            buffers: Mutex::default(),
            wake: Notify::new(),
            degraded: AtomicBool::new(false),
            bars_cap: config.bars_cap.max(1),
            signals_cap: config.signals_cap.max(1),
            updates_cap: config.pending_updates_cap.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Buffers> {
        self.buffers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn merge(&self, updates: impl Iterator<Item = Update>) {
        let mut guard = self.lock();
        let buffers = &mut *guard;
        let mut any = false;
        for update in updates {
            any = true;
            if push_capped(
                &mut buffers.pending.publish,
                update.json.clone(),
                self.updates_cap,
            ) {
                buffers.stats.dropped_updates += 1;
            }
            if update.channel == Channel::Signals {
                push_capped(&mut buffers.pending.signals, update.json, self.signals_cap);
                continue;
            }
            let Some(symbol) = update.symbol else {
                continue;
            };
            let field = match (update.channel, update.interval) {
                (Channel::Trades, _) => "trade".to_owned(),
                (Channel::Quotes, _) => "quote".to_owned(),
                (Channel::Bars, Some(interval)) => {
                    let list = buffers
                        .pending
                        .bars
                        .entry((update.exchange, symbol.clone(), interval))
                        .or_default();
                    insert_newest_first(list, update.ts, update.json.clone(), self.bars_cap);
                    format!("bar:{interval}")
                }
                (Channel::Indicators, Some(interval)) => format!("indicator:{interval}"),
                _ => continue,
            };
            let key = (update.exchange, symbol);
            let current = buffers.current.entry(key.clone()).or_default();
            // Ticks replace in arrival order; a late bar or indicator does not replace a newer one.
            let keyed_by_time = matches!(update.channel, Channel::Bars | Channel::Indicators);
            if keyed_by_time && current.get(&field).is_some_and(|(ts, _)| *ts > update.ts) {
                continue;
            }
            current.insert(field.clone(), (update.ts, update.json.clone()));
            buffers
                .pending
                .fields
                .entry(key)
                .or_default()
                .insert(field, update.json);
        }
        buffers.stats.pending = buffers.pending.len();
        drop(guard);
        if any {
            self.wake.notify_one();
        }
    }

    /// Puts a batch that could not be written back under what arrived since (which is newer).
    fn restore(&self, failed: Pending, error: &Error) {
        let mut guard = self.lock();
        let buffers = &mut *guard;
        let newer = mem::replace(&mut buffers.pending, failed);
        let pending = &mut buffers.pending;
        for (key, fields) in newer.fields {
            pending.fields.entry(key).or_default().extend(fields);
        }
        for (key, bars) in newer.bars {
            let list = pending.bars.entry(key).or_default();
            for (ts, json) in bars.into_iter().rev() {
                insert_newest_first(list, ts, json, self.bars_cap);
            }
        }
        for json in newer.signals {
            push_capped(&mut pending.signals, json, self.signals_cap);
        }
        for json in newer.publish {
            if push_capped(&mut pending.publish, json, self.updates_cap) {
                buffers.stats.dropped_updates += 1;
            }
        }
        buffers.rewrite = true;
        buffers.stats.pending = buffers.pending.len();
        buffers.stats.write_errors += 1;
        buffers.stats.degraded = true;
        buffers.stats.last_error = Some(error.to_string());
        self.degraded.store(true, Ordering::Relaxed);
    }

    fn has_work(&self) -> bool {
        let buffers = self.lock();
        buffers.rewrite || !buffers.pending.is_empty()
    }

    /// The pending batch and, after a failure, the whole current state to write first.
    fn take(&self) -> (Pending, Option<Snapshot>) {
        let mut buffers = self.lock();
        let rewrite = mem::take(&mut buffers.rewrite).then(|| {
            buffers
                .current
                .iter()
                .map(|(key, fields)| {
                    (
                        key.clone(),
                        fields
                            .iter()
                            .map(|(f, (_, json))| (f.clone(), json.clone()))
                            .collect(),
                    )
                })
                .collect()
        });
        buffers.stats.pending = 0;
        (mem::take(&mut buffers.pending), rewrite)
    }

    fn rejected(&self, error: &Error) {
        let mut buffers = self.lock();
        buffers.stats.write_errors += 1;
        buffers.stats.rejected_batches += 1;
        buffers.stats.last_error = Some(error.to_string());
    }

    fn recovered(&self) {
        let mut buffers = self.lock();
        buffers.stats.degraded = false;
        buffers.stats.pending = buffers.pending.len();
        self.degraded.store(false, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> WriterStats {
        self.lock().stats.clone()
    }
}

/// The writer task: one pipeline per round, retried with backoff; runs until the cache is dropped.
pub(crate) async fn run(shared: Arc<WriterShared>, link: Arc<RedisLink>, keys: KeyLayout) {
    let mut backoff = Backoff::default();
    loop {
        if !shared.has_work() {
            shared.wake.notified().await;
        }
        let (batch, rewrite) = shared.take();
        if batch.is_empty() && rewrite.is_none() {
            continue;
        }
        let pipe = pipeline(
            &keys,
            &batch,
            rewrite.as_ref(),
            shared.bars_cap,
            shared.signals_cap,
        );
        match link.query_pipe::<()>(&pipe).await {
            Ok(()) => {
                if shared.degraded.load(Ordering::Relaxed) {
                    tracing::info!("redis is reachable again; the current state was written");
                    shared.recovered();
                }
                backoff.reset();
            }
            Err(e) if !e.is_retryable() => {
                // Retrying a batch Redis refuses would block every later write.
                tracing::warn!(error = %e, "redis refused a write batch; it is dropped");
                shared.rejected(&e);
            }
            Err(e) => {
                let delay = backoff.next_delay();
                if !shared.degraded.load(Ordering::Relaxed) {
                    tracing::warn!(error = %e, "redis write failed; holding the latest state and retrying");
                }
                tracing::debug!(error = %e, ?delay, "redis write retry");
                shared.restore(batch, &e);
                tokio::time::sleep(delay).await;
            }
        }
    }
}

fn pipeline(
    keys: &KeyLayout,
    batch: &Pending,
    rewrite: Option<&Snapshot>,
    bars_cap: usize,
    signals_cap: usize,
) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    for (key, fields) in rewrite.into_iter().flatten() {
        write_fields(
            &mut pipe,
            keys,
            key,
            fields.iter().map(|(f, j)| (f.as_str(), j)),
        );
    }
    for (key, fields) in &batch.fields {
        write_fields(
            &mut pipe,
            keys,
            key,
            fields.iter().map(|(f, j)| (f.as_str(), j)),
        );
    }
    for ((exchange, symbol, interval), bars) in &batch.bars {
        let key = keys.bars(*exchange, symbol, *interval);
        for (open_time, json) in bars.iter().rev() {
            let score = open_time.as_i64().div_euclid(1_000_000_000);
            pipe.cmd("ZREMRANGEBYSCORE")
                .arg(&key)
                .arg(score)
                .arg(score)
                .ignore();
            pipe.cmd("ZADD")
                .arg(&key)
                .arg(score)
                .arg(json.get())
                .ignore();
        }
        let keep = isize::try_from(bars_cap).unwrap_or(isize::MAX);
        pipe.cmd("ZREMRANGEBYRANK")
            .arg(&key)
            .arg(0)
            .arg(-keep - 1)
            .ignore();
    }
    for json in &batch.signals {
        pipe.cmd("XADD")
            .arg(keys.signals())
            .arg("MAXLEN")
            .arg("~")
            .arg(signals_cap)
            .arg("*")
            .arg("json")
            .arg(json.get())
            .ignore();
    }
    for json in &batch.publish {
        pipe.cmd("PUBLISH")
            .arg(keys.updates())
            .arg(json.get())
            .ignore();
    }
    pipe
}

fn write_fields<'a>(
    pipe: &mut redis::Pipeline,
    keys: &KeyLayout,
    (exchange, symbol): &InstrumentKey,
    fields: impl Iterator<Item = (&'a str, &'a Json)>,
) {
    pipe.cmd("SADD")
        .arg(keys.instruments())
        .arg(format!("{exchange}:{symbol}"))
        .ignore();
    let hset = pipe.cmd("HSET").arg(keys.latest(*exchange, symbol));
    for (field, json) in fields {
        hset.arg(field).arg(json.get());
    }
    hset.ignore();
}
