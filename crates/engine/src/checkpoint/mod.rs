//! Checkpoints: the coordinator that decides when a checkpoint is complete (every sink durable, every
//! stateful operator's state and every Kafka source's position in hand) and the store of operator state.
//! The protocol as a whole is described in `docs/architecture.md`.

pub mod coordinator;
pub mod state_store;

pub use coordinator::{Coordinator, Ready, Report};
pub use state_store::{OnMismatch, SourcePosition, StateSection, StateStore};
