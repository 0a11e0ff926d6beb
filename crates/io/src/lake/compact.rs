//! Compaction: merges the small files of a partition into files of about a target size, atomically.
//!
//! Steps for each group of small files: (1) write a marker `.compact-<new>.json` naming the new file and the
//! files it replaces, fsync it; (2) write the merged rows to `.<new>.tmp`, fsync, rename to `<new>`, fsync
//! the directory; (3) remove the replaced files, fsync; (4) remove the marker, fsync. A crash is resolved the
//! next time a sink opens the dataset or `compact` runs over the partition: if `<new>` exists, the replaced
//! files still present are removed (step 3 is finished); if not, the temporary file is removed and the old
//! files stay (nothing happened). Readers can see the old and new rows twice only between a crash in step 3
//! and that next start, and never see rows missing. The new file's offset metadata is the union of the old
//! files', so a sink's duplicate detection is the same before and after.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use arrow::compute::{SortOptions, concat_batches, sort_to_indices, take_record_batch};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::file::metadata::{KeyValue, ParquetMetaDataReader};
use parquet::file::statistics::Statistics;
use tickstream_model::UnixNanos;
use tickstream_model::schema::{LAKE_TABLES, LakeTable};

use super::arrow_schema::{FileCodec, META_OFFSETS, arrow_schema, sort_column, writer_properties};
use super::files::{
    commit_file, data_files, dir_entries, file_offsets, io_error, leaf_dirs, new_file_name,
    parquet_error, remove_if_present, sync_dir, temp_path,
};
use super::offsets::{RangeSet, encode_ranges};
use super::store::is_object_url;
use crate::Error;

const MARKER_PREFIX: &str = ".compact-";
const MARKER_SUFFIX: &str = ".json";
/// Writer settings of the files `compact` writes.
const COMPACT_ZSTD_LEVEL: i32 = 3;
const COMPACT_ROW_GROUP_ROWS: usize = 1_000_000;

/// What `compact` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactReport {
    pub partitions_scanned: usize,
    pub files_replaced: usize,
    pub files_written: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Interrupted compactions found and resolved first.
    pub interrupted_resolved: usize,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Marker {
    new: String,
    replaces: Vec<String>,
}

/// Merges the files smaller than half of `target_file_bytes` in each partition of `root` (one dataset, one
/// `date`, or all) into files of up to about `target_file_bytes`. Run it over partitions no sink is writing
/// (past dates); a sink opening a dataset while `compact` runs over it makes that run fail without loss.
/// Memory: files that do not overlap in time are copied a batch at a time; a group of overlapping files
/// (up to the target size, compressed) is sorted in memory.
pub fn compact(
    root: &Path,
    dataset: Option<&str>,
    date: Option<&str>,
    target_file_bytes: u64,
) -> Result<CompactReport, Error> {
    let config = |field: &str, message: String| Error::Config {
        field: field.to_owned(),
        message,
    };
    if let Some(name) = dataset
        && !LAKE_TABLES.iter().any(|t| t.dataset == name)
    {
        return Err(config("dataset", format!("unknown dataset `{name}`")));
    }
    if let Some(d) = date
        && UnixNanos::parse_rfc3339(&format!("{d}T00:00:00Z"))
            .map(|t| t.utc_date())
            .ok()
            .as_deref()
            != Some(d)
    {
        return Err(config("date", format!("`{d}` is not a date YYYY-MM-DD")));
    }
    if target_file_bytes < 1024 {
        return Err(config("target_file_bytes", "must be at least 1024".into()));
    }
    if is_object_url(root) {
        return Err(config(
            "root",
            format!(
                "`{}`: compact works on local lake directories only, not on object store roots",
                root.display()
            ),
        ));
    }
    let mut report = CompactReport::default();
    for table in LAKE_TABLES
        .iter()
        .filter(|t| dataset.is_none_or(|d| d == t.dataset))
    {
        for dir in leaf_dirs(&root.join(table.dataset))? {
            let wanted = date.is_none_or(|d| {
                dir.file_name()
                    .is_some_and(|n| n == format!("date={d}").as_str())
            });
            if !wanted || !dir.to_string_lossy().contains("date=") {
                continue;
            }
            report.partitions_scanned += 1;
            report.interrupted_resolved += finish_interrupted_compactions(&dir)?;
            compact_partition(table, &dir, target_file_bytes, &mut report)?;
        }
    }
    Ok(report)
}

