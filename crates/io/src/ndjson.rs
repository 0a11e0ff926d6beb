//! NDJSON event files (one event JSON object per line, optionally zstd-compressed): the `file` source that
//! replays them and the `file` sink that writes them.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use tickstream_model::{Event, EventKind};

use crate::Error;

/// `kind = "file"` source: normalized events from NDJSON files, read in order.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// Files to read, in order; names ending in `.zst` are decompressed.
    pub paths: Vec<PathBuf>,
    /// Only these kinds of event are passed on (all when empty).
    #[serde(default)]
    pub kinds: Vec<EventKind>,
}

impl FileSourceConfig {
    pub fn validate(&self) -> Result<(), Error> {
        if self.paths.is_empty() {
            return Err(Error::Config {
                field: "paths".into(),
                message: "list at least one file".into(),
            });
        }
        Ok(())
    }

    /// The kinds of event this source can emit.
    pub fn emits(&self) -> Vec<EventKind> {
        if self.kinds.is_empty() {
            EventKind::ALL.to_vec()
        } else {
            self.kinds.clone()
        }
    }
}

/// A line that is not an event: where it is and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: u64,
    pub message: String,
}

/// Reads events from one NDJSON file, line by line; blank lines are skipped, bad lines reported.
pub struct EventFileReader {
    path: PathBuf,
    lines: Box<dyn BufRead + Send>,
    line: u64,
    buf: String,
}

impl std::fmt::Debug for EventFileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventFileReader")
            .field("path", &self.path)
            .field("line", &self.line)
            .finish()
    }
}

impl EventFileReader {
    pub fn open(path: &Path) -> Result<EventFileReader, Error> {
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let lines: Box<dyn BufRead + Send> = if path.extension().is_some_and(|e| e == "zst") {
            Box::new(BufReader::new(
                zstd::stream::read::Decoder::new(file).map_err(io)?,
            ))
        } else {
            Box::new(BufReader::with_capacity(1 << 16, file))
        };
        Ok(EventFileReader {
            path: path.to_owned(),
            lines,
            line: 0,
            buf: String::new(),
        })
    }

    /// The next event, a bad line, or `None` at the end. I/O errors end the file with an error.
    pub fn next_event(&mut self) -> Option<Result<Result<Event, BadLine>, Error>> {
        loop {
            self.buf.clear();
            self.line += 1;
            match self.lines.read_line(&mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(source) => {
                    return Some(Err(Error::Io {
                        path: self.path.display().to_string(),
                        source,
                    }));
                }
            }
            let text = self.buf.trim();
            if text.is_empty() {
                continue;
            }
            return Some(Ok(serde_json::from_str(text).map_err(|e| BadLine {
                line: self.line,
                message: e.to_string(),
            })));
        }
    }
}

/// `kind = "file"` sink: every event it receives as one JSON line.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// Where to write; `-` is standard output. A name ending in `.zst` is zstd-compressed.
    pub path: PathBuf,
}

impl FileSinkConfig {
    pub fn validate(&self) -> Result<(), Error> {
        if self.path.as_os_str().is_empty() {
            return Err(Error::Config {
                field: "path".into(),
                message: "must not be empty".into(),
            });
        }
        Ok(())
    }
}

/// Writes events as NDJSON.
pub struct FileSink {
    path: PathBuf,
    out: Box<dyn Write + Send>,
    line: Vec<u8>,
}

impl std::fmt::Debug for FileSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSink")
            .field("path", &self.path)
            .finish()
    }
}

impl FileSink {
    /// Creates (or truncates) the file; parent directories are created.
    pub fn create(config: &FileSinkConfig) -> Result<FileSink, Error> {
        let path = config.path.clone();
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let out: Box<dyn Write + Send> = if path.as_os_str() == "-" {
            Box::new(BufWriter::new(std::io::stdout()))
        } else {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            let file = File::create(&path).map_err(io)?;
            if path.extension().is_some_and(|e| e == "zst") {
                Box::new(
                    zstd::stream::write::Encoder::new(file, 3)
                        .map_err(io)?
                        .auto_finish(),
                )
            } else {
                Box::new(BufWriter::with_capacity(1 << 16, file))
            }
        };
        Ok(FileSink {
            path,
            out,
            line: Vec::with_capacity(512),
        })
    }

    pub fn write(&mut self, events: &[Event]) -> Result<(), Error> {
        for event in events {
            self.line.clear();
            serde_json::to_writer(&mut self.line, event).map_err(|e| Error::Io {
                path: self.path.display().to_string(),
                source: std::io::Error::other(e),
            })?;
            self.line.push(b'\n');
            self.out.write_all(&self.line).map_err(|source| Error::Io {
                path: self.path.display().to_string(),
                source,
            })?;
        }
        Ok(())
    }

    /// Pushes buffered lines to the operating system.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.out.flush().map_err(|source| Error::Io {
            path: self.path.display().to_string(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Event {
        serde_json::from_str(include_str!("../../../schemas/examples/trade.v1.json")).unwrap()
    }

    #[test]
    fn writes_and_reads_back_plain_and_zstd() {
        let dir = std::env::temp_dir().join(format!("tickstream-ndjson-{}", std::process::id()));
        for name in ["events.ndjson", "events.ndjson.zst"] {
            let path = dir.join(name);
            let mut sink = FileSink::create(&FileSinkConfig { path: path.clone() }).unwrap();
            sink.write(&[sample(), sample()]).unwrap();
            sink.flush().unwrap();
            drop(sink);
            let mut reader = EventFileReader::open(&path).unwrap();
            let mut n = 0;
            while let Some(item) = reader.next_event() {
                assert_eq!(item.unwrap().unwrap(), sample());
                n += 1;
            }
            assert_eq!(n, 2);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let path =
            std::env::temp_dir().join(format!("tickstream-bad-{}.ndjson", std::process::id()));
        let good = serde_json::to_string(&sample()).unwrap();
        std::fs::write(&path, format!("{good}\n\nnot json\n{good}\n")).unwrap();
        let mut reader = EventFileReader::open(&path).unwrap();
        let results: Vec<_> = std::iter::from_fn(|| reader.next_event())
            .map(Result::unwrap)
            .collect();
        assert_eq!(results.len(), 3);
        assert_eq!(results[1].as_ref().unwrap_err().line, 3);
        std::fs::remove_file(path).unwrap();
    }
}
