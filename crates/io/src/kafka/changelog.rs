//! Operator state in Kafka: one compacted changelog topic per input topic and consumer group
//! (`<prefix>.state.<group>.<kind>.v1`, as many partitions as the input topic), holding for each input
//! partition its last checkpoint: the state of every stateful operator for the keys of that partition and
//! the input offset the state covers, as one record (key `<topic>/<partition>`, JSON value) in the
//! changelog partition of the same number.
//!
//! The record is written after the sinks have flushed everything before the checkpoint and before the
//! input offsets are committed, so its offset is never behind the committed one. A replica that is
//! assigned the partition reads that last record and continues from its offset with its state: exact,
//! whatever happened after it was written.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::value::RawValue;

use super::Cluster;
use super::assignment::Assignment;
use crate::{Error, TopicPartition};

/// What a record's `format` field says; a record of another format is not restored.
pub const STATE_FORMAT: &str = "tickstream.state.v1";

/// How long writing a checkpoint's records, or reading a partition's last record, may take.
const CHANGELOG_TIMEOUT: Duration = Duration::from_secs(30);

/// Records larger than this are refused by the producer (and should be by the topic).
const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// What to do when a partition the group has committed offsets on has no usable state in the changelog
/// (the changelog was deleted, or it holds a state of another format).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnMismatch {
    /// Refuse to start, naming the partition (the default: the output would differ from an uninterrupted
    /// run's).
    #[default]
    Fail,
    /// Log a warning and start the operators of that partition empty from the committed offset: bars
    /// continue, and indicators and signals warm up again over their lookback.
    StartEmpty,
}

/// The changelog topic of one input topic for one consumer group.
pub fn changelog_topic(input_topic: &str, group: &str) -> String {
    match input_topic.rsplit_once('.').and_then(|(head, version)| {
        let (prefix, kind) = head.rsplit_once('.')?;
        Some(format!("{prefix}.state.{group}.{kind}.{version}"))
    }) {
        Some(name) => name,
        None => format!("{input_topic}.state.{group}"),
    }
}

/// One input partition's checkpoint, as its changelog record holds it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StateRecord {
    pub format: String,
    pub topic: Arc<str>,
    pub partition: i32,
    /// The checkpoint this state was taken at; the commit that follows names it.
    pub checkpoint: u64,
    /// The next input offset to read: the state covers every event before it.
    pub next_offset: i64,
    /// Each stateful operator's state for this partition's keys, by node name.
    pub operators: BTreeMap<String, Box<RawValue>>,
}

impl StateRecord {
    fn key(&self) -> String {
        format!("{}/{}", self.topic, self.partition)
    }
}

/// Writes checkpoints to the changelog topics, for the partitions its source still holds.
pub struct ChangelogWriter {
    producer: FutureProducer,
    group: String,
    /// The source's assignment: a checkpoint taken before a partition was revoked is not written for
    /// it, so that it cannot land after the state of the partition's next owner.
    assignment: Arc<Mutex<Assignment>>,
}

impl std::fmt::Debug for ChangelogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangelogWriter")
            .field("group", &self.group)
            .finish()
    }
}

impl ChangelogWriter {
    pub(super) fn new(
        cluster: &Cluster,
        group: &str,
        assignment: Arc<Mutex<Assignment>>,
    ) -> Result<ChangelogWriter, Error> {
        let settings = [
            ("client.id", "tickstream-changelog".to_owned()),
            ("enable.idempotence", "true".to_owned()),
            ("acks", "all".to_owned()),
            ("compression.type", "lz4".to_owned()),
            ("linger.ms", "0".to_owned()),
            ("message.max.bytes", MAX_RECORD_BYTES.to_string()),
            (
                "message.timeout.ms",
                CHANGELOG_TIMEOUT.as_millis().to_string(),
            ),
        ];
        let producer = cluster
            .client_config(&settings)
            .create()
            .map_err(|source| Error::Kafka {
                op: "create the changelog producer",
                source,
            })?;
        Ok(ChangelogWriter {
            producer,
            group: group.to_owned(),
            assignment,
        })
    }

    /// Writes `records`, each to its input partition's changelog partition, and waits until the broker
    /// has acknowledged every one. Records of partitions no longer assigned to the source are skipped.
    pub async fn write(&self, records: &[StateRecord]) -> Result<(), Error> {
        let mut deliveries = Vec::with_capacity(records.len());
        let held: Vec<bool> = {
            let mut assignment = super::consumer_context::lock(&self.assignment);
            records
                .iter()
                .map(|r| assignment.get_mut(&r.topic, r.partition).is_some())
                .collect()
        };
        for (record, held) in records.iter().zip(held) {
            if !held {
                tracing::debug!(topic = %record.topic, partition = record.partition, "state of a partition revoked since the checkpoint is not written");
                continue;
            }
            let topic = changelog_topic(&record.topic, &self.group);
            let payload = serde_json::to_vec(record).map_err(|e| Error::Changelog {
                topic: topic.clone(),
                partition: record.partition,
                message: format!("the state could not be encoded: {e}"),
            })?;
            let key = record.key();
            let message = FutureRecord::to(&topic)
                .partition(record.partition)
                .key(&key)
                .payload(&payload);
            let delivery =
                self.producer
                    .send_result(message)
                    .map_err(|(source, _)| Error::Kafka {
                        op: "write the changelog",
                        source,
                    })?;
            deliveries.push(delivery);
        }
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((source, _))) => {
                    return Err(Error::Kafka {
                        op: "write the changelog",
                        source,
                    });
                }
                Err(_) => {
                    return Err(Error::Kafka {
                        op: "write the changelog",
                        source: rdkafka::error::KafkaError::Canceled,
                    });
                }
            }
        }
        metrics::counter!("tickstream_state_changelog_records_total")
            .increment(records.len() as u64);
        Ok(())
    }
}

