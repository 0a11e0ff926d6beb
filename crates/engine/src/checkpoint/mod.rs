//! Checkpoints: the pipeline's `[state]` section and the coordinator that decides when a checkpoint is
//! complete (every sink durable, every stateful operator's state and every Kafka source's position in
//! hand), writes the operator state of each input partition to its changelog, and lets the sources commit.
//! The protocol as a whole is described in `docs/architecture.md`.

pub mod coordinator;

pub use coordinator::{Coordinator, Ready, Report};
pub use tickstream_io::kafka::OnMismatch;

use tickstream_io::PartitionPosition;

/// The pipeline's `[state]` section. Operator state is kept in the Kafka sources' groups' changelog
/// topics (`<prefix>.state.<group>.<kind>.v1`) whenever a pipeline reads Kafka and has stateful operators.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateSection {
    pub on_mismatch: OnMismatch,
}

/// Where a Kafka source node stood at a checkpoint on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePosition {
    pub source: String,
    pub position: PartitionPosition,
}
