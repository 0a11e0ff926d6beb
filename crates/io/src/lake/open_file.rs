//! `OpenFile`: the temporary Parquet file a lake partition is writing row groups into, from its creation
//! under the root to its last bytes, with the source offsets of its rows in the metadata; and
//! `OpenPartition`, what the sink holds for each partition it writes, and how a commit picks its group.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::time::Instant;

use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::KeyValue;
use tickstream_model::{EventKind, UnixNanos};

use super::arrow_schema::{FileCodec, META_OFFSETS, arrow_schema, lake_table, writer_properties};
use super::config::ParquetSinkConfig;
use super::files::{new_file_name, parquet_error};
use super::offsets::{RangeSet, encode_ranges};
use super::partition::PartitionKey;
use super::pending::PendingRows;
use super::store::LakeRoot;
use crate::Error;

pub(super) struct OpenFile {
    pub writer: ArrowWriter<File>,
    pub temp: PathBuf,
    pub name: String,
    /// Event time of the file's last row: a row group starting earlier goes to a new file.
    pub last_ts: i64,
    /// The sink's count of row groups written when this file last got one.
    pub last_write: u64,
}

impl std::fmt::Debug for OpenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenFile")
            .field("temp", &self.temp)
            .field("last_ts", &self.last_ts)
            .finish()
    }
}

impl OpenFile {
    /// Creates the temporary file for rows of `kind` starting at `first_ts` in partition `dir`: segments
    /// (LZ4) on a local root, zstd on an object store, where there is no merge.
    pub fn create(
        root: &LakeRoot,
        config: &ParquetSinkConfig,
        dir: &std::path::Path,
        kind: EventKind,
        first_ts: i64,
    ) -> Result<OpenFile, Error> {
        let table = lake_table(kind);
        let name = new_file_name(UnixNanos(first_ts));
        let (file, temp) = root.create_temp(dir, &name)?;
        let codec = match root {
            LakeRoot::Local(_) => FileCodec::Segment,
            LakeRoot::Object(_) => FileCodec::Zstd(config.zstd_level),
        };
        let properties = writer_properties(table, codec, config.row_group_rows);
        let writer = ArrowWriter::try_new(file, arrow_schema(table), Some(properties))
            .map_err(|e| parquet_error(&temp, e))?;
        Ok(OpenFile {
            writer,
            temp,
            name,
            last_ts: i64::MIN,
            last_write: 0,
        })
    }

    /// Writes `batch` as one row group, to the file (not only to the writer's buffers).
    pub fn write_row_group(&mut self, batch: &RecordBatch) -> Result<(), Error> {
        self.writer
            .write(batch)
            .map_err(|e| parquet_error(&self.temp, e))?;
        self.writer
            .flush()
            .map_err(|e| parquet_error(&self.temp, e))
    }

    /// Writes the footer, with `offsets` (those of the file's rows) in the metadata; returns the file's
    /// size. The file is then ready to be committed.
    pub fn finish(&mut self, offsets: &RangeSet) -> Result<u64, Error> {
        if !offsets.is_empty() {
            let ranges = encode_ranges(&offsets.to_ranges());
            self.writer
                .append_key_value_metadata(KeyValue::new(META_OFFSETS.to_owned(), ranges));
        }
        self.writer
            .finish()
            .map_err(|e| parquet_error(&self.temp, e))?;
        Ok(self.writer.bytes_written() as u64)
    }
}

/// A lake partition the sink holds: its pending rows, its open file and its segments.
#[derive(Debug)]
pub(super) struct OpenPartition {
    /// The partition's directory under the root.
    pub dir: PathBuf,
    /// Rows not yet in a row group, in arrival order.
    pub pending: PendingRows,
    pub pending_offsets: RangeSet,
    pub file: Option<OpenFile>,
    /// Offsets of the rows in the open file.
    pub file_offsets: RangeSet,
    /// Files committed since the last roll (local roots only), to be merged into one at the next roll.
    pub segments: Vec<String>,
    /// Their total size.
    pub segment_bytes: u64,
    /// When the first row since the last roll arrived: the partition rolls at `max_file_age` after it.
    pub opened_at: Instant,
}

/// The next group from the end of `list`: up to `max_files` partitions, stopping once at `max_rows` rows.
pub(super) fn next_group(
    list: &mut Vec<PartitionKey>,
    partitions: &HashMap<PartitionKey, OpenPartition>,
    max_files: usize,
    max_rows: usize,
) -> Vec<PartitionKey> {
    let (mut taken, mut rows) = (0, 0);
    for key in list.iter().rev().take(max_files.max(1)) {
        if taken > 0 && rows >= max_rows {
            break;
        }
        rows += partitions.get(key).map_or(0, |p| p.pending.len());
        taken += 1;
    }
    list.split_off(list.len() - taken)
}
