//! The `tickstream` command: validate and run pipelines, normalize and replay captured data, run the
//! exchange simulator, serve the API, manage API keys, and benchmark.

mod barrier_alignment;
mod bench;
mod cache_sink;
mod checkpoint_coordinator;
mod error;
mod filter;
mod kafka_source_task;
mod keys;
mod metric_samples;
mod metrics_endpoint;
mod normalize;
mod operator_task;
mod pipeline;
mod progress;
mod registry;
mod runtime;
mod serve;
mod simulate;
mod sink_task;
mod source_task;
mod state_store;
mod status;
mod status_display;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

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
    Run(RunArgs),
    /// Turn raw venue frames (one per line) into normalized events (one JSON object per line).
    Normalize(normalize::NormalizeArgs),
    /// Run a pipeline's operators and sinks over recorded normalized events (NDJSON, optionally .zst) at
    /// full speed, in place of its live sources.
    Replay(ReplayArgs),
    /// Run the local exchange simulator.
    Simulate(simulate::SimulateArgs),
    /// Serve the HTTP/WebSocket API over the cache.
    Serve(serve::ServeArgs),
    /// Create, list, revoke and rotate API keys.
    Keys(keys::KeysArgs),
    /// Merge the small Parquet files of the lake's partitions into sized ones, atomically.
    Compact(CompactArgs),
    /// Measure end-to-end throughput (highest sustained rate) and latency (at a fixed rate) of the whole
    /// flow in one process: simulator, connectors, Kafka, operators, Parquet and cache.
    Bench(bench::BenchArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The pipeline file.
    pipeline: PathBuf,
    /// Stop by itself after this long (for example 30s or 5m), as if stopped by a signal.
    #[arg(long = "for", value_parser = tickstream_model::parse_duration)]
    run_for: Option<Duration>,
    /// After a stop is requested, how long draining and flushing may take before the process exits anyway.
    #[arg(long, default_value = "30s", value_parser = tickstream_model::parse_duration)]
    shutdown_deadline: Duration,
    /// How often sinks flush and sources commit (checkpoint barriers). Each checkpoint closes the lake's
    /// open files, so shorter intervals mean smaller files (merge them with `tickstream compact`).
    #[arg(long, default_value = "30s", value_parser = tickstream_model::parse_duration)]
    checkpoint_interval: Duration,
    /// Serve Prometheus metrics (`GET /metrics`) and `GET /healthz` on this address while the pipeline runs.
    #[arg(long)]
    metrics_listen: Option<std::net::SocketAddr>,
    /// No live status (a panel on a terminal, otherwise a line every 10 s); the end summary is still
    /// printed.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Debug, clap::Args)]
struct ReplayArgs {
    /// The pipeline file.
    pipeline: PathBuf,
    /// Recorded event files, read in order; each source replays the events it would have produced.
    #[arg(long, required = true, num_args = 1..)]
    input: Vec<PathBuf>,
    /// Write the pipeline's file outputs (file sinks, the lake) under this directory.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct CompactArgs {
    /// The lake's root directory.
    root: PathBuf,
    /// Only this dataset (trades, quotes, book, bars, indicators, signals, status).
    #[arg(long)]
    dataset: Option<String>,
    /// Only partitions of this UTC date (YYYY-MM-DD).
    #[arg(long)]
    date: Option<String>,
    /// Size to aim for per merged file, in MiB.
    #[arg(long, default_value_t = tickstream_io::lake::DEFAULT_MAX_FILE_BYTES / (1024 * 1024))]
    target_mib: u64,
}

fn main() -> ExitCode {
    without_huge_pages();
    purge_freed_memory_sooner();
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Validate { files } => validate(&files),
        Command::Run(args) => run(args),
        Command::Normalize(args) => normalize::normalize(args),
        Command::Replay(args) => replay(args),
        Command::Simulate(args) => simulate::simulate(args),
        Command::Serve(args) => serve::run(args),
        Command::Keys(args) => keys::run(args),
        Command::Compact(args) => compact(args),
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
        .with_writer(status_display::LogWriter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn validate(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for file in files {
        match pipeline::load(file) {
            Ok(p) => {
                println!(
                    "ok: {}{}",
                    p.file,
                    p.description.map(|d| format!(" ({d})")).unwrap_or_default()
                );
                for n in &p.sources {
                    println!("  sources.{} ({})", n.name, n.spec.kind());
                }
                for n in &p.operators {
                    println!(
                        "  operators.{} ({}) <- {}",
                        n.name,
                        n.spec.kind(),
                        n.inputs.join(", ")
                    );
                }
                for n in &p.sinks {
                    println!(
                        "  sinks.{} ({}) <- {}",
                        n.name,
                        n.spec.kind(),
                        n.inputs.join(", ")
                    );
                }
            }
            Err(errors) => {
                failed = true;
                for e in errors {
                    eprintln!("error: {e}");
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn load_or_report(path: &std::path::Path) -> Option<pipeline::Pipeline> {
    match pipeline::load(path) {
        Ok(p) => Some(p),
        Err(errors) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            None
        }
    }
}

fn run(args: RunArgs) -> ExitCode {
    let Some(pipeline) = load_or_report(&args.pipeline) else {
        return ExitCode::FAILURE;
    };
    let handle = match metric_samples::install() {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let options = runtime::RunOptions {
        checkpoint_interval: args.checkpoint_interval,
        ..Default::default()
    };
    let places = status::Places::of(&pipeline);
    let apis = options.served_apis.clone();
    let mode = status_display::DisplayMode::detect(args.quiet);
    let display = status_display::StatusDisplay::start(handle.clone(), apis.clone(), mode);
    let started = std::time::Instant::now();
    let result = block_on(async {
        let _metrics = match args.metrics_listen {
            Some(addr) => Some(metrics_endpoint::serve(addr, handle.clone()).await?),
            None => None,
        };
        run_until_stopped(pipeline, options, args.run_for, args.shutdown_deadline).await
    });
    display.finish();
    match result {
        Ok(summary) => {
            let served = apis
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            let samples = metric_samples::Samples::read(&handle);
            let report = places.report(&samples, started.elapsed(), served);
            eprintln!("done: {} checkpoints", summary.checkpoints);
            eprintln!("{}", status::render_summary(&report));
            ExitCode::SUCCESS
        }
        Err(e) => finish(Err(e)),
    }
}

fn replay(args: ReplayArgs) -> ExitCode {
    let Some(mut pipeline) = load_or_report(&args.pipeline) else {
        return ExitCode::FAILURE;
    };
    // Replayed sources read files: the simulator a live run would start has nobody to serve.
    pipeline.simulator = None;
    if let Some(dir) = &args.out {
        for sink in &mut pipeline.sinks {
            sink.spec.place_under(dir);
        }
    }
    let options = runtime::RunOptions {
        replay_inputs: Some(args.input),
        ..Default::default()
    };
    let progress = progress::Progress::start(options.events_read.clone());
    let result = block_on(run_until_stopped(
        pipeline,
        options,
        None,
        Duration::from_secs(30),
    ));
    progress.finish();
    finish(result)
}

fn block_on<T>(future: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Runtime::new()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?
        .block_on(future)
}

fn finish(result: anyhow::Result<runtime::RunSummary>) -> ExitCode {
    match result {
        Ok(summary) => {
            eprintln!("done: {} checkpoints", summary.checkpoints);
            for (node, n) in &summary.events_out {
                eprintln!("  {node}: {n} events");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the pipeline; the first SIGINT/SIGTERM (or the end of `--for`) asks it to stop and drain, a second
/// signal or the shutdown deadline ends the process.
async fn run_until_stopped(
    pipeline: pipeline::Pipeline,
    options: runtime::RunOptions,
    run_for: Option<Duration>,
    shutdown_deadline: Duration,
) -> anyhow::Result<runtime::RunSummary> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let _simulator = match &pipeline.simulator {
        Some(section) => Some(SimulatorGuard(section.start().await?)),
        None => None,
    };
    let mut running = tokio::spawn(runtime::run(pipeline, options, stop_rx));
    let run_for = async {
        match run_for {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        done = &mut running => return done?,
        _ = stop_signal() => tracing::info!("stopping: draining and flushing (a second signal exits at once)"),
        _ = run_for => tracing::info!("stopping after --for: draining and flushing"),
    }
    let _ = stop_tx.send(true);
    tokio::select! {
        done = &mut running => done?,
        _ = stop_signal() => anyhow::bail!("stopped by a second signal before draining finished"),
        _ = tokio::time::sleep(shutdown_deadline) => {
            anyhow::bail!("draining did not finish within the shutdown deadline of {shutdown_deadline:?}")
        }
    }
}

/// Stops the in-process simulator when the run ends.
struct SimulatorGuard(tokio::task::JoinHandle<()>);

impl Drop for SimulatorGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn compact(args: CompactArgs) -> ExitCode {
    let target = args.target_mib.saturating_mul(1024 * 1024);
    match tickstream_io::lake::compact(
        &args.root,
        args.dataset.as_deref(),
        args.date.as_deref(),
        target,
    ) {
        Ok(r) => {
            println!(
                "compacted {}: {} partitions scanned, {} files merged into {}, {} -> {} bytes{}",
                args.root.display(),
                r.partitions_scanned,
                r.files_replaced,
                r.files_written,
                r.bytes_before,
                r.bytes_after,
                if r.interrupted_resolved > 0 {
                    format!(
                        ", {} interrupted compactions resolved",
                        r.interrupted_resolved
                    )
                } else {
                    String::new()
                }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
