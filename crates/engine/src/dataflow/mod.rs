//! Runs a pipeline: one task per node joined by bounded channels, checkpoint barriers that flow from the
//! sources through every operator to the sinks (sinks flush, then operator state is written, then sources
//! commit), and orderly shutdown in which sources stop, channels drain and sinks flush. The whole
//! checkpoint protocol, from barrier to commit, is described once in docs/architecture.md.
//!
//! Operator state is kept when the pipeline reads Kafka and has stateful operators (not in replay): per
//! input partition, in the group's changelog topics. Each partition assigned to this run is restored
//! before its first event, and each checkpoint writes every owned partition's state before the offsets
//! are committed (see `checkpoint` and `partition_operators`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::Error;
use crate::checkpoint::{Coordinator, Ready, Report};
use crate::pipeline::{Node, OperatorSpec, Pipeline, SourceSpec};
use barriers::Aligner;
use kafka_source_task::Reports;
use operator_task::OperatorTask;
use sink_task::SinkTask;
use source_task::SourceTask;

mod barriers;
mod edge;
mod kafka_source_task;
mod operator_task;
mod partition_operators;
mod sink_task;
mod source_task;

pub use edge::{BATCH, Batch, Inbound, Message, Outputs};
use edge::{Edge, edge};
pub use sink_task::{END_TO_END_LATENCY, LAKE_THREAD, ServedApi, ServedApis};

/// Completes once `shutdown` turns true (or its sender is gone): a source's cue to stop producing.
pub async fn stop_requested(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Tuning for a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Batches buffered on each edge before the sender waits (backpressure).
    pub channel_capacity: usize,
    /// Events buffered on each edge before the sender waits. Bounding events as well as batches gives a
    /// flow of small batches (a quiet feed, or a source that sends every millisecond) room for a sink's
    /// checkpoint flush (the lake's goes a group of partitions at a time, taking in rows between the
    /// groups), so that one slow flush does not stall the other sinks, while full batches still hold no
    /// more than this many events. Larger edges cost memory, smaller ones throughput; the default's
    /// measurements are in docs/benchmarks.md.
    pub channel_events: usize,
    /// How often a checkpoint barrier is injected at the sources.
    pub checkpoint_interval: Duration,
    /// Replay: every source reads these normalized event files instead of its own input.
    pub replay_inputs: Option<Vec<std::path::PathBuf>>,
    /// Counts the events the sources have sent (for progress displays).
    pub events_read: Arc<std::sync::atomic::AtomicU64>,
    /// The APIs the cache sinks serve, as they start (for the status display).
    pub served_apis: ServedApis,
    /// Where lines a person must see as the run starts (the demo API key) are written.
    pub notices: Notices,
}

/// Writes the lines a person must see as a run starts: on standard error by default; a live terminal
/// display passes its own writer so that the lines do not tear its panel.
#[derive(Clone)]
pub struct Notices(Arc<dyn Fn(&str) + Send + Sync>);

impl Notices {
    pub fn new(write: impl Fn(&str) + Send + Sync + 'static) -> Notices {
        Notices(Arc::new(write))
    }

    pub fn show(&self, line: &str) {
        (self.0)(line)
    }
}

impl Default for Notices {
    fn default() -> Notices {
        Notices::new(|line| eprintln!("{line}"))
    }
}

impl std::fmt::Debug for Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Notices")
    }
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            channel_capacity: 1024,
            channel_events: 16_384,
            checkpoint_interval: Duration::from_secs(5),
            replay_inputs: None,
            events_read: Arc::default(),
            served_apis: ServedApis::default(),
            notices: Notices::default(),
        }
    }
}

/// Events seen by each node, by name, and the checkpoints completed.
#[derive(Debug, Default, Clone)]
pub struct RunSummary {
    pub events_out: BTreeMap<String, u64>,
    pub checkpoints: u64,
}

/// The checkpoint every sink acknowledges when its inputs have ended and it has flushed: sources commit the
/// position they reached at their end on it.
pub const FINAL_CHECKPOINT: u64 = u64::MAX;

