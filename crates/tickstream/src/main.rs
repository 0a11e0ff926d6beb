//! The `tickstream` command: validate and run pipelines, normalize and replay captured data, run the
//! exchange simulator, serve the API, manage API keys, and benchmark.

mod cli;
mod observe;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use cli::{bench, compact, keys, normalize, replay, run, serve, simulate, validate};

/// mimalloc instead of the system allocator: events are small values allocated on one thread and freed on
/// another, where glibc's malloc spends much of its time and keeps memory in per-thread arenas. With
/// `libmimalloc-sys`'s `override` feature it also serves the C code linked in (librdkafka, the embedded
/// cluster), which glibc's malloc kept in arenas of its own, released only in part; see
/// docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Streaming ingestion of crypto market data: venue websockets to Kafka, bars, indicators and signals, a
/// Parquet lake and a serving API.
#[derive(Debug, Parser)]
#[command(name = "tickstream", version, propagate_version = true)]
struct Cli {
    /// Log format on standard error; the level comes from RUST_LOG (default: info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check pipeline files: TOML, kinds, inputs, cycles, event kinds and parameters.
    Validate {
        /// Pipeline files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run a pipeline until its sources end or it is stopped (Ctrl-C or SIGTERM; a second signal exits at once).
    Run(run::RunArgs),
    /// Turn raw venue frames (one per line) into normalized events (one JSON object per line).
    Normalize(normalize::NormalizeArgs),
    /// Run a pipeline's operators and sinks over recorded normalized events (NDJSON, optionally .zst) at
    /// full speed, in place of its live sources.
    Replay(replay::ReplayArgs),
    /// Run the local exchange simulator.
    Simulate(simulate::SimulateArgs),
    /// Serve the HTTP/WebSocket API over the cache.
    Serve(serve::ServeArgs),
    /// Create, list, revoke and rotate API keys.
    Keys(keys::KeysArgs),
    /// Merge the small Parquet files of the lake's partitions into sized ones, atomically.
    Compact(compact::CompactArgs),
    /// Measure end-to-end throughput (highest sustained rate) and latency (at a fixed rate) of the whole
    /// flow in one process: simulator, connectors, Kafka, operators, Parquet and cache.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    without_huge_pages();
    purge_freed_memory_sooner();
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Validate { files } => validate::validate(&files),
        Command::Run(args) => run::run(args),
        Command::Normalize(args) => normalize::normalize(args),
        Command::Replay(args) => replay::replay(args),
        Command::Simulate(args) => simulate::simulate(args),
        Command::Serve(args) => serve::run(args),
        Command::Keys(args) => keys::run(args),
        Command::Compact(args) => compact::compact(args),
        Command::Bench(args) => bench::bench(args),
    }
}

/// Turns transparent huge pages off for this process. mimalloc asks for them on its memory (`madvise`), and
/// where the kernel grants them (THP `madvise` or `always`, common defaults), each 2 MiB page is resident
/// as soon as one byte of it is used, which adds resident memory and nothing to throughput; see
/// docs/benchmarks.md.
fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        eprintln!("warning: could not turn transparent huge pages off: {e}");
    }
}

/// mimalloc's `mi_option_purge_delay` (its place in `mi_option_e`, the same in the bundled v2 and v3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long mimalloc keeps freed memory before returning it to the system, in milliseconds.
const PURGE_DELAY_MS: std::ffi::c_long = 100;

/// Returns freed memory to the system after 100 ms instead of mimalloc v3's default of 1 s. The lake's
/// checkpoint flushes allocate and free tens of MiB within a second, which the default keeps resident
/// across the next flush; see docs/benchmarks.md.
#[allow(unsafe_code)]
fn purge_freed_memory_sooner() {
    // SAFETY: called first thing in `main`, before any other thread exists (mimalloc's option setters are
    // not thread safe); it only stores a number in mimalloc's option table, which reads it when it purges.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(observe::status_display::LogWriter)
        // Colour only where a person reads a terminal, never into log files or pipes.
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
