//! The Kafka transport: the `kafka` sink (keyed, idempotent producer with bounded buffering and
//! backpressure), the `kafka` source (consumer group with commit-after-flush and a dead-letter topic),
//! topic names and creation, and the embedded in-process cluster used when no brokers are configured.
//!
//! Messages: the payload is the event's JSON (`schemas/<kind>.v1.json`), the key is [`Event::key`]
//! (the canonical instrument, or the venue for status events without one), and the headers are
//! `schema` (such as `trade.v1`), `exchange` and `content-type: application/json`.
//!
//! [`Event::key`]: tickstream_model::Event::key

mod assignment;
mod changelog;
mod checkpoint;
mod config;
mod consumer;
mod consumer_context;
mod embedded;
mod poison;
mod producer;
mod restore;
#[cfg(test)]
mod tests;
mod topics;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

pub use assignment::OffsetMap;
pub use changelog::{ChangelogWriter, OnMismatch, STATE_FORMAT, StateRecord, changelog_topic};
pub use checkpoint::{CommittedOffset, checkpoint_metadata, parse_checkpoint_metadata};
pub use config::{Compression, KafkaSinkConfig, KafkaSourceConfig, OffsetReset, topic_partitions};
pub use consumer::{Consumed, KafkaSource};
pub use embedded::EmbeddedKafka;
pub use poison::{HEADER_SOURCE_OFFSET, HEADER_SOURCE_PARTITION, HEADER_SOURCE_TOPIC};
pub use producer::KafkaSink;
pub use restore::RestoredPartition;
pub use topics::{Topics, ensure_topics};

use crate::Error;

/// Header names on every message.
pub const HEADER_SCHEMA: &str = "schema";
pub const HEADER_EXCHANGE: &str = "exchange";
pub const HEADER_CONTENT_TYPE: &str = "content-type";
/// The dead-letter copy's reason.
pub const HEADER_ERROR: &str = "error";

/// The brokers a client connects to: the embedded cluster or configured ones, with the configured
/// librdkafka properties.
#[derive(Debug, Clone)]
pub struct Cluster {
    bootstrap: String,
    embedded: Option<&'static EmbeddedKafka>,
    properties: BTreeMap<String, String>,
}

impl Cluster {
    /// Uses `brokers` when set and non-empty, and otherwise starts (or reuses) the embedded cluster.
    pub fn connect(
        brokers: Option<&str>,
        properties: &BTreeMap<String, String>,
    ) -> Result<Cluster, Error> {
        let (bootstrap, embedded) = match brokers.map(str::trim).filter(|b| !b.is_empty()) {
            Some(brokers) => (brokers.to_owned(), None),
            None => {
                let embedded = EmbeddedKafka::start()?;
                (embedded.bootstrap_servers().to_owned(), Some(embedded))
            }
        };
        Ok(Cluster {
            bootstrap,
            embedded,
            properties: properties.clone(),
        })
    }

    /// The `bootstrap.servers` string.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// The embedded cluster, when this is it.
    pub fn embedded(&self) -> Option<&'static EmbeddedKafka> {
        self.embedded
    }

    /// A client configuration: the bootstrap servers, then `settings`, then the configured properties
    /// (which may tune anything but the settings the transport's guarantees rest on; see `validate`).
    pub(crate) fn client_config(&self, settings: &[(&str, String)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        for (key, value) in settings {
            config.set(*key, value);
        }
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }
}

/// Whether a Kafka operation that failed with `error` may succeed when tried again.
pub(crate) fn is_retryable(error: &KafkaError) -> bool {
    match error {
        KafkaError::ClientConfig(..)
        | KafkaError::ClientCreation(_)
        | KafkaError::Subscription(_)
        | KafkaError::AdminOpCreation(_)
        | KafkaError::Nul(_)
        | KafkaError::PartitionEOF(_) => false,
        other => !matches!(
            other.rdkafka_error_code(),
            Some(
                RDKafkaErrorCode::Fatal
                    | RDKafkaErrorCode::InvalidArgument
                    | RDKafkaErrorCode::MessageSizeTooLarge
                    | RDKafkaErrorCode::TopicAuthorizationFailed
                    | RDKafkaErrorCode::GroupAuthorizationFailed
                    | RDKafkaErrorCode::SaslAuthenticationFailed
            )
        ),
    }
}

/// Log sampling for repeated rejections: the first ten, then every thousandth.
pub(crate) fn log_sampled(count: u64) -> bool {
    count <= 10 || count.is_multiple_of(1000)
}

/// Counts a client-level error (a broker down, an authentication failure) and logs it, sampled.
pub(crate) fn log_client_error(
    client: &'static str,
    errors: &AtomicU64,
    error: &KafkaError,
    reason: &str,
) {
    metrics::counter!("tickstream_kafka_client_errors_total", "client" => client).increment(1);
    let count = errors.fetch_add(1, Ordering::Relaxed) + 1;
    if log_sampled(count) {
        tracing::warn!(client, %error, reason, errors = count, "kafka client error");
    }
}

/// Runs a blocking librdkafka call (flush, commit, metadata) on the blocking thread pool.
pub(crate) async fn run_blocking<T: Send + 'static>(
    op: &'static str,
    call: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|_| Error::Kafka {
            op,
            source: KafkaError::Canceled,
        })?
}