fn compact_partition(
    table: &LakeTable,
    dir: &Path,
    target_file_bytes: u64,
    report: &mut CompactReport,
) -> Result<(), Error> {
    let mut groups: Vec<Vec<(PathBuf, u64)>> = vec![Vec::new()];
    for path in data_files(dir)? {
        let size = fs::metadata(&path).map_err(|e| io_error(&path, e))?.len();
        if size >= target_file_bytes / 2 {
            continue;
        }
        let current_size: u64 = groups.last().map_or(0, |g| g.iter().map(|f| f.1).sum());
        if current_size + size > target_file_bytes {
            groups.push(Vec::new());
        }
        if let Some(group) = groups.last_mut() {
            group.push((path, size));
        }
    }
    for group in groups.into_iter().filter(|g| g.len() >= 2) {
        let paths: Vec<PathBuf> = group.iter().map(|f| f.0.clone()).collect();
        let bytes_after = merge_files(
            table,
            dir,
            &paths,
            COMPACT_ZSTD_LEVEL,
            COMPACT_ROW_GROUP_ROWS,
        )?;
        report.files_replaced += paths.len();
        report.files_written += 1;
        report.bytes_before += group.iter().map(|f| f.1).sum::<u64>();
        report.bytes_after += bytes_after;
    }
    Ok(())
}

/// Opens a data file for reading, checking that it has the dataset's schema.
fn open_reader(table: &LakeTable, path: &Path) -> Result<ParquetRecordBatchReader, Error> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| parquet_error(path, e))?;
    if builder.schema().fields() != arrow_schema(table).fields() {
        return Err(Error::Lake {
            path: path.display().to_string(),
            message: format!(
                "columns differ from the {} layout; not merged",
                table.kind.schema()
            ),
        });
    }
    builder.build().map_err(|e| parquet_error(path, e))
}

/// The event-time range of a file's rows, from its column statistics (the widest range when absent).
fn time_range(table: &LakeTable, path: &Path) -> Result<(i64, i64), Error> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let metadata = ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map_err(|e| parquet_error(path, e))?;
    let mut range: Option<(i64, i64)> = None;
    for group in metadata.row_groups() {
        let Some(Statistics::Int64(stats)) = group.column(sort_column(table)).statistics() else {
            return Ok((i64::MIN, i64::MAX));
        };
        let (Some(min), Some(max)) = (stats.min_opt(), stats.max_opt()) else {
            return Ok((i64::MIN, i64::MAX));
        };
        range = Some(range.map_or((*min, *max), |(lo, hi)| (lo.min(*min), hi.max(*max))));
    }
    Ok(range.unwrap_or((i64::MAX, i64::MAX)))
}