/// Requests from the checkpoint coordinator to a source.
#[derive(Debug, Clone, Copy)]
pub enum SourceControl {
    /// Send `Barrier(n)` downstream now, remembering the position reached.
    Inject(u64),
    /// Every sink has made checkpoint `n` durable (and its operator state is in state file `file`, when
    /// state is kept): commit the position remembered at `n`.
    Commit(u64, Option<u64>),
    /// Checkpoint `n` will not be committed (its operator state could not be written): forget its
    /// position; the next checkpoint covers it.
    Abandon(u64),
}

/// Runs `pipeline` until every source has ended and every sink has flushed, or until `shutdown` turns true
/// (then sources stop, and what is in flight drains to the sinks).
pub async fn run(
    pipeline: Pipeline,
    options: RunOptions,
    shutdown: watch::Receiver<bool>,
) -> Result<RunSummary, Error> {
    let capacity = options.channel_capacity.max(1);
    // One inbound channel per operator and sink; every input sends into it.
    let mut senders: BTreeMap<String, Edge> = BTreeMap::new();
    let mut inbound: BTreeMap<String, Inbound> = BTreeMap::new();
    for name in pipeline
        .operators
        .iter()
        .map(|n| &n.name)
        .chain(pipeline.sinks.iter().map(|n| &n.name))
    {
        let (tx, rx) = edge(capacity, options.channel_events);
        senders.insert(name.clone(), tx);
        inbound.insert(name.clone(), rx);
    }
    let consumers: Vec<(&String, &Vec<String>)> = pipeline
        .operators
        .iter()
        .map(|n| (&n.name, &n.inputs))
        .chain(pipeline.sinks.iter().map(|n| (&n.name, &n.inputs)))
        .collect();
    let outputs_of = |producer: &str| Outputs {
        node: producer.into(),
        senders: consumers
            .iter()
            .filter_map(|(name, inputs)| {
                let input = inputs.iter().position(|i| i == producer)?;
                Some((senders[name.as_str()].clone(), input))
            })
            .collect(),
    };

    let mut sources = Vec::new();
    for node in &pipeline.sources {
        let task = SourceTask::build(&node.spec, options.replay_inputs.as_deref())
            .await
            .map_err(|e| e.within(format!("{}: sources.{}", pipeline.file, node.name)))?;
        sources.push((node, task));
    }
    let mut operators = Vec::new();
    for node in &pipeline.operators {
        let task = OperatorTask::build(&node.spec, &node.name)
            .map_err(|e| e.within(format!("{}: operators.{}", pipeline.file, node.name)))?;
        operators.push((node, task));
    }
    let mut coordinator = Coordinator::new(pipeline.sinks.len());
    if keeps_state(&options, &operators) {
        let stateful = operators
            .iter()
            .filter(|(_, t)| t.is_stateful())
            .map(|(n, _)| n.name.clone())
            .collect();
        coordinator = keep_state(&pipeline, &mut sources, stateful)
            .await
            .map_err(|e| e.within(format!("{}: state", pipeline.file)))?;
    }
    let keeps_state = coordinator.keeps_state();

    let (report_tx, mut report_rx) = mpsc::channel::<Report>(capacity.max(256));
    let mut tasks: JoinSet<Result<(String, u64), Error>> = JoinSet::new();
    let mut controls = Vec::new();
    for (node, task) in sources {
        let outputs = outputs_of(&node.name);
        let (control_tx, control_rx) = mpsc::channel(16);
        controls.push(control_tx);
        let name = node.name.clone();
        let (shutdown, progress) = (shutdown.clone(), options.events_read.clone());
        let reports = Reports {
            node: name.clone(),
            to: report_tx.clone(),
        };
        tasks.spawn(async move {
            let n = task
                .run(outputs, control_rx, shutdown, progress, reports)
                .await
                .map_err(|e| e.within(format!("sources.{name}")))?;
            Ok((name, n))
        });
    }
    for (node, task) in operators {
        let outputs = outputs_of(&node.name);
        let rx = inbound
            .remove(&node.name)
            .ok_or(Error::Stopped("an operator's channel"))?;
        let (name, inputs) = (node.name.clone(), node.inputs.len());
        let reports = keeps_state.then(|| (name.clone(), report_tx.clone()));
        tasks.spawn(async move {
            let n = task
                .run(rx, Aligner::new(inputs), outputs, reports)
                .await
                .map_err(|e| e.within(format!("operators.{name}")))?;
            Ok((name, n))
        });
    }
    for node in &pipeline.sinks {
        let rx = inbound
            .remove(&node.name)
            .ok_or(Error::Stopped("a sink's channel"))?;
        let task = SinkTask::build(&node.spec, &options.served_apis, &options.notices)
            .await
            .map_err(|e| e.within(format!("{}: sinks.{}", pipeline.file, node.name)))?;
        let (name, inputs, acks) = (node.name.clone(), node.inputs.len(), report_tx.clone());
        tasks.spawn(async move {
            let n = task
                .run(&name, rx, Aligner::unaligned(inputs), acks)
                .await
                .map_err(|e| e.within(format!("sinks.{name}")))?;
            Ok((name, n))
        });
    }
    drop(report_tx);
    drop(senders);

    let mut summary = RunSummary::default();
    let mut ticker = tokio::time::interval(options.checkpoint_interval);
    ticker.tick().await;
    let mut next_barrier = 1u64;
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                for control in &controls {
                    // A source that has ended no longer listens; that is fine.
                    let _ = control.send(SourceControl::Inject(next_barrier)).await;
                }
                next_barrier += 1;
            }
            Some(report) = report_rx.recv() => {
                if let Some(Ready { checkpoint, file, commit }) = coordinator.report(report).await {
                    let request = if commit {
                        if checkpoint != FINAL_CHECKPOINT {
                            summary.checkpoints += 1;
                        }
                        tracing::debug!(checkpoint, file, "every sink is durable up to the checkpoint; committing");
                        SourceControl::Commit(checkpoint, file)
                    } else {
                        SourceControl::Abandon(checkpoint)
                    };
                    for control in &controls {
                        let _ = control.send(request).await;
                    }
                }
            }
            done = tasks.join_next() => match done {
                None => break,
                Some(Ok(Ok((name, n)))) => { summary.events_out.insert(name, n); }
                Some(Ok(Err(e))) => { tasks.abort_all(); return Err(e); }
                Some(Err(e)) => { tasks.abort_all(); return Err(e.into()); }
            },
        }
    }
    Ok(summary)
}

/// True when operator state is kept: the run has stateful operators and is not a replay (its Kafka
/// sources then keep it in their groups' changelogs).
fn keeps_state(options: &RunOptions, operators: &[(&Node<OperatorSpec>, OperatorTask)]) -> bool {
    options.replay_inputs.is_none() && operators.iter().any(|(_, t)| t.is_stateful())
}

/// Has every Kafka source keep its partitions' operator state in its group's changelog, joins the groups
/// (the first assignment restores its partitions), and returns the coordinator that writes the state at
/// each checkpoint.
async fn keep_state(
    pipeline: &Pipeline,
    sources: &mut [(&Node<SourceSpec>, SourceTask)],
    stateful: std::collections::BTreeSet<String>,
) -> Result<Coordinator, Error> {
    let mut writers = BTreeMap::new();
    for (node, task) in sources.iter_mut() {
        let within = |e: Error| e.within(format!("sources.{}", node.name));
        if let Some(writer) = task
            .keep_state(pipeline.state.on_mismatch)
            .await
            .map_err(within)?
        {
            writers.insert(node.name.clone(), writer);
        }
        task.committed_offsets().await.map_err(within)?;
    }
    Ok(Coordinator::new(pipeline.sinks.len()).with_state(writers, stateful))
}
