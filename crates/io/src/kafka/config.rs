//! Configuration of the `kafka` sink and source: brokers, topics, producer tuning and consumer group
//! settings, with their defaults and validation.

use std::collections::BTreeMap;
use std::time::Duration;

use tickstream_model::{EventKind, duration_text};

use crate::Error;

/// librdkafka properties that the transport's guarantees depend on; `properties` may not override them.
const RESERVED_PROPERTIES: [&str; 8] = [
    "bootstrap.servers",
    "metadata.broker.list",
    "group.id",
    "enable.idempotence",
    "acks",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "transactional.id",
];

/// Compression of produced batches. lz4 is the default: cheap on the CPU, and tick JSON compresses well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    Lz4,
    Snappy,
    Gzip,
    None,
}

impl Compression {
    /// The librdkafka `compression.type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Lz4 => "lz4",
            Compression::Snappy => "snappy",
            Compression::Gzip => "gzip",
            Compression::None => "none",
        }
    }
}

/// Where a consumer group starts on a partition it has never committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OffsetReset {
    Earliest,
    Latest,
}

impl OffsetReset {
    /// The librdkafka `auto.offset.reset` value.
    pub fn as_str(self) -> &'static str {
        match self {
            OffsetReset::Earliest => "earliest",
            OffsetReset::Latest => "latest",
        }
    }
}

/// The `kafka` sink: writes every event as JSON to `<topic_prefix>.<kind>.v1`, keyed by instrument.
///
/// The default producer buffer holds 1,200,000 messages or 512 MiB, whichever fills first: 60 s of a
/// peak of 20,000 events/s at up to about 440 bytes each. While a broker is away the producer keeps
/// retrying for `delivery_timeout`; when the buffer is full, `write` waits (backpressure) instead of
/// dropping.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSinkConfig {
    /// `host:port[,host:port...]`; absent or empty starts the embedded in-process cluster.
    pub brokers: Option<String>,
    /// Topics are `<topic_prefix>.trades.v1`, `<topic_prefix>.quotes.v1`, ...
    pub topic_prefix: String,
    /// Partitions of topics created on start; existing topics must have at least this many. Default:
    /// see `topic_partitions`.
    pub partitions: Option<i32>,
    /// Replication factor of topics created on start (1 on the embedded cluster, which has one broker).
    pub replication: i32,
    pub compression: Compression,
    /// How long the producer waits to fill a batch (`linger.ms`), a floor of the end-to-end latency.
    /// Default 3 ms: longer adds latency, shorter sends smaller batches and costs throughput; see
    /// docs/benchmarks.md.
    #[serde(with = "duration_text")]
    pub linger: Duration,
    /// Maximum bytes per partition batch (`batch.size`).
    pub batch_bytes: u32,
    /// Producer buffer bound in messages (`queue.buffering.max.messages`).
    pub buffer_max_messages: u32,
    /// Producer buffer bound in KiB (`queue.buffering.max.kbytes`).
    pub buffer_max_kbytes: u32,
    /// How long a message is retried before it counts as failed (`message.timeout.ms`).
    #[serde(with = "duration_text")]
    pub delivery_timeout: Duration,
    /// How long `flush` waits for everything in flight.
    #[serde(with = "duration_text")]
    pub flush_timeout: Duration,
    /// Passed to librdkafka as is, for SASL/TLS and tuning (`"security.protocol" = "sasl_ssl"`). TLS and
    /// SASL need librdkafka built with them (the `rdkafka` features `ssl-vendored` and `sasl`); without
    /// them such a setting fails when the client is created, naming the property.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaSinkConfig {
    fn default() -> Self {
        KafkaSinkConfig {
            brokers: None,
            topic_prefix: DEFAULT_TOPIC_PREFIX.to_owned(),
            partitions: None,
            replication: DEFAULT_REPLICATION,
            compression: Compression::Lz4,
            linger: Duration::from_millis(3),
            batch_bytes: 1_000_000,
            buffer_max_messages: 1_200_000,
            buffer_max_kbytes: 512 * 1024,
            delivery_timeout: Duration::from_secs(300),
            flush_timeout: Duration::from_secs(30),
            properties: BTreeMap::new(),
        }
    }
}

