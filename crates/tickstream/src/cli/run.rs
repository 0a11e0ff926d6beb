//! `tickstream run`: a pipeline until its sources end or it is stopped, with the live status, optional
//! Prometheus metrics and the end summary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tickstream_engine::dataflow::{Notices, RunOptions};

use super::{block_on, finish, load_or_report, run_until_stopped};
use crate::observe;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
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

pub fn run(args: RunArgs) -> ExitCode {
    let Some((pipeline, simulator)) = load_or_report(&args.pipeline) else {
        return ExitCode::FAILURE;
    };
    let handle = match observe::metric_samples::install() {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let options = RunOptions {
        checkpoint_interval: args.checkpoint_interval,
        notices: Notices::new(observe::status_display::eprint_line),
        ..Default::default()
    };
    let places = observe::status::Places::of(&pipeline);
    let apis = options.served_apis.clone();
    let mode = observe::status_display::DisplayMode::detect(args.quiet);
    let display = observe::status_display::StatusDisplay::start(handle.clone(), apis.clone(), mode);
    let started = std::time::Instant::now();
    let result = block_on(async {
        let _metrics = match args.metrics_listen {
            Some(addr) => Some(observe::metrics_endpoint::serve(addr, handle.clone()).await?),
            None => None,
        };
        run_until_stopped(
            pipeline,
            simulator,
            options,
            args.run_for,
            args.shutdown_deadline,
        )
        .await
    });
    display.finish();
    match result {
        Ok(summary) => {
            let served = apis
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            let samples = observe::metric_samples::Samples::read(&handle);
            let report = places.report(&samples, started.elapsed(), served);
            eprintln!("done: {} checkpoints", summary.checkpoints);
            eprintln!("{}", observe::status::render_summary(&report));
            ExitCode::SUCCESS
        }
        Err(e) => finish(Err(e)),
    }
}
