//! Where a lake lives and how a finished file becomes visible there: a local directory (temporary file in
//! the partition directory, fsync, rename, fsync of the directory) or a bucket of an object store named by
//! URL (`s3://`, `gs://`, `az://`/`abfss://`), where the file is written to a local staging
//! file and then stored under its final key with one PUT or one completed multipart upload.

use std::collections::BTreeMap;
use std::fs::File;
use std::future::Future;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{
    ObjectStore, ObjectStoreExt as _, ObjectStoreScheme, PutPayload, WriteMultipart,
};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use super::compact::finish_interrupted_compactions;
use super::files::{
    FileCommit, TEMP_SUFFIX, commit_file, commit_files, create_dir_durable, data_files, io_error,
    leaf_dirs, metadata_offsets, parquet_error, remove_if_present, remove_temp_files, temp_path,
};
use super::offsets::OffsetRange;
use crate::Error;

/// Parts of one multipart upload in flight at once.
const PARTS_IN_FLIGHT: usize = 4;
/// Bytes read from a file's end to find its footer in one request (most footers fit).
const FOOTER_GUESS: u64 = 64 * 1024;

/// A lake root: a directory, or a prefix in a bucket.
#[derive(Debug)]
pub enum LakeRoot {
    Local(PathBuf),
    Object(ObjectRoot),
}

/// A prefix in an object store, with the runtime its requests run on and the local directory where files
/// are written before they are stored.
pub struct ObjectRoot {
    /// The root as configured (a URL; credentials never appear in it).
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    staging: PathBuf,
    /// Files up to this size are stored with one PUT; larger ones with a multipart upload of such parts.
    part_bytes: usize,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for ObjectRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectRoot")
            .field("url", &self.url)
            .field("staging", &self.staging)
            .finish()
    }
}

