//! `tickstream replay`: a pipeline's operators and sinks over recorded normalized events, at full speed,
//! in place of its live sources.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tickstream_engine::dataflow::RunOptions;

use super::{block_on, finish, load_or_report, run_until_stopped};
use crate::observe;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The pipeline file.
    pipeline: PathBuf,
    /// Recorded event files, read in order; each source replays the events it would have produced.
    #[arg(long, required = true, num_args = 1..)]
    input: Vec<PathBuf>,
    /// Write the pipeline's file outputs (file sinks, the lake) under this directory.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn replay(args: ReplayArgs) -> ExitCode {
    // Replayed sources read files: the simulator a live run would start has nobody to serve.
    let Some((mut pipeline, _simulator)) = load_or_report(&args.pipeline) else {
        return ExitCode::FAILURE;
    };
    if let Some(dir) = &args.out {
        for sink in &mut pipeline.sinks {
            sink.spec.place_under(dir);
        }
    }
    let options = RunOptions {
        replay_inputs: Some(args.input),
        ..Default::default()
    };
    let progress = observe::progress::Progress::start(options.events_read.clone());
    let result = block_on(run_until_stopped(
        pipeline,
        None,
        options,
        None,
        Duration::from_secs(30),
    ));
    progress.finish();
    finish(result)
}