impl KafkaSinkConfig {
    pub fn validate(&self) -> Result<(), Error> {
        validate_common(
            self.topic_prefix.as_str(),
            self.partitions.unwrap_or(DEFAULT_PARTITIONS),
            self.replication,
            &self.properties,
        )?;
        if self.linger > Duration::from_secs(5) {
            return Err(config_error("linger", "must be at most 5s"));
        }
        if !(1_000..=2_147_483_647).contains(&self.batch_bytes) {
            return Err(config_error(
                "batch_bytes",
                "must be between 1000 and 2147483647",
            ));
        }
        if self.buffer_max_messages < 1_000 {
            return Err(config_error("buffer_max_messages", "must be at least 1000"));
        }
        if !(1_024..=2_147_483_647).contains(&self.buffer_max_kbytes) {
            return Err(config_error(
                "buffer_max_kbytes",
                "must be between 1024 and 2147483647",
            ));
        }
        if self.delivery_timeout < Duration::from_secs(1) {
            return Err(config_error("delivery_timeout", "must be at least 1s"));
        }
        if self.flush_timeout.is_zero() {
            return Err(config_error("flush_timeout", "must be more than 0s"));
        }
        Ok(())
    }
}

/// The `kafka` source: reads events from `<topic_prefix>.<kind>.v1` in a consumer group and commits
/// only the offsets its caller confirms as durably written downstream.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSourceConfig {
    /// `host:port[,host:port...]`; absent or empty uses the embedded in-process cluster.
    pub brokers: Option<String>,
    pub topic_prefix: String,
    /// Consumer group id: consumers sharing it split the partitions and the committed offsets.
    pub group_id: String,
    /// Which event kinds to read (one topic each).
    pub kinds: Vec<EventKind>,
    /// Partitions of topics created on start when missing; existing topics must have at least this many.
    /// Default: see `topic_partitions`.
    pub partitions: Option<i32>,
    pub replication: i32,
    /// Where the group starts on a partition without a committed offset.
    pub offset_reset: OffsetReset,
    /// The group drops a consumer silent for this long (`session.timeout.ms`).
    #[serde(with = "duration_text")]
    pub session_timeout: Duration,
    /// How often per-partition lag is exported (`statistics.interval.ms`, at most every second: the
    /// same statistics tell when a partition has caught up with its end).
    #[serde(with = "duration_text")]
    pub lag_interval: Duration,
    /// A partition that has caught up with its end and had nothing new for this long is idle: it no
    /// longer holds event time back, and its watermark follows the wall clock, so that open bars close
    /// on time when no trade follows.
    #[serde(with = "duration_text")]
    pub idle_timeout: Duration,
    /// How long the broker may hold a fetch open while it has nothing new (`fetch.wait.max.ms`). A Kafka
    /// broker answers as soon as records arrive, so this costs no latency there; the embedded cluster
    /// holds an empty fetch for the whole wait, so there it is the floor of the end-to-end latency.
    /// Default: 500 ms on a broker (librdkafka's), 1 ms on the embedded cluster (see
    /// docs/benchmarks.md).
    #[serde(with = "duration_text::optional")]
    pub fetch_wait: Option<Duration>,
    /// Bound in KiB of the records fetched ahead and not yet handed to the pipeline
    /// (`queued.max.messages.kbytes`; librdkafka's default is 64 MiB). Default 8 MiB: more costs memory,
    /// less leaves the consumer short of records; see docs/benchmarks.md.
    pub prefetch_kbytes: u32,
    /// Passed to librdkafka as is, for SASL/TLS and tuning.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaSourceConfig {
    fn default() -> Self {
        KafkaSourceConfig {
            brokers: None,
            topic_prefix: DEFAULT_TOPIC_PREFIX.to_owned(),
            group_id: "tickstream".to_owned(),
            kinds: EventKind::ALL.to_vec(),
            partitions: None,
            replication: DEFAULT_REPLICATION,
            offset_reset: OffsetReset::Earliest,
            session_timeout: Duration::from_secs(10),
            lag_interval: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(5),
            fetch_wait: None,
            prefetch_kbytes: 8 * 1024,
            properties: BTreeMap::new(),
        }
    }
}

impl KafkaSourceConfig {
    pub fn validate(&self) -> Result<(), Error> {
        validate_common(
            self.topic_prefix.as_str(),
            self.partitions.unwrap_or(DEFAULT_PARTITIONS),
            self.replication,
            &self.properties,
        )?;
        if self.group_id.trim().is_empty() {
            return Err(config_error("group_id", "must not be empty"));
        }
        if self.kinds.is_empty() {
            return Err(config_error("kinds", "must list at least one event kind"));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(300)).contains(&self.session_timeout) {
            return Err(config_error(
                "session_timeout",
                "must be between 1s and 300s",
            ));
        }
        if self.lag_interval < Duration::from_millis(100) {
            return Err(config_error("lag_interval", "must be at least 100ms"));
        }
        if !(Duration::from_millis(100)..=Duration::from_secs(3600)).contains(&self.idle_timeout) {
            return Err(config_error("idle_timeout", "must be between 100ms and 1h"));
        }
        if self
            .fetch_wait
            .is_some_and(|wait| wait > Duration::from_secs(10))
        {
            return Err(config_error("fetch_wait", "must be at most 10s"));
        }
        if !(1_024..=2_097_151).contains(&self.prefetch_kbytes) {
            return Err(config_error(
                "prefetch_kbytes",
                "must be between 1024 and 2097151",
            ));
        }
        Ok(())
    }