impl Drop for ObjectRoot {
    fn drop(&mut self) {
        // The sink may be dropped on an async worker thread, where a blocking shutdown is not allowed.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// True when `root` names an object store (a URL with a scheme other than `file`).
pub fn is_object_url(root: &Path) -> bool {
    root.to_str()
        .and_then(|text| text.split_once("://"))
        .is_some_and(|(scheme, _)| scheme != "file" && !scheme.is_empty())
}

fn object_error(url: &str, source: object_store::Error) -> Error {
    Error::ObjectStore {
        url: url.to_owned(),
        source,
    }
}

fn config_error(field: &str, message: String) -> Error {
    Error::Config {
        field: field.to_owned(),
        message,
    }
}

impl LakeRoot {
    /// Parses `root`: a path or `file://` URL is a local directory; any other URL an object store, built
    /// from the URL, then the standard environment variables of its cloud (`AWS_*`, `GOOGLE_*`,
    /// `AZURE_*`), then `options` (object_store's configuration keys, such as `aws_endpoint`). Files for an
    /// object store are written under `staging` first and stored in parts of `part_bytes`.
    pub fn parse(
        root: &Path,
        options: &BTreeMap<String, String>,
        staging: &Path,
        part_bytes: usize,
    ) -> Result<LakeRoot, Error> {
        if !is_object_url(root) {
            let text = root.to_string_lossy();
            return Ok(LakeRoot::Local(match text.strip_prefix("file://") {
                Some(path) => PathBuf::from(path),
                None => root.to_path_buf(),
            }));
        }
        let text = root.to_string_lossy().into_owned();
        let url = url::Url::parse(&text)
            .map_err(|e| config_error("root", format!("`{text}` is not a URL: {e}")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(config_error(
                "root",
                "credentials do not belong in the URL; use the store's environment variables or \
                 storage_options"
                    .into(),
            ));
        }
        let (scheme, prefix) = ObjectStoreScheme::parse(&url)
            .map_err(|e| config_error("root", format!("`{text}`: {e}")))?;
        use object_store::{aws, azure, gcp};
        let built: Result<Arc<dyn ObjectStore>, object_store::Error> = match scheme {
            ObjectStoreScheme::AmazonS3 => with_options::<_, aws::AmazonS3ConfigKey>(
                aws::AmazonS3Builder::from_env().with_url(&text),
                options,
                |b, k, v| b.with_config(k, v),
            )?
            .build()
            .map(|s| Arc::new(s) as _),
            ObjectStoreScheme::GoogleCloudStorage => with_options::<_, gcp::GoogleConfigKey>(
                gcp::GoogleCloudStorageBuilder::from_env().with_url(&text),
                options,
                |b, k, v| b.with_config(k, v),
            )?
            .build()
            .map(|s| Arc::new(s) as _),
            ObjectStoreScheme::MicrosoftAzure => with_options::<_, azure::AzureConfigKey>(
                azure::MicrosoftAzureBuilder::from_env().with_url(&text),
                options,
                |b, k, v| b.with_config(k, v),
            )?
            .build()
            .map(|s| Arc::new(s) as _),
            ObjectStoreScheme::Http => {
                return Err(config_error(
                    "root",
                    format!(
                        "`{text}`: plain HTTP/WebDAV servers are not supported (a PUT there is not \
                         atomic); use an s3://, gs:// or az:// URL"
                    ),
                ));
            }
            ObjectStoreScheme::Local | ObjectStoreScheme::Memory => {
                return Err(config_error(
                    "root",
                    format!("`{text}`: use a directory path for a local lake"),
                ));
            }
            other => {
                return Err(config_error(
                    "root",
                    format!("`{text}`: the {other:?} store is not supported"),
                ));
            }
        };
        let store = built.map_err(|e| config_error("root", format!("`{text}`: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("lake-object-store")
            .enable_all()
            .build()
            .map_err(|e| io_error(Path::new("lake-object-store runtime"), e))?;
        // One staging directory per root, so that two sinks on different roots never clean each other's.
        let staging = staging.join(format!("{:016x}", fnv1a(text.as_bytes())));
        Ok(LakeRoot::Object(ObjectRoot {
            url: text,
            store,
            prefix,
            staging,
            part_bytes,
            runtime: Some(runtime),
        }))
    }

    /// The root for messages.
    pub fn display(&self) -> String {
        match self {
            LakeRoot::Local(dir) => dir.display().to_string(),
            LakeRoot::Object(object) => object.url.clone(),
        }
    }

    /// Creates the root and removes what a crash left behind in `datasets`: local temporary files and
    /// interrupted compactions, or an object root's staging files. Returns (temporary files removed,
    /// compactions resolved).
    pub fn clean_after_crash(&self, datasets: &[String]) -> Result<(usize, usize), Error> {
        match self {
            LakeRoot::Local(root) => {
                create_dir_durable(root)?;
                let (mut temps, mut compactions) = (0, 0);
                for dataset in datasets {
                    for dir in leaf_dirs(&root.join(dataset))? {
                        temps += remove_temp_files(&dir)?;
                        compactions += finish_interrupted_compactions(&dir)?;
                    }
                }
                Ok((temps, compactions))
            }
            LakeRoot::Object(object) => {
                create_dir_durable(&object.staging)?;
                Ok((remove_temp_files(&object.staging)?, 0))
            }
        }
    }

    /// Creates the temporary file a new data file `name` of partition `dir` is written into (and, on a
    /// local root, the partition's directory when it is missing).
    pub fn create_temp(&self, dir: &Path, name: &str) -> Result<(File, PathBuf), Error> {
        let temp = match self {
            LakeRoot::Local(root) => {
                let dir = root.join(dir);
                let temp = temp_path(&dir.join(name));
                match File::create_new(&temp) {
                    Ok(file) => return Ok((file, temp)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        create_dir_durable(&dir)?;
                    }
                    Err(e) => return Err(io_error(&temp, e)),
                }
                temp
            }
            LakeRoot::Object(object) => object.staging.join(format!(".{name}{TEMP_SUFFIX}")),
        };
        let file = File::create_new(&temp).map_err(|e| io_error(&temp, e))?;
        Ok((file, temp))
    }

    /// Makes a finished temporary file visible as `name` in partition `dir`: all of it or nothing.
    pub fn commit(
        &self,
        file: &mut File,
        temp: &Path,
        dir: &Path,
        name: &str,
    ) -> Result<(), Error> {
        match self {
            LakeRoot::Local(root) => commit_file(file, temp, &root.join(dir).join(name)),
            LakeRoot::Object(object) => {
                let key = object.key(dir, Some(name));
                object.upload(temp, key)?;
                remove_if_present(temp)
            }
        }
    }

    /// Commits several finished temporary files, as `commit` does one: on a local root with the data
    /// and the renames of all of them made durable together (`commit_files`).
    pub fn commit_all(&self, files: &mut [(&mut File, &Path, &Path, &str)]) -> Result<(), Error> {
        match self {
            LakeRoot::Local(root) => commit_files(
                &files
                    .iter()
                    .map(|(file, temp, dir, name)| FileCommit {
                        file,
                        temp,
                        final_path: root.join(dir).join(name),
                    })
                    .collect::<Vec<_>>(),
            ),
            LakeRoot::Object(_) => {
                for (file, temp, dir, name) in files.iter_mut() {
                    self.commit(file, temp, dir, name)?;
                }
                Ok(())
            }
        }
    }

    /// The offset ranges recorded in the data files of partition `dir`.
    pub fn offset_ranges(&self, dir: &Path) -> Result<Vec<OffsetRange>, Error> {
        let mut ranges = Vec::new();
        match self {
            LakeRoot::Local(root) => {
                for path in data_files(&root.join(dir))? {
                    let file = match File::open(&path) {
                        Ok(file) => file,
                        // Removed by a compaction between listing and reading: its rows are in the new file.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(io_error(&path, e)),
                    };
                    let metadata = ParquetMetaDataReader::new()
                        .parse_and_finish(&file)
                        .map_err(|e| parquet_error(&path, e))?;
                    ranges.extend(metadata_offsets(&metadata, &path.display().to_string())?);
                }
            }
            LakeRoot::Object(object) => {
                for (key, size) in object.data_files(dir)? {
                    let metadata = object.footer(&key, size)?;
                    let name = format!("{}/{key}", object.url);
                    ranges.extend(metadata_offsets(&metadata, &name)?);
                }
            }
        }
        Ok(ranges)
    }
}

impl ObjectRoot {
    /// Runs a request on the root's own runtime and waits for it; callable from any thread that may block.
    fn block_on<T: Send + 'static>(
        &self,
        request: impl Future<Output = Result<T, object_store::Error>> + Send + 'static,
    ) -> Result<T, Error> {
        let Some(runtime) = &self.runtime else {
            return Err(Error::Lake {
                path: self.url.clone(),
                message: "the object store's runtime is shut down".into(),
            });
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = tx.send(request.await);
        });
        match rx.recv() {
            Ok(result) => result.map_err(|e| object_error(&self.url, e)),
            Err(_) => Err(Error::Lake {
                path: self.url.clone(),
                message: "an object store request was dropped".into(),
            }),
        }
    }

    /// The key of `name` in partition `dir` (or of the directory itself).
    fn key(&self, dir: &Path, name: Option<&str>) -> ObjectPath {
        let parts = dir
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .chain(name.map(str::to_owned));
        let mut key = self.prefix.clone();
        for part in parts {
            key = key.join(part);
        }
        key
    }

    /// Stores the file at `temp` under `key`: one PUT when it fits one part, else a multipart upload that
    /// is completed only after every part is stored (and aborted on failure). Either way the object
    /// appears whole or not at all.
    fn upload(&self, temp: &Path, key: ObjectPath) -> Result<(), Error> {
        let mut file = File::open(temp).map_err(|e| io_error(temp, e))?;
        let size = file.metadata().map_err(|e| io_error(temp, e))?.len();
        let store = Arc::clone(&self.store);
        if size <= self.part_bytes as u64 {
            let mut bytes = Vec::with_capacity(size as usize);
            file.read_to_end(&mut bytes)
                .map_err(|e| io_error(temp, e))?;
            self.block_on(async move { store.put(&key, PutPayload::from(bytes)).await })?;
            return Ok(());
        }
        let upload = {
            let (store, key) = (Arc::clone(&store), key.clone());
            self.block_on(async move { store.put_multipart(&key).await })?
        };
        let mut writer = Some(WriteMultipart::new_with_chunk_size(upload, self.part_bytes));
        let mut buffer = vec![0u8; self.part_bytes];
        loop {
            let read = file.read(&mut buffer).map_err(|e| io_error(temp, e));
            let read = match read {
                Ok(read) => read,
                Err(e) => {
                    if let Some(w) = writer.take() {
                        let _ = self.block_on(async move { w.abort().await });
                    }
                    return Err(e);
                }
            };
            let Some(mut w) = writer.take() else {
                break;
            };
            if read == 0 {
                self.block_on(async move { w.finish().await })?;
                return Ok(());
            }
            let part = Bytes::copy_from_slice(&buffer[..read]);
            // `put` starts the part's upload as a task: it runs on the root's runtime.
            let waited = self.block_on(async move {
                w.put(part);
                match w.wait_for_capacity(PARTS_IN_FLIGHT).await {
                    Ok(()) => Ok(Ok(w)),
                    Err(e) => Ok(Err((e, w))),
                }
            })?;
            match waited {
                Ok(w) => writer = Some(w),
                Err((e, w)) => {
                    let _ = self.block_on(async move { w.abort().await });
                    return Err(object_error(&self.url, e));
                }
            }
        }
        Ok(())
    }

    /// The visible data files (key, size) directly in partition `dir`.
    fn data_files(&self, dir: &Path) -> Result<Vec<(ObjectPath, u64)>, Error> {
        let store = Arc::clone(&self.store);
        let prefix = self.key(dir, None);
        let listed =
            self.block_on(async move { store.list_with_delimiter(Some(&prefix)).await })?;
        let mut files: Vec<(ObjectPath, u64)> = listed
            .objects
            .into_iter()
            .filter(|o| {
                o.location
                    .filename()
                    .is_some_and(|n| n.ends_with(".parquet") && !n.starts_with('.'))
            })
            .map(|o| (o.location, o.size))
            .collect();
        files.sort();
        Ok(files)
    }

    /// A data file's footer, read with ranged GETs from its end.
    fn footer(&self, key: &ObjectPath, size: u64) -> Result<ParquetMetaData, Error> {
        let name = format!("{}/{key}", self.url);
        let mut want = FOOTER_GUESS.min(size);
        loop {
            let (store, k) = (Arc::clone(&self.store), key.clone());
            let tail: Bytes =
                self.block_on(async move { store.get_range(&k, size - want..size).await })?;
            let mut reader = ParquetMetaDataReader::new();
            match reader.try_parse_sized(&tail, size) {
                Ok(()) => {
                    return reader
                        .finish()
                        .map_err(|e| parquet_error(Path::new(&name), e));
                }
                Err(ParquetError::NeedMoreData(needed)) if (needed as u64) > want => {
                    want = (needed as u64).min(size);
                }
                Err(e) => return Err(parquet_error(Path::new(&name), e)),
            }
        }
    }
}

/// Applies `options` to a store builder with its `with_config`; an unknown key is a configuration error
/// naming it.
fn with_options<B, K>(
    builder: B,
    options: &BTreeMap<String, String>,
    with_config: impl Fn(B, K, &str) -> B,
) -> Result<B, Error>
where
    K: std::str::FromStr,
    K::Err: std::fmt::Display,
{
    options.iter().try_fold(builder, |builder, (key, value)| {
        let parsed = key
            .parse::<K>()
            .map_err(|e| config_error(&format!("storage_options.{key}"), e.to_string()))?;
        Ok(with_config(builder, parsed, value))
    })
}

/// FNV-1a: a stable name for a root's staging directory.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_object_stores_and_paths_local_directories() {
        assert!(is_object_url(Path::new("s3://bucket/lake")));
        assert!(is_object_url(Path::new("gs://bucket/lake")));
        assert!(!is_object_url(Path::new("file:///data/lake")));
        assert!(!is_object_url(Path::new("data/lake")));
        let staging = tempfile::tempdir().unwrap();
        let options = BTreeMap::new();
        match LakeRoot::parse(
            Path::new("file:///data/lake"),
            &options,
            staging.path(),
            1 << 24,
        )
        .unwrap()
        {
            LakeRoot::Local(dir) => assert_eq!(dir, Path::new("/data/lake")),
            other => panic!("{other:?}"),
        }
        let field = |root: &str, options: &BTreeMap<String, String>| match LakeRoot::parse(
            Path::new(root),
            options,
            staging.path(),
            1 << 24,
        ) {
            Err(Error::Config { field, .. }) => field,
            other => panic!("expected a config error for {root}, got {other:?}"),
        };
        assert_eq!(field("s3://key:secret@bucket/lake", &options), "root");
        assert_eq!(field("ftp://host/lake", &options), "root");
        assert_eq!(field("https://example.com/lake", &options), "root");
        let bad = BTreeMap::from([("aws_no_such_key".to_owned(), "1".to_owned())]);
        assert_eq!(
            field("s3://bucket/lake", &bad),
            "storage_options.aws_no_such_key"
        );
    }

    #[test]
    fn keys_join_the_prefix_and_the_partition() {
        let staging = tempfile::tempdir().unwrap();
        let options = BTreeMap::from([
            ("aws_region".to_owned(), "us-east-1".to_owned()),
            ("aws_access_key_id".to_owned(), "x".to_owned()),
            (
                "aws_secret_access_key".to_owned(),
                "SECRET-VALUE-1".to_owned(),
            ),
        ]);
        let root = LakeRoot::parse(
            Path::new("s3://bucket/team/lake"),
            &options,
            staging.path(),
            1 << 24,
        )
        .unwrap();
        let LakeRoot::Object(object) = &root else {
            panic!("{root:?}");
        };
        let dir = Path::new("trades/exchange=binance/symbol=BTC-USDT/date=2026-11-22");
        assert_eq!(
            object.key(dir, Some("part-1.parquet")).as_ref(),
            "team/lake/trades/exchange=binance/symbol=BTC-USDT/date=2026-11-22/part-1.parquet"
        );
        assert!(
            !format!("{root:?}").contains("SECRET"),
            "no secret in Debug"
        );
    }
}
