//! The Kafka source's librdkafka context: rebalances per the source's commit protocol (see `consumer`),
//! client errors and log lines, and consumer lag from the client's statistics.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;

use super::assignment::Assignment;
use super::log_client_error;

/// Consumer context: rebalance handling per the source's protocol, errors, and lag export.
#[derive(Debug)]
pub(crate) struct SourceContext {
    pub(crate) assignment: Arc<Mutex<Assignment>>,
    /// Client-level errors (such as brokers down) since start, for log sampling.
    pub(crate) client_errors: AtomicU64,
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
        for (name, topic) in &statistics.topics {
            for (partition, stats) in &topic.partitions {
                if *partition < 0 || !stats.desired || stats.hi_offset < 0 {
                    continue;
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
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                lock(&self.assignment).assign(list);
                if list.count() == 0 {
                    tracing::warn!(
                        "kafka group assigned no partitions to this member (more members than partitions, or topic metadata not yet known; a metadata refresh rejoins)"
                    );
                } else {
                    tracing::info!(partitions = list.count(), "kafka partitions assigned");
                }
            }
            Rebalance::Revoke(list) => {
                let to_commit = lock(&self.assignment).revoke(list);
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
            Rebalance::Error(error) => tracing::warn!(%error, "kafka rebalance error"),
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
