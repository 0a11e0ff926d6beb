//! tickstream's transports and stores: Kafka source and sink, the Parquet lake, and file sources for replay.

mod error;
pub mod kafka;
pub mod lake;
pub mod ndjson;

pub use error::Error;