/// A consumer of the group's own id for reading its committed offsets and its changelog: it never joins
/// the group nor commits, so it reads independently of the group member being rebalanced.
pub(super) fn state_reader(cluster: &Cluster, group: &str) -> Result<BaseConsumer, Error> {
    let settings = [
        ("client.id", "tickstream-state-reader".to_owned()),
        ("group.id", group.to_owned()),
        ("enable.auto.commit", "false".to_owned()),
        ("enable.auto.offset.store", "false".to_owned()),
        ("enable.partition.eof", "false".to_owned()),
        ("fetch.max.bytes", (2 * MAX_RECORD_BYTES).to_string()),
        ("max.partition.fetch.bytes", MAX_RECORD_BYTES.to_string()),
        ("fetch.wait.max.ms", "100".to_owned()),
    ];
    cluster
        .client_config(&settings)
        .create()
        .map_err(|source| Error::Kafka {
            op: "create the state reader",
            source,
        })
}

/// The last state record of each of `partitions` in `group`'s changelog (none where the changelog
/// partition is empty), read with `consumer` (a [`state_reader`]), and the bytes read. Blocking.
pub(super) fn read_last_states(
    consumer: &BaseConsumer,
    group: &str,
    partitions: &[TopicPartition],
) -> Result<(BTreeMap<TopicPartition, StateRecord>, usize), Error> {
    let mut found = BTreeMap::new();
    let mut bytes = 0;
    if partitions.is_empty() {
        return Ok((found, bytes));
    }
    let mut list = TopicPartitionList::new();
    let mut wanted = BTreeMap::new();
    for partition in partitions {
        let topic = changelog_topic(&partition.topic, group);
        let (low, high) = consumer
            .fetch_watermarks(&topic, partition.partition, CHANGELOG_TIMEOUT)
            .map_err(|source| Error::Kafka {
                op: "read the changelog's offsets",
                source,
            })?;
        if high <= low {
            continue;
        }
        list.add_partition_offset(&topic, partition.partition, Offset::Offset(high - 1))
            .map_err(|source| Error::Kafka {
                op: "read the changelog",
                source,
            })?;
        wanted.insert((topic, partition.partition), (partition.clone(), high - 1));
    }
    if wanted.is_empty() {
        return Ok((found, bytes));
    }
    consumer.assign(&list).map_err(|source| Error::Kafka {
        op: "read the changelog",
        source,
    })?;
    let deadline = std::time::Instant::now() + CHANGELOG_TIMEOUT;
    while !wanted.is_empty() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            let (topic, partition) = wanted.keys().next().cloned().unwrap_or_default();
            return Err(Error::Changelog {
                topic,
                partition,
                message: format!(
                    "its last record was not read within {}s",
                    CHANGELOG_TIMEOUT.as_secs()
                ),
            });
        }
        let Some(message) = consumer.poll(left.min(Duration::from_millis(500))) else {
            continue;
        };
        let message = message.map_err(|source| Error::Kafka {
            op: "read the changelog",
            source,
        })?;
        let slot = (message.topic().to_owned(), message.partition());
        let Some((input, last)) = wanted.get(&slot).cloned() else {
            continue;
        };
        if message.offset() < last {
            continue;
        }
        wanted.remove(&slot);
        let payload = message.payload().unwrap_or_default();
        bytes += payload.len();
        let record = decode_record(&slot.0, slot.1, payload)?;
        if record.topic != input.topic || record.partition != input.partition {
            return Err(Error::Changelog {
                topic: slot.0,
                partition: slot.1,
                message: format!(
                    "its last record holds the state of {}[{}], not of {}[{}]",
                    record.topic, record.partition, input.topic, input.partition
                ),
            });
        }
        found.insert(input, record);
    }
    Ok((found, bytes))
}

/// Decodes a changelog record, refusing one of another format.
fn decode_record(topic: &str, partition: i32, payload: &[u8]) -> Result<StateRecord, Error> {
    let record: StateRecord = serde_json::from_slice(payload).map_err(|e| Error::Changelog {
        topic: topic.to_owned(),
        partition,
        message: format!("its last record is not a state record: {e}"),
    })?;
    if record.format != STATE_FORMAT {
        return Err(Error::Changelog {
            topic: topic.to_owned(),
            partition,
            message: format!(
                "its last record has format {:?}; this version reads {STATE_FORMAT:?}",
                record.format
            ),
        });
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changelog_is_named_after_its_input_topic_and_group() {
        assert_eq!(
            changelog_topic("tickstream.trades.v1", "analytics"),
            "tickstream.state.analytics.trades.v1"
        );
        assert_eq!(changelog_topic("plain", "g"), "plain.state.g");
    }

    #[test]
    fn a_record_of_another_format_is_refused_with_the_partition_named() {
        let record = StateRecord {
            format: "tickstream.state.v0".into(),
            topic: "tickstream.trades.v1".into(),
            partition: 3,
            checkpoint: 9,
            next_offset: 120,
            operators: BTreeMap::new(),
        };
        let bytes = serde_json::to_vec(&record).unwrap();
        let error = decode_record("tickstream.state.g.trades.v1", 3, &bytes).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("tickstream.state.g.trades.v1[3]"), "{text}");
        assert!(text.contains("tickstream.state.v0"), "{text}");
        let good = StateRecord {
            format: STATE_FORMAT.into(),
            ..record
        };
        let bytes = serde_json::to_vec(&good).unwrap();
        let back = decode_record("t", 3, &bytes).unwrap();
        assert_eq!((back.next_offset, back.checkpoint), (120, 9));
        assert!(decode_record("t", 3, b"{not json").is_err());
    }
}
