//! tickstream's dataflow engine: pipeline files (`pipeline`: load, `${VAR}` expansion, the registry from
//! `kind` to component, graph checks), the runtime (`dataflow`: one task per node, bounded channels,
//! aligned checkpoint barriers) and checkpoints (`checkpoint`: the coordinator and the operator state
//! store).

pub mod checkpoint;
pub mod dataflow;
mod error;
pub mod pipeline;

pub use error::Error;
