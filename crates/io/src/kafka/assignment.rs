//! What a Kafka source knows of its partitions: the offsets a commit stores ([`OffsetMap`]) and, per
//! assigned partition, its assignment epoch, the offsets handed out, confirmed and committed (the
//! bookkeeping behind the rebalance protocol in `consumer.rs`), the partition's end as last fetched, and
//! when it last had an event (its idleness); with operator state kept, the partitions restored and revoked
//! that the caller has not yet been told of.

use std::collections::BTreeMap;
use std::sync::Arc;

use rdkafka::{Offset, TopicPartitionList};
use tokio::time::{Duration, Instant};

use super::checkpoint::checkpoint_metadata;
use super::restore::RestoredPartition;
use crate::{Error, PartitionPosition, TopicPartition};

/// Per topic and partition, the next offset to read: what a commit stores. Carries the assignment
/// epoch of each partition (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetMap {
    pub(super) partitions: BTreeMap<Arc<str>, BTreeMap<i32, Mark>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Mark {
    pub(super) next_offset: i64,
    pub(super) epoch: u64,
}

impl OffsetMap {
    /// The next offset to read on a partition (one past the last event covered).
    pub fn next_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.partitions
            .get(topic)
            .and_then(|p| p.get(&partition))
            .map(|m| m.next_offset)
    }

    /// The position of every partition, in topic and partition order.
    pub fn iter(&self) -> impl Iterator<Item = PartitionPosition> + '_ {
        self.partitions.iter().flat_map(|(topic, partitions)| {
            partitions
                .iter()
                .map(move |(partition, mark)| PartitionPosition {
                    topic: topic.clone(),
                    partition: *partition,
                    next_offset: mark.next_offset,
                })
        })
    }

    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }
}

/// What the source knows of one assigned partition.
#[derive(Debug, Clone, Copy)]
pub(super) struct PartitionState {
    pub(super) epoch: u64,
    /// One past the last offset handed out.
    pub(super) handed_out: Option<i64>,
    /// One past the last offset the caller confirmed as flushed downstream.
    pub(super) confirmed: Option<i64>,
    /// The checkpoint the confirmed offset belongs to.
    pub(super) confirmed_checkpoint: Option<u64>,
    /// The last offset committed by this member (or found committed at start).
    pub(super) committed: Option<i64>,
    /// The checkpoint that commit named.
    pub(super) committed_checkpoint: Option<u64>,
    /// Offsets below this were handed out while this member held the partition before.
    pub(super) seen_below: Option<i64>,
    /// The partition's end (high watermark) in the client's last statistics; none before its first
    /// fetch.
    pub(super) high_watermark: Option<i64>,
    /// When the partition was assigned or last had a message.
    pub(super) last_activity: Instant,
}

impl PartitionState {
    /// Idle: caught up with the partition's end as last fetched, and no message for `idle_timeout`. A
    /// partition with a backlog, or not fetched yet, is never idle.
    pub(super) fn is_idle(&self, now: Instant, idle_timeout: Duration) -> bool {
        let caught_up = match (self.high_watermark, self.handed_out) {
            (Some(end), Some(read)) => read >= end,
            (Some(end), None) => end == 0,
            (None, _) => false,
        };
        caught_up && now.saturating_duration_since(self.last_activity) >= idle_timeout
    }
}

/// The current assignment, shared by the source and its rebalance callbacks.
#[derive(Debug, Default)]
pub(super) struct Assignment {
    pub(super) partitions: BTreeMap<Arc<str>, BTreeMap<i32, PartitionState>>,
    pub(super) epochs: u64,
    /// Set by the first assignment (even an empty one).
    pub(super) assigned: bool,
    /// Set once the caller has read the committed offsets at start; assignments after that continue
    /// with whatever state the operators hold.
    pub(super) started: bool,
    /// Where this member had got to on partitions revoked from it.
    pub(super) left_at: BTreeMap<(String, i32), i64>,
    /// With operator state kept: partitions restored on assignment, and partitions revoked (with the
    /// generation that revoked them), not yet passed on by the caller; and a restore that failed.
    pub(super) restored: Vec<RestoredPartition>,
    pub(super) revoked: Vec<(TopicPartition, u64)>,
    pub(super) restore_failure: Option<Error>,
    /// Counts restores and revokes, so that the operators downstream can tell which came last.
    pub(super) generations: u64,
}

