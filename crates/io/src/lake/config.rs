//! The Parquet sink's configuration: where the lake lives, which datasets it writes and when files roll.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tickstream_model::schema::LAKE_TABLES;
use tickstream_model::{EventKind, duration_text};

use super::store::is_object_url;
use crate::Error;

/// `[sinks.<name>] kind = "parquet"` in a pipeline file.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParquetSinkConfig {
    /// The lake's root: a directory, or an object store URL (`s3://bucket/prefix`, `gs://...`,
    /// `az://...`, `abfss://...`); each dataset is a directory (key prefix) under it.
    pub root: PathBuf,
    /// Settings of an object store root, by object_store's configuration key (`aws_endpoint`,
    /// `aws_region`, `aws_allow_http`, `google_service_account`, `azure_storage_account_name`, ...). They
    /// override the store's standard environment variables (`AWS_*`, `GOOGLE_*`, `AZURE_*`), which are
    /// the place for credentials. Never printed.
    #[serde(default)]
    pub storage_options: StorageOptions,
    /// Where files for an object store root are written before they are stored (one subdirectory per
    /// root). Default: `tickstream-lake-staging` in the system's temporary directory.
    #[serde(default)]
    pub staging_dir: Option<PathBuf>,
    /// Object store roots: files up to this size are stored with one PUT, larger ones with a multipart
    /// upload of parts this size (at least 5 MiB, S3's smallest part).
    #[serde(default = "default_upload_part_bytes")]
    pub upload_part_bytes: usize,
    /// Datasets to write, by name (`trades`, `quotes`, `book`, `bars`, `indicators`, `signals`, `status`).
    /// Events of other kinds are passed over. Default: all but `book`.
    #[serde(default = "default_datasets")]
    pub datasets: Vec<String>,
    /// A file rolls (is closed, on a local root merged from its segments, and a new one started) once it
    /// and its segments hold about this many bytes.
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// A file rolls this long (wall clock) after the first row since the partition's last roll, so data
    /// becomes visible and its source offsets committable at least this often even without `flush`.
    #[serde(default = "default_max_file_age", with = "duration_text")]
    pub max_file_age: Duration,
    /// Rows per row group (the unit a reader skips by statistics).
    #[serde(default = "default_row_group_rows")]
    pub row_group_rows: usize,
    /// Rows waiting in memory across all partitions before the largest partitions are committed early
    /// (down to half of it, `max_open_files` partitions per write call); bounds the sink's memory (rows
    /// wait as Arrow columns, converted 64 at a time).
    #[serde(default = "default_max_buffered_rows")]
    pub max_buffered_rows: usize,
    /// Files open for writing at once; past it the least recently written partition's file is committed,
    /// as a segment on a local root (a replay over many days and symbols would otherwise hold one descriptor per partition).
    /// A flush commits its files this many partitions at a time, so up to twice this many are open then.
    #[serde(default = "default_max_open_files")]
    pub max_open_files: usize,
    /// zstd level, 1 (fast) to 22 (small).
    #[serde(default = "default_zstd_level")]
    pub zstd_level: i32,
}

/// Object store settings; `Debug` shows the keys only, since values may be secrets.
#[derive(Clone, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct StorageOptions(pub BTreeMap<String, String>);

impl std::fmt::Debug for StorageOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

fn default_datasets() -> Vec<String> {
    LAKE_TABLES
        .iter()
        .filter(|t| t.kind != EventKind::Book)
        .map(|t| t.dataset.to_owned())
        .collect()
}

/// The default file size limit, also the default target of `compact`.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Rows an early commit takes at most in one write call, beyond its first partition. The sink takes
/// nothing in while it commits, so a bounded group keeps each early commit short and its inputs moving;
/// see docs/benchmarks.md.
pub(super) const EARLY_GROUP_ROWS: usize = 16_384;

/// After committing a group outside a checkpoint's own pace, wait this many times what it took before the
/// next, so that commits use at most a third of the lake's thread: early commits in the writer, and the
/// steps of a checkpoint flush in the sink task that drives the sink.
pub const COMMIT_SPACING: u32 = 2;

fn default_max_file_bytes() -> u64 {
    DEFAULT_MAX_FILE_BYTES
}

fn default_upload_part_bytes() -> usize {
    16 * 1024 * 1024
}

fn default_max_file_age() -> Duration {
    Duration::from_secs(3_600)
}

fn default_row_group_rows() -> usize {
    1_000_000
}

/// Rows waiting in memory for a commit, past which the largest partitions are committed early: the
/// bound on the lake sink's memory between checkpoints. Lower bounds commit early more often; see
/// docs/benchmarks.md.
fn default_max_buffered_rows() -> usize {
    500_000
}

fn default_max_open_files() -> usize {
    256
}

fn default_zstd_level() -> i32 {
    3
}

impl ParquetSinkConfig {
    /// A configuration with every default, writing under `root`.
    pub fn new(root: impl Into<PathBuf>) -> ParquetSinkConfig {
        ParquetSinkConfig {
            root: root.into(),
            storage_options: StorageOptions::default(),
            staging_dir: None,
            upload_part_bytes: default_upload_part_bytes(),
            datasets: default_datasets(),
            max_file_bytes: default_max_file_bytes(),
            max_file_age: default_max_file_age(),
            row_group_rows: default_row_group_rows(),
            max_buffered_rows: default_max_buffered_rows(),
            max_open_files: default_max_open_files(),
            zstd_level: default_zstd_level(),
        }
    }

