//! The live status of `tickstream run`: a panel redrawn in place on a terminal, or one line every
//! [`LINE_EVERY`] when standard error is not a terminal, or nothing with `--quiet`. A thread reads the
//! metrics once a second (folding histogram samples into their summaries as it goes). Log lines and other
//! messages are printed above the panel, never through it.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use metrics_exporter_prometheus::PrometheusHandle;

use tickstream_engine::dataflow::ServedApis;

use super::metric_samples::Samples;
use super::status::{StatusSnapshot, render_line, render_panel};

/// How often a plain status line is printed when standard error is not a terminal.
pub const LINE_EVERY: Duration = Duration::from_secs(10);
const REFRESH: Duration = Duration::from_secs(1);

/// The panel while it is shown, so that log lines can be printed above it.
static PANEL: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Writes `bytes` to standard error above the panel when one is shown.
fn write_above(bytes: &[u8]) -> std::io::Result<()> {
    let panel = PANEL.lock().unwrap_or_else(PoisonError::into_inner).clone();
    match panel {
        Some(bar) => bar.suspend(|| std::io::stderr().write_all(bytes)),
        None => std::io::stderr().write_all(bytes),
    }
}

/// Prints a line on standard error above the panel (or plainly when there is none).
pub fn eprint_line(line: &str) {
    let _ = write_above(format!("{line}\n").as_bytes());
}

/// Standard error for the log, clear of the panel.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write_above(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        LogWriter
    }
}

/// How the status is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisplayMode {
    Panel,
    Lines,
    Quiet,
}

impl DisplayMode {
    /// The panel on a terminal, lines otherwise; nothing when `quiet`.
    pub fn detect(quiet: bool) -> DisplayMode {
        if quiet {
            DisplayMode::Quiet
        } else if std::io::stderr().is_terminal() {
            DisplayMode::Panel
        } else {
            DisplayMode::Lines
        }
    }
}

/// A running status display; [`StatusDisplay::finish`] takes the panel down.
#[derive(Debug)]
pub struct StatusDisplay {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StatusDisplay {
    pub fn start(handle: PrometheusHandle, apis: ServedApis, mode: DisplayMode) -> StatusDisplay {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || show(&handle, &apis, mode, &stopping));
        StatusDisplay {
            stop,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for StatusDisplay {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

fn show(handle: &PrometheusHandle, apis: &ServedApis, mode: DisplayMode, stop: &AtomicBool) {
    let started = Instant::now();
    let panel = (mode == DisplayMode::Panel).then(|| {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        *PANEL.lock().unwrap_or_else(PoisonError::into_inner) = Some(bar.clone());
        bar
    });
    let every = if mode == DisplayMode::Panel {
        REFRESH
    } else {
        LINE_EVERY
    };
    // Counters start at zero: the first rates are over the time since the start.
    let mut previous = (Samples::default(), started);
    let mut next_show = Instant::now()
        + if mode == DisplayMode::Panel {
            Duration::ZERO
        } else {
            every
        };
    while !stop.load(Ordering::Relaxed) {
        handle.run_upkeep();
        if mode != DisplayMode::Quiet && Instant::now() >= next_show {
            next_show += every;
            let now = Samples::read(handle);
            let served = apis.lock().unwrap_or_else(PoisonError::into_inner).clone();
            let snapshot = StatusSnapshot::from_samples(
                &now,
                Some(&previous.0),
                previous.1.elapsed(),
                started.elapsed(),
                served,
            );
            match &panel {
                Some(bar) => bar.set_message(render_panel(&snapshot)),
                None => eprint_line(&render_line(&snapshot)),
            }
            previous = (now, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    if let Some(bar) = panel {
        *PANEL.lock().unwrap_or_else(PoisonError::into_inner) = None;
        bar.finish_and_clear();
    }
}
