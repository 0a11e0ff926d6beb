//! Lake files on disk: names, the atomic commit (temporary name in the same directory, fsync, rename, fsync
//! of the directory), discovery of data files and their metadata, and removal of what a crash left behind.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use tickstream_model::UnixNanos;

use super::arrow_schema::META_OFFSETS;
use super::offsets::{OffsetRange, decode_ranges};
use crate::Error;

/// Suffix of files being written; readers' `*.parquet` globs never match them, and their leading `.` hides
/// them from pyarrow and Spark too.
pub const TEMP_SUFFIX: &str = ".tmp";

pub fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

pub fn parquet_error(path: &Path, source: parquet::errors::ParquetError) -> Error {
    Error::Parquet {
        path: path.display().to_string(),
        source,
    }
}

/// A fresh file name, `part-HHMMSS-<16 hex>.parquet`, where the time is the UTC time of day of the file's
/// first row, so a directory lists in time order for people; the hex part makes names unique across
/// processes and restarts.
pub fn new_file_name(first_row: UnixNanos) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let secs_of_day = first_row.0.rem_euclid(86_400_000_000_000) / 1_000_000_000;
    let (h, m, s) = (secs_of_day / 3600, secs_of_day / 60 % 60, secs_of_day % 60);
    let clock = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let seed =
        clock ^ (u64::from(std::process::id()) << 40) ^ COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("part-{h:02}{m:02}{s:02}-{:016x}.parquet", mix(seed))
}

/// splitmix64's finalizer: spreads nearby seeds over all 64 bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The temporary name a file is written under before it is renamed to `final_path`.
pub fn temp_path(final_path: &Path) -> PathBuf {
    let name = final_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    final_path.with_file_name(format!(".{name}{TEMP_SUFFIX}"))
}

/// Creates `dir` and its parents, making each new directory entry durable.
pub fn create_dir_durable(dir: &Path) -> Result<(), Error> {
    // The empty path is the parent of a relative path's first component: the working directory.
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_durable(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_error(dir, e)),
    }
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => Ok(()),
    }
}

/// fsync of a directory, so that renames and removals in it survive a power loss.
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))
}

/// Makes a fully written temporary file durable and visible under its final name.
pub fn commit_file(file: &File, temp: &Path, final_path: &Path) -> Result<(), Error> {
    file.sync_all().map_err(|e| io_error(temp, e))?;
    fs::rename(temp, final_path).map_err(|e| io_error(final_path, e))?;
    sync_dir(final_path.parent().unwrap_or(Path::new(".")))
}

/// From this many files on, `commit_files` syncs the filesystem once (Linux) rather than fsyncing each
/// file and directory: a checkpoint of hundreds of partitions commits in two syncs instead of two per file.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const SYNC_FILESYSTEM_FROM: usize = 8;

/// A finished temporary file and the name it is committed under.
pub struct FileCommit<'a> {
    pub file: &'a File,
    pub temp: &'a Path,
    pub final_path: PathBuf,
}

/// Commits several finished temporary files, each all or nothing: their data is made durable, then each is
/// renamed, then the renames are made durable. With `SYNC_FILESYSTEM_FROM` files or more on Linux, each
/// of those durability steps is one `syncfs` of the filesystem holding them (which also writes back other
/// processes' dirty data on it); otherwise every file and every directory is fsynced.
pub fn commit_files(files: &[FileCommit<'_>]) -> Result<(), Error> {
    #[cfg(target_os = "linux")]
    if let Some(first) = files.first()
        && files.len() >= SYNC_FILESYSTEM_FROM
    {
        sync_filesystem(first.file, first.temp)?;
        for f in files {
            fs::rename(f.temp, &f.final_path).map_err(|e| io_error(&f.final_path, e))?;
        }
        return sync_filesystem(first.file, first.temp);
    }
    for f in files {
        commit_file(f.file, f.temp, &f.final_path)?;
    }
    Ok(())
}

/// `syncfs(2)` of the filesystem holding `file`.
#[cfg(target_os = "linux")]
fn sync_filesystem(file: &File, path: &Path) -> Result<(), Error> {
    rustix::fs::syncfs(file).map_err(|e| io_error(path, e.into()))
}

/// The entries of `dir` as (path, file name), sorted; a missing directory has none.
pub fn dir_entries(dir: &Path) -> Result<Vec<(PathBuf, String)>, Error> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| io_error(dir, e))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push((path, name));
    }
    out.sort();
    Ok(out)
}

