//! The Kafka source's librdkafka context: rebalances per the source's commit protocol (see `consumer`),
//! with operator state restored before a newly assigned partition is fetched (see `restore`), client
//! errors and log lines, and consumer lag and partition ends from the client's statistics.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, TopicPartitionList};

use super::assignment::Assignment;
use super::log_client_error;
use super::restore::{StateKeeping, restore_assigned};

/// Consumer context: rebalance handling per the source's protocol, errors, and lag export.
#[derive(Debug)]
pub(crate) struct SourceContext {
    pub(crate) assignment: Arc<Mutex<Assignment>>,
    /// Client-level errors (such as brokers down) since start, for log sampling.
    pub(crate) client_errors: AtomicU64,
    /// Set before the first assignment when operator state is kept.
    pub(crate) keeping: OnceLock<StateKeeping>,
    /// Set once the source stops reading: partitions assigned from then on are not restored.
    pub(crate) stopping: std::sync::atomic::AtomicBool,
}

/// librdkafka logs an offset reset at warning level only when an error caused it (the position was out
/// of range); resets of a new group (no committed offset) are debug lines.
pub(crate) fn is_skipping_offset_reset(level: RDKafkaLogLevel, fac: &str, message: &str) -> bool {
    fac == "OFFSET"
        && (level as i32) <= (RDKafkaLogLevel::Warning as i32)
        && message.contains("offset reset")
}

pub(crate) fn lock(assignment: &Mutex<Assignment>) -> MutexGuard<'_, Assignment> {
    assignment
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ClientContext for SourceContext {
    fn error(&self, error: KafkaError, reason: &str) {
        log_client_error("consumer", &self.client_errors, &error, reason);
    }

    /// librdkafka's log lines, as its default does, except one: an offset reset caused by an error (the
    /// position was out of range, e.g. the broker's retention deleted records not yet read) means records
    /// were skipped. That is counted in `tickstream_kafka_offset_resets_total` and logged as an error.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            _ if is_skipping_offset_reset(level, fac, message) => {
                metrics::counter!("tickstream_kafka_offset_resets_total").increment(1);
                tracing::error!(target: "librdkafka", "records skipped, not read: {message}");
            }
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", "librdkafka: {fac} {message}")
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(target: "librdkafka", "librdkafka: {fac} {message}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", "librdkafka: {fac} {message}")
            }
            RDKafkaLogLevel::Debug => {
                tracing::debug!(target: "librdkafka", "librdkafka: {fac} {message}")
            }
        }
    }

    fn stats(&self, statistics: Statistics) {
        let mut assignment = lock(&self.assignment);
        for (name, topic) in &statistics.topics {
            for (partition, stats) in &topic.partitions {
                if *partition < 0 || !stats.desired || stats.hi_offset < 0 {
                    continue;
                }
                if let Some(state) = assignment.get_mut(name, *partition) {
                    state.high_watermark = Some(stats.hi_offset);
                }
                let read = if stats.app_offset >= 0 {
                    stats.app_offset
                } else if stats.committed_offset >= 0 {
                    stats.committed_offset
                } else {
                    continue;
                };
                metrics::gauge!(
                    "tickstream_kafka_consumer_lag",
                    "topic" => name.clone(),
                    "partition" => partition.to_string()
                )
                .set((stats.hi_offset - read).max(0) as f64);
            }
        }
    }
}

impl ConsumerContext for SourceContext {
    /// librdkafka's rebalance, with the source's bookkeeping before the (incremental) assign or unassign:
    /// on assign, operator state is restored (when kept) and sets where each partition's fetch starts; on
    /// revoke, the confirmed offsets are committed first.
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        list: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.on_assign(list);
                if cooperative {
                    consumer.incremental_assign(list)
                } else {
                    consumer.assign(list)
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.on_revoke(consumer, list);
                if cooperative {
                    consumer.incremental_unassign(list)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                tracing::warn!(error = ?other, "kafka rebalance error");
                consumer.unassign()
            }
        };
        if let Err(error) = result {
            tracing::warn!(%error, "kafka rebalance: the assignment could not be changed");
        }
    }
}

impl SourceContext {
    fn on_assign(&self, list: &mut TopicPartitionList) {
        let keeping = self.keeping.get();
        lock(&self.assignment).assign(list, keeping.is_some());
        if list.count() == 0 {
            tracing::warn!(
                "kafka group assigned no partitions to this member (more members than partitions, or topic metadata not yet known; a metadata refresh rejoins)"
            );
            return;
        }
        tracing::info!(partitions = list.count(), "kafka partitions assigned");
        if self.stopping.load(std::sync::atomic::Ordering::Relaxed) {
            tracing::info!(
                "the source is stopping: the partitions assigned now are left to the group"
            );
            return;
        }
        if let Some(keeping) = keeping {
            restore_assigned(keeping, list, &self.assignment);
        }
    }

    fn on_revoke(&self, consumer: &BaseConsumer<Self>, list: &TopicPartitionList) {
        let keeping = self.keeping.get().is_some();
        let to_commit = lock(&self.assignment).revoke(list, keeping);
        tracing::info!(
            partitions = list.count(),
            committing = to_commit.count(),
            "kafka partitions revoked"
        );
        if to_commit.count() == 0 {
            return;
        }
        if consumer.assignment_lost() {
            tracing::warn!(
                "kafka assignment lost before revoke: confirmed offsets not committed; \
                 the next owner re-reads them"
            );
        } else if let Err(error) = consumer.commit(&to_commit, CommitMode::Sync) {
            tracing::warn!(%error, "kafka commit on revoke failed; the next owner re-reads");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_reset_caused_by_an_error_is_counted_as_skipped_records() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let context = SourceContext {
            assignment: Default::default(),
            client_errors: AtomicU64::new(0),
            keeping: OnceLock::new(),
            stopping: Default::default(),
        };
        metrics::with_local_recorder(&recorder, || {
            // The warning librdkafka logs when a fetch position is out of range (rdkafka_offset.c).
            context.log(
                RDKafkaLogLevel::Warning,
                "OFFSET",
                "t.trades.v1 [0]: offset reset (at offset 120 (leader epoch -1), broker 1) to offset \
                 BEGINNING (leader epoch -1): fetch failed due to requested offset not available on the \
                 broker: Broker: Offset out of range",
            );
            // A new group's reset is a debug line; other warnings are not resets.
            context.log(
                RDKafkaLogLevel::Debug,
                "OFFSET",
                "t.trades.v1 [1]: offset reset (at offset INVALID, broker 1) to BEGINNING: no previously \
                 committed offset available: Local: No offset stored",
            );
            context.log(
                RDKafkaLogLevel::Warning,
                "FAIL",
                "127.0.0.1:9092/1: Connection refused",
            );
        });
        let text = handle.render();
        assert!(
            text.contains("tickstream_kafka_offset_resets_total 1"),
            "{text}"
        );
    }
}