    pub fn validate(&self) -> Result<(), Error> {
        let bad = |field: &str, message: String| {
            Err(Error::Config {
                field: field.to_owned(),
                message,
            })
        };
        if self.root.as_os_str().is_empty() {
            return bad("root", "must name a directory".into());
        }
        if is_object_url(&self.root) {
            let text = self.root.to_string_lossy();
            let scheme = url::Url::parse(&text)
                .ok()
                .and_then(|url| object_store::ObjectStoreScheme::parse(&url).ok());
            if scheme.is_none() {
                return bad(
                    "root",
                    format!("`{text}` is neither a directory nor an object store URL"),
                );
            }
        } else if !self.storage_options.0.is_empty() {
            return bad(
                "storage_options",
                "apply to object store roots only; `root` is a directory".into(),
            );
        }
        if self.upload_part_bytes < 5 * 1024 * 1024 {
            return bad(
                "upload_part_bytes",
                "must be at least 5 MiB (5242880)".into(),
            );
        }
        if self.datasets.is_empty() {
            return bad("datasets", "must name at least one dataset".into());
        }
        for (i, name) in self.datasets.iter().enumerate() {
            if !LAKE_TABLES.iter().any(|t| t.dataset == name) {
                let known: Vec<&str> = LAKE_TABLES.iter().map(|t| t.dataset).collect();
                return bad(
                    "datasets",
                    format!(
                        "unknown dataset `{name}`; expected one of {}",
                        known.join(", ")
                    ),
                );
            }
            if self.datasets[..i].contains(name) {
                return bad("datasets", format!("`{name}` is listed twice"));
            }
        }
        if self.max_file_bytes < 1024 {
            return bad("max_file_bytes", "must be at least 1024".into());
        }
        if self.max_file_age.is_zero() {
            return bad("max_file_age", "must be longer than zero".into());
        }
        if self.row_group_rows == 0 {
            return bad("row_group_rows", "must be at least 1".into());
        }
        if self.max_buffered_rows < self.row_group_rows.min(1024) {
            return bad(
                "max_buffered_rows",
                "must be at least 1024 or row_group_rows".into(),
            );
        }
        if self.max_open_files == 0 {
            return bad("max_open_files", "must be at least 1".into());
        }
        if !(1..=22).contains(&self.zstd_level) {
            return bad(
                "zstd_level",
                format!("{} is outside 1..=22", self.zstd_level),
            );
        }
        Ok(())
    }

    /// The directory where files for an object store root are staged.
    pub fn staging_dir(&self) -> PathBuf {
        self.staging_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("tickstream-lake-staging"))
    }

    /// The event kinds this sink writes.
    pub fn kinds(&self) -> Vec<EventKind> {
        LAKE_TABLES
            .iter()
            .filter(|t| self.datasets.iter().any(|d| d == t.dataset))
            .map(|t| t.kind)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ParquetSinkConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn defaults_write_everything_but_the_book() {
        let config = parse("root = \"data/lake\"").unwrap();
        config.validate().unwrap();
        assert_eq!(config.max_file_bytes, 256 * 1024 * 1024);
        assert_eq!(config.max_file_age, Duration::from_secs(3_600));
        assert_eq!(config.row_group_rows, 1_000_000);
        assert_eq!(
            config.kinds(),
            vec![
                EventKind::Trade,
                EventKind::Quote,
                EventKind::Bar,
                EventKind::Indicator,
                EventKind::Signal,
                EventKind::Status
            ]
        );
    }

    #[test]
    fn durations_and_datasets_read_from_text() {
        let config =
            parse("root = \"l\"\ndatasets = [\"book\", \"trades\"]\nmax_file_age = \"15m\"")
                .unwrap();
        config.validate().unwrap();
        assert_eq!(config.max_file_age, Duration::from_secs(900));
        assert_eq!(config.kinds(), vec![EventKind::Trade, EventKind::Book]);
    }

    #[test]
    fn object_store_roots_keep_their_options_out_of_debug() {
        let config = parse(
            "root = \"s3://bucket/lake\"\nstorage_options = { aws_secret_access_key = \"SECRET-1\" }",
        )
        .unwrap();
        config.validate().unwrap();
        let shown = format!("{config:?}");
        assert!(
            shown.contains("aws_secret_access_key") && !shown.contains("SECRET-1"),
            "{shown}"
        );
    }

    #[test]
    fn errors_name_the_field() {
        let field = |text: &str| match parse(text).unwrap().validate() {
            Err(Error::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        };
        assert_eq!(field("root = \"\""), "root");
        assert_eq!(field("root = \"l\"\ndatasets = [\"trade\"]"), "datasets");
        assert_eq!(
            field("root = \"l\"\ndatasets = [\"bars\", \"bars\"]"),
            "datasets"
        );
        assert_eq!(field("root = \"l\"\ndatasets = []"), "datasets");
        assert_eq!(field("root = \"l\"\nmax_file_age = \"0s\""), "max_file_age");
        assert_eq!(field("root = \"l\"\nrow_group_rows = 0"), "row_group_rows");
        assert_eq!(field("root = \"l\"\nzstd_level = 23"), "zstd_level");
        assert_eq!(field("root = \"l\"\nmax_file_bytes = 10"), "max_file_bytes");
        assert_eq!(field("root = \"l\"\nmax_open_files = 0"), "max_open_files");
        assert_eq!(field("root = \"s3:///x\""), "root");
        assert_eq!(
            field("root = \"l\"\nstorage_options = { aws_region = \"eu-west-1\" }"),
            "storage_options"
        );
        assert!(
            parse("root = \"l\"\nrott = 1").is_err(),
            "unknown fields are refused"
        );
    }
}
