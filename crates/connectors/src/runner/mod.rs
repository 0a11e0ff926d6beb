//! The websocket runner shared by every venue: connect (TLS for `wss://`), subscribe at the venue's pace,
//! keep alive, hand each text frame with its receive time to the venue's pure parser, fetch REST
//! snapshots the parser asks for, watch each subscription for staleness, reconnect with capped
//! exponential backoff and full jitter, and report every state change as a `FeedStatus` event on a
//! bounded channel. Bad frames are counted, logged (sampled) and reported as `rejected`; never a panic.

mod backoff;
pub mod capture;
mod config;
mod counters;
mod handover;
pub mod instruments;
mod publish;
pub mod rest;
mod shard;
pub mod tls;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tickstream_model::{Event, Exchange, UnixNanos};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

pub use backoff::Backoff;
pub use capture::{Capture, CaptureConfig};
pub use config::{BackoffConfig, ExchangeSourceConfig, Window, resolve_symbol};
pub use instruments::{InstrumentCatalog, InstrumentOrigin, load_instruments};

use crate::{BookMode, Error, Subscription};
use rest::RestClient;
use shard::Shard;

/// A running exchange source: its subscriptions in shards of at most the venue's streams per
/// connection, each served by its own connection loop.
///
/// ```no_run
/// # async fn example() -> Result<(), tickstream_connectors::Error> {
/// use tickstream_connectors::runner::{ExchangeSource, ExchangeSourceConfig};
/// let config: ExchangeSourceConfig = toml::from_str(r#"exchange = "binance"
/// symbols = ["BTC-USDT"]"#).unwrap();
/// let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
/// let task = tokio::spawn(ExchangeSource::new(config, tx)?.run());
/// // One batch per websocket frame (or status).
/// while let Some(batch) = rx.recv().await {
///     for event in batch {
///         println!("{}", serde_json::to_string(&event).unwrap());
///     }
/// }
/// # task.await.unwrap()
/// # }
/// ```
pub struct ExchangeSource {
    exchange: Exchange,
    shards: Vec<Shard>,
    capture: Option<Arc<Capture>>,
}

impl std::fmt::Debug for ExchangeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeSource")
            .field("exchange", &self.exchange)
            .field("shards", &self.shard_sizes())
            .finish()
    }
}

impl ExchangeSource {
    /// Validates `config` and prepares the source; events go to `tx`, one batch per websocket frame
    /// and one per status (bounded: a full channel is backpressure, reported as a `backpressure`
    /// status).
    pub fn new(
        config: ExchangeSourceConfig,
        tx: mpsc::Sender<Vec<Event>>,
    ) -> Result<ExchangeSource, Error> {
        config.validate()?;
        let subs = config.subscriptions()?;
        let seed = u64::try_from(UnixNanos::now().0).unwrap_or_default();
        let capture = match &config.capture {
            Some(capture) => Some(Arc::new(Capture::start(config.exchange, capture)?)),
            None => None,
        };
        let tls = tls::tls_config()?;
        let rest = RestClient::new(shard::SNAPSHOT_TIMEOUT, rest::DEFAULT_MAX_BODY_BYTES)?;
        let exchange = config.exchange;
        let cap = config.streams_per_connection();
        let config = Arc::new(config);
        let connection_ids = Arc::new(AtomicU64::new(0));
        let mut shards = Vec::new();
        for (i, group) in shard_subscriptions(&subs, config.channels.len(), cap)
            .into_iter()
            .enumerate()
        {
            let venue = config.venue_for(&group, BookMode::Snapshots);
            venue.url(config.ws_url(), &group)?;
            shards.push(Shard {
                backoff: Backoff::new(config.backoff.clone(), seed.wrapping_add(i as u64)),
                config: config.clone(),
                exchange,
                subs: group,
                venue,
                tx: tx.clone(),
                tls: tls.clone(),
                rest: rest.clone(),
                connection_ids: connection_ids.clone(),
                connection_id: 0,
                rejected: std::collections::HashMap::new(),
                last_backpressure_report: None,
                counters: counters::ShardCounters::new(exchange),
                capture: capture.clone(),
            });
        }
        Ok(ExchangeSource {
            exchange,
            shards,
            capture,
        })
    }

    /// Loads the instrument metadata (venue, cache or fallback), lets it decide the venue symbols of
    /// `config`, and prepares the source.
    pub async fn with_instruments(
        mut config: ExchangeSourceConfig,
        tx: mpsc::Sender<Vec<Event>>,
    ) -> Result<(ExchangeSource, InstrumentCatalog), Error> {
        let catalog = load_instruments(&config).await;
        config.apply_instruments(&catalog);
        Ok((ExchangeSource::new(config, tx)?, catalog))
    }

    /// The number of subscriptions of each shard (each served by its own connection).
    pub fn shard_sizes(&self) -> Vec<usize> {
        self.shards.iter().map(|s| s.subs.len()).collect()
    }

    /// Runs every shard until the receiving side of the events channel is dropped, then finishes the
    /// capture file. Connection failures are never fatal: each shard reconnects with backoff.
    pub async fn run(self) -> Result<(), Error> {
        let mut running = JoinSet::new();
        for shard in self.shards {
            running.spawn(shard.run());
        }
        let mut result = Ok(());
        while let Some(done) = running.join_next().await {
            if let Ok(Err(e)) = done
                && result.is_ok()
            {
                result = Err(e);
            }
        }
        if let Some(capture) = self.capture.and_then(Arc::into_inner) {
            // Writing out the queued frames is blocking file I/O.
            let _ = tokio::task::spawn_blocking(move || capture.finish()).await;
        }
        result
    }
}

/// Splits subscriptions (symbol by symbol, `channels` per symbol) into groups of at most `cap`,
/// keeping a symbol's channels together when they fit in one group.
fn shard_subscriptions(
    subs: &[Subscription],
    channels: usize,
    cap: usize,
) -> Vec<Vec<Subscription>> {
    let cap = cap.max(1);
    let per_group = if cap >= channels && channels > 0 {
        cap / channels * channels
    } else {
        cap
    };
    subs.chunks(per_group)
        .map(<[Subscription]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use tickstream_model::Exchange;

    use super::*;
    use crate::Channel;

    #[test]
    fn shards_keep_a_symbols_channels_together_when_they_fit() {
        let mut config =
            ExchangeSourceConfig::new(Exchange::Binance, &["BTC-USDT", "ETH-USDT", "SOL-USDT"]);
        config.channels = vec![Channel::Trades, Channel::Bbo];
        let subs = config.subscriptions().unwrap();
        let sizes = |cap| -> Vec<Vec<String>> {
            shard_subscriptions(&subs, 2, cap)
                .iter()
                .map(|g| {
                    g.iter()
                        .map(|s| format!("{}:{}", s.symbol, s.channel.as_str()))
                        .collect()
                })
                .collect()
        };
        assert_eq!(
            sizes(3),
            [
                vec!["BTC-USDT:trades", "BTC-USDT:bbo"],
                vec!["ETH-USDT:trades", "ETH-USDT:bbo"],
                vec!["SOL-USDT:trades", "SOL-USDT:bbo"],
            ]
        );
        assert_eq!(sizes(4).len(), 2);
        assert_eq!(sizes(4)[0].len(), 4);
        assert_eq!(sizes(1).len(), 6);
        assert_eq!(sizes(1024).len(), 1);
    }
}
