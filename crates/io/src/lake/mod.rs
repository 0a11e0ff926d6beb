//! The Parquet lake: one Hive-partitioned dataset per event type, written atomically, with exactly-once
//! delivery from Kafka across crashes.
//!
//! # Layout
//! `<root>/<dataset>/exchange=<x>/symbol=<s>/[interval=<i>/]date=<YYYY-MM-DD>/part-<HHMMSS>-<hex>.parquet`;
//! `signals` and `status` are partitioned by `date` only. `date` is the UTC date of the event time. The
//! columns are those of `tickstream_model::schema::LAKE_TABLES` (committed as `schemas/lake.v1.json`); the
//! partition keys are in the path only. Timestamps are TIMESTAMP(NANOS, UTC); prices and quantities are
//! float64 for analysis (the exact decimal text stays on Kafka); strings are dictionary-encoded; pages are
//! zstd-compressed with statistics; rows are sorted by event time within a file. Each file's key/value
//! metadata names its event schema (`tickstream.schema` = `trade.v1`, ...), dataset, the tickstream
//! version, and the source offsets it covers (`tickstream.offsets`).
//!
//! # Atomicity
//! A file is written as `.<name>.tmp` in its partition directory, then fsynced, renamed to `<name>` and the
//! directory fsynced. Readers globbing `*.parquet` never see a partial file. Temporary files left by a crash
//! are removed when a sink opens the dataset. Files roll at `max_file_bytes` or `max_file_age`, on `flush`,
//! and when rows arrive earlier than the open file's last row (so files stay sorted).
//!
//! # Exactly-once from Kafka
//! Records written with `ParquetSink::write_batch` carry their topic, partition and offset. Every file
//! records, per topic partition, the range of offsets of its rows. Within one lake partition, the rows of a
//! topic partition are written in offset order and committed file by file, so the lake always holds a
//! prefix of them: on open the sink reads the highest stored offset per (lake partition, topic partition)
//! from the files' metadata (lazily, when a partition is first touched) and skips records at or below it.
//!
//! A checkpoint is: `sink.flush()` (or any call that committed files) returns `Ok`, then the caller commits
//! `sink.committable_offsets()` to Kafka. Those offsets never pass a record that is only in memory or in a
//! temporary file, so a crash at any moment loses nothing (uncommitted records are read again) and
//! duplicates nothing (records already in files are skipped). Kafka commits may lag far behind the lake (up to `max_file_age`); that
//! only costs re-reading on restart. The guarantee needs one sink per dataset and topic partition at a time
//! and the same topic names across restarts. Events written with `write` (no offsets) are written at least
//! once per call, with no deduplication. After an error, drop the sink and open a new one.

mod arrow_schema;
mod compact;
mod config;
mod files;
mod offsets;
mod partition;
mod record_batch;
mod writer;

pub use arrow_schema::{
    META_DATASET, META_OFFSETS, META_SCHEMA, META_VERSION, TICKSTREAM_VERSION, arrow_schema,
    lake_table, lake_table_named, writer_properties,
};
pub use compact::{CompactReport, compact};
pub use config::{DEFAULT_MAX_FILE_BYTES, ParquetSinkConfig};
pub use files::file_offsets;
pub use offsets::{OffsetRange, SourceOffset, SourcePartition};
pub use partition::{PartitionKey, partition_batches};
pub use record_batch::{record_batch, sort_by_event_time};
pub use writer::{ParquetSink, SinkStats};