/// The visible data files of a leaf directory, by name. A missing directory has none.
pub fn data_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    Ok(dir_entries(dir)?
        .into_iter()
        .filter(|(path, name)| {
            name.ends_with(".parquet") && !name.starts_with('.') && path.is_file()
        })
        .map(|(path, _)| path)
        .collect())
}

/// Every directory under `dir` (itself included) that holds no subdirectory: the lake's leaf partitions.
pub fn leaf_dirs(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut leaves = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        if !current.is_dir() {
            continue;
        }
        let mut has_subdir = false;
        for (path, _) in dir_entries(&current)? {
            if path.is_dir() {
                has_subdir = true;
                stack.push(path);
            }
        }
        if !has_subdir {
            leaves.push(current);
        }
    }
    leaves.sort();
    Ok(leaves)
}

/// Removes the temporary files of interrupted writes in `dir`; returns how many.
pub fn remove_temp_files(dir: &Path) -> Result<usize, Error> {
    let mut removed = 0;
    for (path, name) in dir_entries(dir)? {
        if name.starts_with('.') && name.ends_with(TEMP_SUFFIX) && path.is_file() {
            remove_if_present(&path)?;
            tracing::info!(path = %path.display(), "removed the temporary file of an interrupted write");
            removed += 1;
        }
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// Removes a file; a file already gone is not an error.
pub fn remove_if_present(path: &Path) -> Result<(), Error> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(path, e)),
    }
}

/// The source offset ranges recorded in a data file's metadata (none for files written without offsets).
pub fn file_offsets(path: &Path) -> Result<Vec<OffsetRange>, Error> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let metadata = ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map_err(|e| parquet_error(path, e))?;
    metadata_offsets(&metadata, &path.display().to_string())
}

/// The source offset ranges in a file's parsed metadata; `name` names the file in errors.
pub fn metadata_offsets(metadata: &ParquetMetaData, name: &str) -> Result<Vec<OffsetRange>, Error> {
    let Some(pairs) = metadata.file_metadata().key_value_metadata() else {
        return Ok(Vec::new());
    };
    match pairs
        .iter()
        .find(|kv| kv.key == META_OFFSETS)
        .and_then(|kv| kv.value.as_deref())
    {
        Some(text) => decode_ranges(text).map_err(|e| Error::Lake {
            path: name.to_owned(),
            message: format!("unreadable {META_OFFSETS} metadata: {e}"),
        }),
        None => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_committed_together_all_land_under_their_names() {
        for count in [1, SYNC_FILESYSTEM_FROM + 2] {
            let base = tempfile::tempdir().unwrap();
            let mut written = Vec::new();
            for i in 0..count {
                let dir = base.path().join(format!("p={i}"));
                create_dir_durable(&dir).unwrap();
                let final_path = dir.join(format!("part-{i}.parquet"));
                let temp = temp_path(&final_path);
                let mut file = File::create_new(&temp).unwrap();
                std::io::Write::write_all(&mut file, format!("file {i}").as_bytes()).unwrap();
                written.push((file, temp, final_path));
            }
            let commits: Vec<FileCommit<'_>> = written
                .iter()
                .map(|(file, temp, final_path)| FileCommit {
                    file,
                    temp,
                    final_path: final_path.clone(),
                })
                .collect();
            commit_files(&commits).unwrap();
            for (i, (_, temp, final_path)) in written.iter().enumerate() {
                assert!(!temp.exists(), "{count} files: temporary {i} renamed");
                assert_eq!(fs::read_to_string(final_path).unwrap(), format!("file {i}"));
            }
        }
    }

    #[test]
    fn creates_relative_directories_whose_parents_are_missing() {
        let base = tempfile::tempdir().unwrap();
        let cwd = std::env::current_dir().unwrap();
        let nested = base.path().join("a/b");
        create_dir_durable(&nested).unwrap();
        assert!(nested.is_dir());
        // A relative path ends its parents at the empty path, which is the working directory.
        assert!(create_dir_durable(Path::new("")).is_ok());
        assert_eq!(std::env::current_dir().unwrap(), cwd);
    }

    #[test]
    fn names_are_unique_and_tell_the_time_of_day() {
        let t = UnixNanos::parse_rfc3339("2026-11-22T09:14:07.5Z").unwrap();
        let a = new_file_name(t);
        let b = new_file_name(t);
        assert!(
            a.starts_with("part-091407-") && a.ends_with(".parquet"),
            "{a}"
        );
        assert_ne!(a, b);
        assert_eq!(
            temp_path(Path::new("x/y/part-1.parquet")),
            Path::new("x/y/.part-1.parquet.tmp")
        );
    }
}