    /// `fetch_wait`, or its default on a broker or on the embedded cluster.
    pub fn fetch_wait_on(&self, embedded: bool) -> Duration {
        match self.fetch_wait {
            Some(wait) => wait,
            None if embedded => Duration::from_millis(1),
            None => Duration::from_millis(500),
        }
    }
}

const DEFAULT_TOPIC_PREFIX: &str = "tickstream";
/// Six partitions spread the instruments of a few venues over a small consumer group.
const DEFAULT_PARTITIONS: i32 = 6;
/// One replica suits a single local broker; production clusters should set 3.
const DEFAULT_REPLICATION: i32 = 1;

/// The partitions of the topics a sink or source creates: as configured, or by default six on a broker
/// and one on the embedded cluster. That cluster is one process with one consumer, so more partitions
/// add no parallelism there, only memory (it keeps about 5 MB of log per partition) and fetch work (it
/// scans a partition's log for every fetch).
pub fn topic_partitions(configured: Option<i32>, embedded: bool) -> i32 {
    match configured {
        Some(n) => n,
        None if embedded => 1,
        None => DEFAULT_PARTITIONS,
    }
}

fn validate_common(
    topic_prefix: &str,
    partitions: i32,
    replication: i32,
    properties: &BTreeMap<String, String>,
) -> Result<(), Error> {
    let prefix_ok = !topic_prefix.is_empty()
        && topic_prefix.len() <= 200
        && topic_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !prefix_ok {
        return Err(config_error(
            "topic_prefix",
            "must be 1 to 200 characters of ASCII letters, digits, '.', '_' or '-'",
        ));
    }
    if !(1..=10_000).contains(&partitions) {
        return Err(config_error("partitions", "must be between 1 and 10000"));
    }
    if !(1..=32).contains(&replication) {
        return Err(config_error("replication", "must be between 1 and 32"));
    }
    if let Some(key) = properties
        .keys()
        .find(|k| RESERVED_PROPERTIES.contains(&k.as_str()))
    {
        return Err(config_error(
            &format!("properties.{key}"),
            "is set by tickstream and may not be overridden",
        ));
    }
    Ok(())
}

fn config_error(field: &str, message: &str) -> Error {
    Error::Config {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_read_from_toml() {
        KafkaSinkConfig::default().validate().unwrap();
        KafkaSourceConfig::default().validate().unwrap();
        let sink: KafkaSinkConfig = toml::from_str(
            r#"
            brokers = "127.0.0.1:9092"
            linger = "20ms"
            compression = "gzip"
            properties = { "security.protocol" = "sasl_ssl" }
            "#,
        )
        .unwrap();
        assert_eq!(sink.linger, Duration::from_millis(20));
        assert_eq!(sink.compression, Compression::Gzip);
        assert_eq!(sink.topic_prefix, "tickstream");
        sink.validate().unwrap();
        let source: KafkaSourceConfig = toml::from_str(
            r#"group_id = "bars"
kinds = ["trade"]"#,
        )
        .unwrap();
        assert_eq!(source.kinds, vec![EventKind::Trade]);
    }

    #[test]
    fn errors_name_the_field() {
        let field_of = |e: Error| match e {
            Error::Config { field, .. } => field,
            other => panic!("unexpected {other}"),
        };
        let mut sink = KafkaSinkConfig {
            topic_prefix: "bad prefix".into(),
            ..KafkaSinkConfig::default()
        };
        assert_eq!(field_of(sink.validate().unwrap_err()), "topic_prefix");
        sink.topic_prefix = "ok".into();
        sink.properties
            .insert("enable.idempotence".into(), "false".into());
        assert_eq!(
            field_of(sink.validate().unwrap_err()),
            "properties.enable.idempotence"
        );
        let source = KafkaSourceConfig {
            kinds: vec![],
            ..KafkaSourceConfig::default()
        };
        assert_eq!(field_of(source.validate().unwrap_err()), "kinds");
        let unknown = toml::from_str::<KafkaSourceConfig>("group = \"x\"");
        assert!(unknown.is_err());
    }
}