/// Merges `paths` into one new file in `dir` with the steps of the module docs; returns the new file's
/// size. Files whose time ranges do not overlap are copied batch by batch in time order; overlapping ones
/// are sorted in memory. Also used by the sink to merge a partition's segments when its file rolls.
pub(crate) fn merge_files(
    table: &LakeTable,
    dir: &Path,
    paths: &[PathBuf],
    zstd_level: i32,
    row_group_rows: usize,
) -> Result<u64, Error> {
    let schema = arrow_schema(table);
    let mut offsets = RangeSet::default();
    let mut sources = Vec::with_capacity(paths.len());
    for path in paths {
        offsets.add_all(&file_offsets(path)?);
        sources.push((time_range(table, path)?, path));
    }
    sources.sort();
    let disjoint = sources.windows(2).all(|w| w[0].0.1 <= w[1].0.0);
    let first_ts = sources.first().map_or(0, |s| s.0.0);
    let sorted = if disjoint {
        None
    } else {
        let mut batches = Vec::new();
        for (_, path) in &sources {
            for batch in open_reader(table, path)? {
                batches.push(batch?);
            }
        }
        let merged = concat_batches(&schema, &batches)?;
        let order = sort_to_indices(
            merged.column(sort_column(table)),
            Some(SortOptions::default()),
            None,
        )?;
        Some(take_record_batch(&merged, &order)?)
    };

    let name = new_file_name(UnixNanos(first_ts));
    let final_path = dir.join(&name);
    let marker_path = dir.join(format!("{MARKER_PREFIX}{name}{MARKER_SUFFIX}"));
    let replaces = paths
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let marker = serde_json::to_vec(&Marker {
        new: name.clone(),
        replaces,
    })
    .map_err(|e| Error::Lake {
        path: marker_path.display().to_string(),
        message: e.to_string(),
    })?;
    let mut marker_file = File::create_new(&marker_path).map_err(|e| io_error(&marker_path, e))?;
    marker_file
        .write_all(&marker)
        .and_then(|()| marker_file.sync_all())
        .map_err(|e| io_error(&marker_path, e))?;
    sync_dir(dir)?;

    let temp = temp_path(&final_path);
    let file = File::create_new(&temp).map_err(|e| io_error(&temp, e))?;
    let properties = writer_properties(table, FileCodec::Zstd(zstd_level), row_group_rows);
    let mut writer = ArrowWriter::try_new(file, schema, Some(properties))
        .map_err(|e| parquet_error(&temp, e))?;
    match &sorted {
        Some(batch) => writer.write(batch).map_err(|e| parquet_error(&temp, e))?,
        None => {
            for (_, path) in &sources {
                for batch in open_reader(table, path)? {
                    writer.write(&batch?).map_err(|e| parquet_error(&temp, e))?;
                }
            }
        }
    }
    if !offsets.is_empty() {
        writer.append_key_value_metadata(KeyValue::new(
            META_OFFSETS.to_owned(),
            encode_ranges(&offsets.to_ranges()),
        ));
    }
    writer.finish().map_err(|e| parquet_error(&temp, e))?;
    commit_file(writer.inner_mut(), &temp, &final_path)?;
    drop(writer);

    for path in paths {
        remove_if_present(path)?;
    }
    sync_dir(dir)?;
    remove_if_present(&marker_path)?;
    sync_dir(dir)?;
    tracing::debug!(path = %final_path.display(), replaced = paths.len(), "merged lake files");
    fs::metadata(&final_path)
        .map(|m| m.len())
        .map_err(|e| io_error(&final_path, e))
}

/// Completes or rolls back the compactions in `dir` that a crash interrupted (see the module docs);
/// returns how many there were.
pub(crate) fn finish_interrupted_compactions(dir: &Path) -> Result<usize, Error> {
    let mut markers = Vec::new();
    for (path, name) in dir_entries(dir)? {
        if let Some(new) = name
            .strip_prefix(MARKER_PREFIX)
            .and_then(|n| n.strip_suffix(MARKER_SUFFIX))
        {
            markers.push((path.clone(), dir.join(new)));
        }
    }
    for (marker_path, new_path) in &markers {
        if new_path.is_file() {
            let text = fs::read(marker_path).map_err(|e| io_error(marker_path, e))?;
            let marker: Marker = serde_json::from_slice(&text).map_err(|e| Error::Lake {
                path: marker_path.display().to_string(),
                message: format!("unreadable compaction marker beside its committed file: {e}"),
            })?;
            for old in &marker.replaces {
                remove_if_present(&dir.join(old))?;
            }
            tracing::warn!(path = %new_path.display(), "finished an interrupted compaction");
        } else {
            remove_if_present(&temp_path(new_path))?;
            tracing::warn!(path = %new_path.display(), "rolled back an interrupted compaction");
        }
        sync_dir(dir)?;
        remove_if_present(marker_path)?;
        sync_dir(dir)?;
    }
    Ok(markers.len())
}
