//! The commands of the `tickstream` binary, one file each, and what they share: loading a pipeline file
//! with its `[simulator]` section, running it until stopped, and reporting how it ended.

pub mod bench;
pub mod compact;
pub mod keys;
pub mod normalize;
pub mod replay;
pub mod run;
pub mod serve;
pub mod simulate;
pub mod validate;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use tickstream_engine::dataflow::{RunOptions, RunSummary};
use tickstream_engine::pipeline::{self, ConfigError, Pipeline};

use simulate::SimulatorSection;

/// Reads and validates a pipeline file, its `[simulator]` section included.
pub fn load(path: &Path) -> Result<(Pipeline, Option<SimulatorSection>), Vec<ConfigError>> {
    let pipeline = pipeline::load(path)?;
    let simulator = simulate::section(&pipeline).map_err(|e| vec![e])?;
    Ok((pipeline, simulator))
}

/// [`load`], printing every error found.
pub fn load_or_report(path: &Path) -> Option<(Pipeline, Option<SimulatorSection>)> {
    match load(path) {
        Ok(loaded) => Some(loaded),
        Err(errors) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            None
        }
    }
}

pub fn block_on<T>(
    future: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::runtime::Runtime::new()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?
        .block_on(future)
}

pub fn finish(result: anyhow::Result<RunSummary>) -> ExitCode {
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
pub async fn run_until_stopped(
    pipeline: Pipeline,
    simulator: Option<SimulatorSection>,
    options: RunOptions,
    run_for: Option<Duration>,
    shutdown_deadline: Duration,
) -> anyhow::Result<RunSummary> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let _simulator = match &simulator {
        Some(section) => Some(SimulatorGuard(section.start().await?)),
        None => None,
    };
    let mut running = tokio::spawn(tickstream_engine::dataflow::run(pipeline, options, stop_rx));
    let run_for = async {
        match run_for {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        done = &mut running => return Ok(done??),
        _ = stop_signal() => tracing::info!("stopping: draining and flushing (a second signal exits at once)"),
        _ = run_for => tracing::info!("stopping after --for: draining and flushing"),
    }
    let _ = stop_tx.send(true);
    tokio::select! {
        done = &mut running => Ok(done??),
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

pub async fn stop_signal() {
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
