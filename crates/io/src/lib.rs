//! tickstream's transports and stores: Kafka source and sink, the Parquet lake, and file sources for replay.

mod error;
pub mod kafka;
pub mod lake;
pub mod ndjson;
mod position;

pub use error::Error;
pub use position::{PartitionPosition, RecordPosition, TopicPartition};
