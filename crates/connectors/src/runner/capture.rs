//! Raw capture: every text frame a source receives, with its `ts_recv` and connection id, appended as a
//! capture record (`{"ts_recv":..,"connection_id":..,"frame":"..."}`, the line format `normalize` reads)
//! to zstd-compressed files per exchange and period, written by a thread of its own behind a bounded
//! queue so that capture never blocks the live feed.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

use tickstream_model::{Exchange, UnixNanos, duration_text};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::Error;

/// zstd level of capture files: fast, about 10× on venue JSON.
const ZSTD_LEVEL: i32 = 3;
/// An idle writer flushes its zstd block this often, so a reader (or a crash) loses at most this much.
const IDLE_FLUSH: Duration = Duration::from_secs(1);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Raw capture of a source:
///
/// ```toml
/// capture = { dir = "data/capture", rotate = "1h", queue = 65536 }
/// ```
///
/// Files are `<dir>/<exchange>-<YYYY-MM-DD>T<HH>.jsonl.zst` (`T<HH>-<MM>` when `rotate` is not whole
/// hours), one per period of `ts_recv`. A file that exists is appended to with a new zstd frame, so two
/// sources of the same exchange need different directories.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureConfig {
    pub dir: PathBuf,
    /// Length of the period each file holds; divides a day, at least one minute.
    #[serde(default = "default_rotate", with = "duration_text")]
    pub rotate: Duration,
    /// Frames waiting for the writer; when full, frames are dropped from the capture only (counted in
    /// `tickstream_capture_dropped_total`).
    #[serde(default = "default_queue")]
    pub queue: usize,
}

fn default_rotate() -> Duration {
    Duration::from_secs(3600)
}
fn default_queue() -> usize {
    65536
}

impl CaptureConfig {
    /// Capture into `dir` with the default period and queue.
    pub fn new(dir: impl Into<PathBuf>) -> CaptureConfig {
        CaptureConfig {
            dir: dir.into(),
            rotate: default_rotate(),
            queue: default_queue(),
        }
    }

    pub fn validate(&self) -> Result<(), Error> {
        let bad = |field: &str, message: &str| {
            Err(Error::Config {
                field: format!("capture.{field}"),
                message: message.into(),
            })
        };
        if self.dir.as_os_str().is_empty() {
            return bad("dir", "name a directory");
        }
        let secs = self.rotate.as_secs();
        if self.rotate.subsec_nanos() != 0
            || secs < 60
            || !DAY.as_secs().is_multiple_of(secs.max(1))
        {
            return bad(
                "rotate",
                "must be whole seconds, at least 1m, and divide a day (1m, 5m, 15m, 1h, 6h, 1d...)",
            );
        }
        if self.queue == 0 {
            return bad("queue", "must be at least 1");
        }
        Ok(())
    }
}

/// One captured frame on its way to the writer.
struct Record {
    ts_recv: UnixNanos,
    connection_id: u64,
    frame: Utf8Bytes,
}

/// The capture of one source: a bounded queue to its writer thread. Dropping it lets the writer drain
/// the queue and finish its file; [`Capture::finish`] also waits for that.
#[derive(Debug)]
pub struct Capture {
    exchange: Exchange,
    tx: Option<SyncSender<Record>>,
    writer: Option<JoinHandle<()>>,
    dropped: AtomicU64,
}

impl Capture {
    /// Creates the directory and starts the writer thread.
    pub fn start(exchange: Exchange, config: &CaptureConfig) -> Result<Capture, Error> {
        config.validate()?;
        std::fs::create_dir_all(&config.dir).map_err(|source| Error::Io {
            context: format!("creating the capture directory {}", config.dir.display()),
            source,
        })?;
        let (tx, rx) = mpsc::sync_channel(config.queue);
        let writer = CaptureWriter {
            exchange,
            dir: config.dir.clone(),
            rotate_nanos: i64::try_from(config.rotate.as_nanos()).unwrap_or(i64::MAX),
            file: None,
            dirty: false,
        };
        let handle = std::thread::Builder::new()
            .name(format!("capture-{exchange}"))
            .spawn(move || writer.run(&rx))
            .map_err(|source| Error::Io {
                context: "starting the capture writer".into(),
                source,
            })?;
        Ok(Capture {
            exchange,
            tx: Some(tx),
            writer: Some(handle),
            dropped: AtomicU64::new(0),
        })
    }

