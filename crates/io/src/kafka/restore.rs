//! Restoring operator state on assignment, before the partition's first event: for each newly assigned
//! partition, the group's committed offset and the last changelog record decide where reading starts and
//! with what state (see `changelog`). Runs inside the rebalance callback, so that the fetch starts at the
//! restored offset.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::value::RawValue;

use super::Cluster;
use super::assignment::Assignment;
use super::changelog::{OnMismatch, StateRecord, read_last_states, state_reader};
use super::checkpoint::parse_checkpoint_metadata;
use crate::{Error, TopicPartition};

/// How long reading the committed offsets of newly assigned partitions may take.
const COMMITTED_TIMEOUT: Duration = Duration::from_secs(15);

/// Where a source keeps its operators' state: the changelog of its group, and what to do on a mismatch.
#[derive(Debug, Clone)]
pub struct StateKeeping {
    pub cluster: Cluster,
    pub group: String,
    pub on_mismatch: OnMismatch,
}

/// A partition assigned to this member, with the state its operators continue from.
#[derive(Debug)]
pub struct RestoredPartition {
    pub partition: TopicPartition,
    /// Orders restores and revokes of this source: downstream, a message of a partition belongs to the
    /// latest restore that its input has passed on.
    pub generation: u64,
    /// The checkpoint the state was taken at; none when the partition starts empty.
    pub checkpoint: Option<u64>,
    /// Where reading starts; none: the group's committed offset, or `offset_reset`.
    pub next_offset: Option<i64>,
    /// Each stateful operator's state by node name (empty: every operator starts empty).
    pub operators: BTreeMap<String, Box<RawValue>>,
}

/// What one newly assigned partition starts from.
#[derive(Debug)]
struct Start {
    committed: Option<(i64, Option<u64>)>,
    record: Option<StateRecord>,
}

/// Decides the start of one partition: the changelog's last record when there is one and the commit is
/// not past it; a partition the group never committed on starts empty; anything else is a mismatch.
fn decide(partition: &TopicPartition, start: Start) -> Result<Option<StateRecord>, String> {
    match (start.committed, start.record) {
        (Some((committed, _)), Some(record)) if committed > record.next_offset => Err(format!(
            "{}[{}]: the group committed offset {committed}, past the changelog's state at offset {} \
             (the changelog was written by another deployment, or records were lost)",
            partition.topic, partition.partition, record.next_offset
        )),
        (_, Some(record)) => Ok(Some(record)),
        (None, None) => Ok(None),
        (Some((committed, checkpoint)), None) => Err(format!(
            "{}[{}]: the group committed offset {committed}{} but the changelog holds no state for this \
             partition (was it deleted?)",
            partition.topic,
            partition.partition,
            checkpoint.map_or(String::new(), |c| format!(" with checkpoint {c}"))
        )),
    }
}

