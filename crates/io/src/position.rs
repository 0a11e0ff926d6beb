//! Positions in a partitioned log (Kafka): a topic partition, where one record was read, and how far a
//! partition has been read. One set of types from the consumer to the lake and the state changelog.

use std::sync::Arc;

/// A topic partition. The topic name is shared, so a copy costs no allocation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: Arc<str>,
    pub partition: i32,
}

/// Where one record was read: its topic partition and offset.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordPosition {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
}

impl RecordPosition {
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition {
            topic: self.topic.clone(),
            partition: self.partition,
        }
    }
}

/// How far a topic partition has been read: the next offset to read, one past the last record covered.
/// What a Kafka commit stores, and what a state record holds per partition (as `topic`,
/// `partition` and `next_offset`).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct PartitionPosition {
    pub topic: Arc<str>,
    pub partition: i32,
    pub next_offset: i64,
}

impl PartitionPosition {
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition {
            topic: self.topic.clone(),
            partition: self.partition,
        }
    }
}
