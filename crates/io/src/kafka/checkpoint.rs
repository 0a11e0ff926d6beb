//! Naming a checkpoint in a Kafka commit: the metadata text every committed partition carries, and what a
//! source finds committed at start.

use std::sync::Arc;

/// What a commit's metadata starts with; the checkpoint id follows.
const CHECKPOINT_METADATA: &str = "tickstream.checkpoint=";

/// The commit metadata naming checkpoint `id`.
pub fn checkpoint_metadata(id: u64) -> String {
    format!("{CHECKPOINT_METADATA}{id}")
}

/// The checkpoint a commit's metadata names, if it names one.
pub fn parse_checkpoint_metadata(metadata: &str) -> Option<u64> {
    metadata.strip_prefix(CHECKPOINT_METADATA)?.parse().ok()
}

/// A partition assigned at start, with the group's committed offset there (none when the group never
/// committed on it) and the checkpoint that commit named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub topic: Arc<str>,
    pub partition: i32,
    pub next_offset: Option<i64>,
    pub checkpoint: Option<u64>,
}