/// Restores the newly assigned partitions in `list`: reads their committed offsets and last changelog
/// records, sets where their fetch starts in `list`, and records what each restored partition starts
/// from in `assignment` for the caller. A mismatch is handled by `on_mismatch`; a failure to read is
/// recorded as the restore failure, which stops the source.
pub(super) fn restore_assigned(
    keeping: &StateKeeping,
    list: &mut TopicPartitionList,
    assignment: &std::sync::Mutex<Assignment>,
) {
    let started = std::time::Instant::now();
    let result = read_starts(keeping, list);
    let mut assignment = super::consumer_context::lock(assignment);
    let (starts, bytes) = match result {
        Ok(read) => read,
        Err(error) => {
            tracing::error!(%error, "operator state could not be restored on assignment");
            assignment.restore_failure.get_or_insert(error);
            return;
        }
    };
    let mut restored_states = 0;
    for (partition, start) in starts {
        let committed = start.committed;
        let record = match decide(&partition, start) {
            Ok(record) => record,
            Err(why) if keeping.on_mismatch == OnMismatch::StartEmpty => {
                tracing::warn!(
                    "{why}; its operators start empty from the committed offset (on_mismatch = \"start_empty\")"
                );
                None
            }
            Err(why) => {
                assignment.restore_failure.get_or_insert(Error::Changelog {
                    topic: super::changelog::changelog_topic(&partition.topic, &keeping.group),
                    partition: partition.partition,
                    message: format!(
                        "{why}. Set on_mismatch = \"start_empty\" in the pipeline's [state] section to \
                         start that partition's operators empty"
                    ),
                });
                return;
            }
        };
        let next_offset = record
            .as_ref()
            .map(|r| r.next_offset)
            .or(committed.map(|c| c.0));
        if let Some(offset) = next_offset {
            // The fetch starts where the state ends.
            let _ = list.set_partition_offset(
                &partition.topic,
                partition.partition,
                Offset::Offset(offset),
            );
        }
        if let Some(state) = assignment.get_mut(&partition.topic, partition.partition) {
            state.handed_out = next_offset;
            state.seen_below = None;
            if let Some((offset, checkpoint)) = committed {
                (state.committed, state.committed_checkpoint) = (Some(offset), checkpoint);
                (state.confirmed, state.confirmed_checkpoint) = (Some(offset), checkpoint);
            }
        }
        assignment.generations += 1;
        restored_states += usize::from(record.is_some());
        let restored = RestoredPartition {
            partition,
            generation: assignment.generations,
            checkpoint: record.as_ref().map(|r| r.checkpoint),
            next_offset,
            operators: record.map(|r| r.operators).unwrap_or_default(),
        };
        assignment.restored.push(restored);
    }
    tracing::info!(
        partitions = list.count(),
        with_state = restored_states,
        bytes,
        took_ms = started.elapsed().as_millis() as u64,
        "operator state restored for the assigned partitions"
    );
    metrics::histogram!("tickstream_state_restore_seconds").record(started.elapsed().as_secs_f64());
}

/// Reads the committed offset and the last changelog record of every partition in `list`; and the bytes
/// of state read.
fn read_starts(
    keeping: &StateKeeping,
    list: &TopicPartitionList,
) -> Result<(Vec<(TopicPartition, Start)>, usize), Error> {
    let reader = state_reader(&keeping.cluster, &keeping.group)?;
    let committed = reader
        .committed_offsets(list.clone(), COMMITTED_TIMEOUT)
        .map_err(|source| Error::Kafka {
            op: "read committed offsets",
            source,
        })?;
    let partitions: Vec<TopicPartition> = list
        .elements()
        .iter()
        .map(|e| TopicPartition {
            topic: e.topic().into(),
            partition: e.partition(),
        })
        .collect();
    let (mut records, bytes) = read_last_states(&reader, &keeping.group, &partitions)?;
    let mut starts = Vec::new();
    for partition in partitions {
        let committed = committed
            .find_partition(&partition.topic, partition.partition)
            .and_then(|e| match e.offset() {
                Offset::Offset(offset) => Some((offset, parse_checkpoint_metadata(e.metadata()))),
                _ => None,
            });
        let record = records.remove(&partition);
        starts.push((partition, Start { committed, record }));
    }
    Ok((starts, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(next_offset: i64) -> StateRecord {
        StateRecord {
            format: super::super::changelog::STATE_FORMAT.into(),
            topic: "t.trades.v1".into(),
            partition: 2,
            checkpoint: 7,
            next_offset,
            operators: BTreeMap::new(),
        }
    }

    #[test]
    fn the_changelog_decides_where_a_partition_starts() {
        let p = TopicPartition {
            topic: "t.trades.v1".into(),
            partition: 2,
        };
        let start = |committed, record| Start { committed, record };
        // A first start: nothing committed, no state.
        assert!(decide(&p, start(None, None)).unwrap().is_none());
        // The state may be ahead of the commit (a crash between the changelog write and the commit).
        let ahead = decide(&p, start(Some((100, Some(6))), Some(record(140)))).unwrap();
        assert_eq!(ahead.unwrap().next_offset, 140);
        let equal = decide(&p, start(Some((140, Some(7))), Some(record(140)))).unwrap();
        assert_eq!(equal.unwrap().next_offset, 140);
        // A commit past the state, or a commit without any state, is a mismatch naming the partition.
        let behind = decide(&p, start(Some((150, None)), Some(record(140)))).unwrap_err();
        assert!(
            behind.contains("t.trades.v1[2]") && behind.contains("150"),
            "{behind}"
        );
        let deleted = decide(&p, start(Some((150, Some(7))), None)).unwrap_err();
        assert!(
            deleted.contains("no state") && deleted.contains("checkpoint 7"),
            "{deleted}"
        );
    }
}
