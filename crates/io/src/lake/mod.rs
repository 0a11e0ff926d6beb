//! The Parquet lake: one Hive-partitioned dataset per event type, written atomically, with exactly-once
//! delivery from Kafka across crashes.
//!
//! # Layout
//! `<root>/<dataset>/exchange=<x>/symbol=<s>/[interval=<i>/]date=<YYYY-MM-DD>/part-<HHMMSS>-<hex>.parquet`;
//! `signals` and `status` are partitioned by `date` only. `date` is the UTC date of the event time. The
//! columns are those of `tickstream_model::schema::LAKE_TABLES` (committed as `schemas/lake.v1.json`); the
//! partition keys are in the path only. Timestamps are TIMESTAMP(NANOS, UTC); prices and quantities are
//! float64 for analysis (the exact decimal text stays on Kafka); strings are dictionary-encoded; pages are
//! zstd-compressed (segments on a local root: LZ4, see below) with statistics; rows are sorted by event
//! time within a file. Each file's key/value
//! metadata names its event schema (`tickstream.schema` = `trade.v1`, ...), dataset, the tickstream
//! version, and the source offsets it covers (`tickstream.offsets`).
//!
//! # Atomicity
//! A file is written as `.<name>.tmp` in its partition directory, then fsynced, renamed to `<name>` and the
//! directory fsynced. Readers globbing `*.parquet` never see a partial file. Temporary files left by a crash
//! are removed when a sink opens the dataset. Files are committed on `flush`, when rows arrive earlier
//! than the open file's last row (so files stay sorted), past `max_open_files`, and past
//! `max_buffered_rows` (the largest partitions first). A `flush` commits
//! all its files together: on Linux, from eight files on, their data is made durable by one `syncfs`
//! before any rename and the renames by a second one, instead of an fsync of each file and directory.
//!
//! # Rolls and segments
//! On a local root, every file committed since a partition's last roll is a *segment* of the partition's
//! current file. The file rolls when `max_file_age` has passed since the first row after the last roll
//! (checked on writes and by `roll_expired`), when the segments and the open file reach `max_file_bytes`
//! together, and for every partition on `close` (the end of a run). At a roll the sink commits the open
//! file and merges the segments into one file sorted by event time, on the caller's thread, with the
//! steps of `compact` (module `compact`): the new file is committed before the segments are removed, a
//! crash in between is finished or undone when a sink next opens the dataset, and the new file's offset
//! metadata is the union of the segments'. So a pipeline that flushes at every checkpoint still leaves one
//! file per partition and hour (or `max_file_bytes`); readers see the segments until then. Segments are
//! LZ4-compressed (`LZ4_RAW`, read by DuckDB, Polars, pyarrow and Spark 3.4+), which costs the writer
//! far less than zstd for many small column chunks; the file a roll writes (even from a single segment)
//! is zstd. Overlapping
//! segments (late rows) are sorted in memory, up to `max_file_bytes` of compressed data. The sink only
//! knows the segments it wrote: those of a run that was killed before its roll stay as they are, for
//! `compact`. Object store roots have no merge: each flush leaves one object per partition.
//!
//! # Object stores
//! `root` may be an object store URL instead of a directory: `s3://bucket/prefix` (and S3-compatible
//! stores through `storage_options.aws_endpoint`), `gs://`, `az://`/`abfss://` (or the stores' `https://` URLs). Plain HTTP/WebDAV servers are
//! refused: their PUT is not atomic on most servers. Credentials come from the store's standard environment variables (`AWS_ACCESS_KEY_ID`, ...);
//! `storage_options` (object_store's keys) override them and are never printed. A file is written to a
//! staging file in `staging_dir` (local disk), and on commit stored under its final key with one PUT
//! (up to 16 MiB) or one multipart upload completed after all its parts are stored. Per store:
//! - S3 and S3-compatible stores, GCS, Azure Blob: a PUT and a multipart completion are atomic, so a
//!   key shows the whole file or nothing; readers never see partial files and no rename is needed. A crash
//!   during a multipart upload leaves invisible parts, which the store keeps (and bills) until a bucket
//!   lifecycle rule aborts incomplete uploads (S3: `AbortIncompleteMultipartUpload`): set one. Staged
//!   files of a crash are removed when a sink opens the root.
//! - Durability is the store's once a PUT or completion returns: the offsets the sink then reports as
//!   committable are safe to commit to Kafka.
//!
//! On open the sink lists each partition's keys and reads the footers of its files (ranged GETs) to find
//! the offsets it already holds, as on local disk. `compact` works on local roots only and refuses an
//! object store URL.
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
mod open_file;
mod partition;
mod pending;
mod record_batch;
mod stats;
mod store;
mod writer;

pub use arrow_schema::{
    FileCodec, META_DATASET, META_OFFSETS, META_SCHEMA, META_VERSION, TICKSTREAM_VERSION,
    arrow_schema, lake_table, lake_table_named, writer_properties,
};
pub use compact::{CompactReport, compact};
pub use config::{COMMIT_SPACING, DEFAULT_MAX_FILE_BYTES, ParquetSinkConfig, StorageOptions};
pub use files::file_offsets;
pub use offsets::OffsetRange;
pub use partition::{PartitionKey, partition_batches};
pub use record_batch::{record_batch, sort_by_event_time};
pub use stats::SinkStats;
pub use store::{LakeRoot, is_object_url};
pub use writer::ParquetSink;