    /// Queues a frame without waiting; a full queue drops it from the capture (counted, logged sampled).
    /// Returns the number of frames left out so far when this one was left out and that is worth
    /// reporting: the first, then at powers of two and every thousand.
    pub fn record(&self, ts_recv: UnixNanos, connection_id: u64, frame: Utf8Bytes) -> Option<u64> {
        let Some(tx) = &self.tx else { return None };
        let record = Record {
            ts_recv,
            connection_id,
            frame,
        };
        match tx.try_send(record) {
            Ok(()) => None,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                metrics::counter!("tickstream_capture_dropped_total", "exchange" => self.exchange.as_str()).increment(1);
                let report = dropped.is_power_of_two() || dropped.is_multiple_of(1000);
                if report {
                    tracing::warn!(exchange = %self.exchange, dropped, "capture queue full; frame left out of the capture");
                }
                report.then_some(dropped)
            }
        }
    }

    /// Frames left out of the capture so far because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Closes the queue and waits until the writer has written what was queued and finished its file.
    pub fn finish(mut self) {
        self.tx = None;
        if let Some(handle) = self.writer.take()
            && handle.join().is_err()
        {
            tracing::error!(exchange = %self.exchange, "the capture writer failed");
        }
    }
}

/// The writer thread's state: the open file and the period it holds.
struct CaptureWriter {
    exchange: Exchange,
    dir: PathBuf,
    rotate_nanos: i64,
    file: Option<(i64, zstd::Encoder<'static, BufWriter<File>>)>,
    dirty: bool,
}

/// A capture record as written: the same fields `normalize` reads.
#[derive(serde::Serialize)]
struct RecordLine<'a> {
    ts_recv: i64,
    connection_id: u64,
    frame: &'a str,
}