impl Assignment {
    pub(super) fn get_mut(&mut self, topic: &str, partition: i32) -> Option<&mut PartitionState> {
        self.partitions.get_mut(topic)?.get_mut(&partition)
    }

    pub(super) fn assign(&mut self, list: &TopicPartitionList, keeping_state: bool) {
        self.assigned = true;
        let new_to_this_member = list
            .elements()
            .iter()
            .filter(|e| {
                !self
                    .left_at
                    .contains_key(&(e.topic().to_owned(), e.partition()))
            })
            .count();
        if self.started && new_to_this_member > 0 && !keeping_state {
            tracing::warn!(
                partitions = new_to_this_member,
                "kafka partitions new to this member assigned after start: the operators continue \
                 without the history of their keys"
            );
        }
        for element in list.elements() {
            self.epochs += 1;
            let state = PartitionState {
                epoch: self.epochs,
                handed_out: None,
                confirmed: None,
                confirmed_checkpoint: None,
                committed: None,
                committed_checkpoint: None,
                seen_below: self
                    .left_at
                    .remove(&(element.topic().to_owned(), element.partition())),
                high_watermark: None,
                last_activity: Instant::now(),
            };
            let topic = element.topic();
            match self.partitions.get_mut(topic) {
                Some(partitions) => {
                    partitions.insert(element.partition(), state);
                }
                None => {
                    let partitions = BTreeMap::from([(element.partition(), state)]);
                    self.partitions.insert(Arc::from(topic), partitions);
                }
            }
        }
    }

    /// The assigned partitions that are idle at `now`.
    pub(super) fn idle(&self, now: Instant, idle_timeout: Duration) -> Vec<TopicPartition> {
        self.partitions
            .iter()
            .flat_map(|(topic, partitions)| {
                partitions
                    .iter()
                    .filter(move |(_, state)| state.is_idle(now, idle_timeout))
                    .map(|(partition, _)| TopicPartition {
                        topic: topic.clone(),
                        partition: *partition,
                    })
            })
            .collect()
    }

    /// Forgets the revoked partitions and returns their confirmed, not yet committed offsets. With
    /// `keeping_state`, the revoked partitions are remembered for the caller to pass on.
    pub(super) fn revoke(
        &mut self,
        list: &TopicPartitionList,
        keeping_state: bool,
    ) -> TopicPartitionList {
        let mut to_commit = TopicPartitionList::new();
        for element in list.elements() {
            if keeping_state
                && let Some((topic, _)) = self.partitions.get_key_value(element.topic())
            {
                self.generations += 1;
                let partition = TopicPartition {
                    topic: topic.clone(),
                    partition: element.partition(),
                };
                self.revoked.push((partition, self.generations));
            }
            let Some(partitions) = self.partitions.get_mut(element.topic()) else {
                continue;
            };
            let state = partitions.remove(&element.partition());
            if let Some(handed_out) = state.and_then(|s| s.handed_out) {
                let key = (element.topic().to_owned(), element.partition());
                self.left_at.insert(key, handed_out);
            }
            if let Some(state) = state
                && let Some(confirmed) = state.confirmed
                && (state.committed < Some(confirmed)
                    || state.committed_checkpoint != state.confirmed_checkpoint)
            {
                let mut entry = to_commit.add_partition(element.topic(), element.partition());
                let _ = entry.set_offset(Offset::Offset(confirmed));
                if let Some(id) = state.confirmed_checkpoint {
                    entry.set_metadata(checkpoint_metadata(id));
                }
            }
            if partitions.is_empty() {
                self.partitions.remove(element.topic());
            }
        }
        to_commit
    }
}