impl CaptureWriter {
    fn run(mut self, rx: &mpsc::Receiver<Record>) {
        loop {
            match rx.recv_timeout(IDLE_FLUSH) {
                Ok(record) => self.write(&record),
                Err(RecvTimeoutError::Timeout) => self.flush(),
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.close();
    }

    fn write(&mut self, record: &Record) {
        let period = record.ts_recv.0.div_euclid(self.rotate_nanos);
        if self.file.as_ref().is_none_or(|(p, _)| *p != period) {
            self.close();
            let path = self.path(period);
            match open(&path) {
                Ok(encoder) => self.file = Some((period, encoder)),
                Err(e) => {
                    tracing::error!(exchange = %self.exchange, file = %path.display(), error = %e, "cannot open the capture file; frames of this period are not captured");
                }
            }
        }
        let Some((_, encoder)) = &mut self.file else {
            metrics::counter!("tickstream_capture_dropped_total", "exchange" => self.exchange.as_str()).increment(1);
            return;
        };
        let line = RecordLine {
            ts_recv: record.ts_recv.0,
            connection_id: record.connection_id,
            frame: record.frame.as_str(),
        };
        let written = serde_json::to_writer(&mut *encoder, &line)
            .map_err(std::io::Error::other)
            .and_then(|()| encoder.write_all(b"\n"));
        match written {
            Ok(()) => self.dirty = true,
            Err(e) => {
                tracing::error!(exchange = %self.exchange, error = %e, "capture write failed; closing the file");
                self.file = None;
            }
        }
    }

    fn flush(&mut self) {
        if self.dirty
            && let Some((_, encoder)) = &mut self.file
        {
            if let Err(e) = encoder.flush() {
                tracing::error!(exchange = %self.exchange, error = %e, "capture flush failed; closing the file");
                self.file = None;
            }
            self.dirty = false;
        }
    }

    /// Ends the zstd frame and flushes the file.
    fn close(&mut self) {
        if let Some((_, encoder)) = self.file.take() {
            let finished = encoder.finish().and_then(|mut file| file.flush());
            if let Err(e) = finished {
                tracing::error!(exchange = %self.exchange, error = %e, "finishing the capture file failed");
            }
        }
        self.dirty = false;
    }

    fn path(&self, period: i64) -> PathBuf {
        let start = UnixNanos(period.saturating_mul(self.rotate_nanos));
        capture_file(&self.dir, self.exchange, start, self.rotate_nanos)
    }
}

/// The file holding the period that starts at `start`: `binance-2026-03-01T13.jsonl.zst`, or
/// `binance-2026-03-01T13-05.jsonl.zst` when periods are not whole hours.
pub fn capture_file(
    dir: &Path,
    exchange: Exchange,
    start: UnixNanos,
    rotate_nanos: i64,
) -> PathBuf {
    // 2026-03-01T13:05:00Z
    let text = start.to_rfc3339();
    let hour = text.get(..13).unwrap_or(&text);
    let minute = text.get(14..16).unwrap_or("00");
    let name = if rotate_nanos % 3_600_000_000_000 == 0 {
        format!("{exchange}-{hour}.jsonl.zst")
    } else {
        format!("{exchange}-{hour}-{minute}.jsonl.zst")
    };
    dir.join(name)
}

fn open(path: &Path) -> std::io::Result<zstd::Encoder<'static, BufWriter<File>>> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    zstd::Encoder::new(BufWriter::new(file), ZSTD_LEVEL)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn read(path: &Path) -> String {
        let mut text = String::new();
        zstd::Decoder::new(File::open(path).unwrap())
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn records_go_to_the_file_of_their_period_and_files_are_finished() {
        let dir = tempfile::tempdir().unwrap();
        let capture = Capture::start(Exchange::Binance, &CaptureConfig::new(dir.path())).unwrap();
        let hour = 3_600_000_000_000;
        let t0 = UnixNanos(1_772_370_000_000_000_000); // 2026-03-01T13:00:00Z
        capture.record(t0, 1, Utf8Bytes::from_static("{\"e\":\"trade\"}"));
        capture.record(
            UnixNanos(t0.0 + hour - 1),
            1,
            Utf8Bytes::from_static("a \"quoted\"\nline"),
        );
        capture.record(UnixNanos(t0.0 + hour), 2, Utf8Bytes::from_static("next"));
        capture.finish();
        let first = read(&dir.path().join("binance-2026-03-01T13.jsonl.zst"));
        assert_eq!(
            first,
            format!(
                "{{\"ts_recv\":{},\"connection_id\":1,\"frame\":\"{{\\\"e\\\":\\\"trade\\\"}}\"}}\n\
                 {{\"ts_recv\":{},\"connection_id\":1,\"frame\":\"a \\\"quoted\\\"\\nline\"}}\n",
                t0.0,
                t0.0 + hour - 1
            )
        );
        let second = read(&dir.path().join("binance-2026-03-01T14.jsonl.zst"));
        assert!(second.contains("\"connection_id\":2,\"frame\":\"next\""));

        // A restart in the same period appends a second zstd frame; both are read back.
        let capture = Capture::start(Exchange::Binance, &CaptureConfig::new(dir.path())).unwrap();
        capture.record(
            UnixNanos(t0.0 + hour + 1),
            3,
            Utf8Bytes::from_static("again"),
        );
        capture.finish();
        let text = read(&dir.path().join("binance-2026-03-01T14.jsonl.zst"));
        let names: Vec<&str> = text.lines().collect();
        assert_eq!(names.len(), 2, "the appended frame was not read back");
        assert!(names[1].contains("\"frame\":\"again\""));
    }

    #[test]
    fn minute_periods_name_their_minute_and_bad_config_names_the_field() {
        let start = UnixNanos(1_772_370_300_000_000_000); // 13:05
        assert_eq!(
            capture_file(Path::new("d"), Exchange::Okx, start, 300_000_000_000),
            Path::new("d/okx-2026-03-01T13-05.jsonl.zst")
        );
        let field = |config: CaptureConfig| match config.validate() {
            Err(Error::Config { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let mut config = CaptureConfig::new("d");
        config.rotate = Duration::from_secs(7 * 60);
        assert_eq!(field(config.clone()), "capture.rotate");
        config.rotate = Duration::from_secs(30);
        assert_eq!(field(config.clone()), "capture.rotate");
        config.rotate = Duration::from_secs(900);
        config.validate().unwrap();
        config.queue = 0;
        assert_eq!(field(config), "capture.queue");
        assert_eq!(field(CaptureConfig::new("")), "capture.dir");
    }
}
