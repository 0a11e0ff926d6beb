//! Runs a pipeline: one task per node joined by bounded channels, checkpoint barriers that flow from the
//! sources through every operator to the sinks (sinks flush, then sources commit), and orderly shutdown in
//! which sources stop, channels drain and sinks flush.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tickstream_model::Event;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::operator_task::OperatorTask;
use crate::pipeline::Pipeline;
use crate::sink_task::SinkTask;
use crate::source_task::SourceTask;

/// What flows along an edge of the graph.
#[derive(Debug, Clone)]
pub enum Message {
    /// Events in order; shared by every downstream node.
    Batch(Batch),
    /// Checkpoint `n`: everything before it must be durable at the sinks before sources commit `n`.
    Barrier(u64),
    /// The upstream node has no more events.
    End,
}

/// Events in order, with where each came from when the source is a log with offsets (Kafka).
#[derive(Debug, Clone)]
pub struct Batch {
    pub events: Arc<[Event]>,
    /// `sources[i]` is where `events[i]` was read; only sources with offsets set it, and operators do not
    /// pass it on (what they emit is new data).
    pub sources: Option<Arc<[SourceRef]>>,
}

impl Batch {
    pub fn new(events: Vec<Event>) -> Batch {
        Batch {
            events: events.into(),
            sources: None,
        }
    }
}

/// A record's place in its source log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRef {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
}

/// Events per batch a source sends downstream.
pub const BATCH: usize = 1024;

/// Completes once `shutdown` turns true (or its sender is gone): a source's cue to stop producing.
pub async fn stop_requested(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Tuning for a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Batches buffered on each edge before the sender waits (backpressure).
    pub channel_capacity: usize,
    /// How often a checkpoint barrier is injected at the sources.
    pub checkpoint_interval: Duration,
    /// Replay: every source reads these normalized event files instead of its own input.
    pub replay_inputs: Option<Vec<std::path::PathBuf>>,
    /// Counts the events the sources have sent (for progress displays).
    pub events_read: Arc<std::sync::atomic::AtomicU64>,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            channel_capacity: 64,
            checkpoint_interval: Duration::from_secs(5),
            replay_inputs: None,
            events_read: Arc::default(),
        }
    }
}

/// Events seen by each node, by name, and the checkpoints completed.
#[derive(Debug, Default, Clone)]
pub struct RunSummary {
    pub events_out: BTreeMap<String, u64>,
    pub checkpoints: u64,
}

/// Where a node sends what it emits.
#[derive(Debug, Clone, Default)]
pub struct Outputs(Vec<mpsc::Sender<Message>>);

impl Outputs {
    /// Sends to every downstream node, waiting for room (backpressure). Fails when a downstream task has
    /// stopped, which only happens when the run is failing.
    pub async fn send(&self, message: Message) -> anyhow::Result<()> {
        for tx in &self.0 {
            tx.send(message.clone())
                .await
                .map_err(|_| anyhow::anyhow!("a downstream task stopped"))?;
        }
        Ok(())
    }
}

/// The checkpoint every sink acknowledges when its inputs have ended and it has flushed: sources commit the
/// position they reached at their end on it.
pub const FINAL_CHECKPOINT: u64 = u64::MAX;

/// Requests from the checkpoint coordinator to a source.
#[derive(Debug, Clone, Copy)]
pub enum SourceControl {
    /// Send `Barrier(n)` downstream now, remembering the position reached.
    Inject(u64),
    /// Every sink has made checkpoint `n` durable: commit the position remembered at `n`.
    Commit(u64),
}

/// Counts barrier and end markers from a node's several inputs: a barrier is passed on once it has arrived
/// from every input, and the end once every input has ended.
#[derive(Debug)]
pub struct InputMarkers {
    inputs: usize,
    barriers: BTreeMap<u64, usize>,
    ended: usize,
}

impl InputMarkers {
    pub fn new(inputs: usize) -> InputMarkers {
        InputMarkers {
            inputs,
            barriers: BTreeMap::new(),
            ended: 0,
        }
    }

    /// True when barrier `n` has now arrived from every input.
    pub fn barrier(&mut self, n: u64) -> bool {
        let count = self.barriers.entry(n).or_default();
        *count += 1;
        if *count == self.inputs {
            self.barriers.remove(&n);
            true
        } else {
            false
        }
    }

    /// True when every input has now ended.
    pub fn end(&mut self) -> bool {
        self.ended += 1;
        self.ended == self.inputs
    }
}

/// Runs `pipeline` until every source has ended and every sink has flushed, or until `shutdown` turns true
/// (then sources stop, and what is in flight drains to the sinks).
pub async fn run(
    pipeline: Pipeline,
    options: RunOptions,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<RunSummary> {
    let capacity = options.channel_capacity.max(1);
    // One inbound channel per operator and sink; every input sends into it.
    let mut senders: BTreeMap<String, mpsc::Sender<Message>> = BTreeMap::new();
    let mut inbound: BTreeMap<String, mpsc::Receiver<Message>> = BTreeMap::new();
    for name in pipeline
        .operators
        .iter()
        .map(|n| &n.name)
        .chain(pipeline.sinks.iter().map(|n| &n.name))
    {
        let (tx, rx) = mpsc::channel(capacity);
        senders.insert(name.clone(), tx);
        inbound.insert(name.clone(), rx);
    }
    let consumers: Vec<(&String, &Vec<String>)> = pipeline
        .operators
        .iter()
        .map(|n| (&n.name, &n.inputs))
        .chain(pipeline.sinks.iter().map(|n| (&n.name, &n.inputs)))
        .collect();
    let outputs_of = |producer: &str| {
        Outputs(
            consumers
                .iter()
                .filter(|(_, inputs)| inputs.iter().any(|i| i == producer))
                .map(|(name, _)| senders[name.as_str()].clone())
                .collect(),
        )
    };

    let (ack_tx, mut ack_rx) = mpsc::channel::<u64>(capacity);
    let mut tasks: JoinSet<anyhow::Result<(String, u64)>> = JoinSet::new();
    let mut controls = Vec::new();
    for node in &pipeline.sources {
        let outputs = outputs_of(&node.name);
        let (control_tx, control_rx) = mpsc::channel(16);
        controls.push(control_tx);
        let task = SourceTask::build(&node.spec, options.replay_inputs.as_deref())
            .with_context(|| format!("{}: sources.{}", pipeline.file, node.name))?;
        let name = node.name.clone();
        let (shutdown, progress) = (shutdown.clone(), options.events_read.clone());
        tasks.spawn(async move {
            let n = task
                .run(outputs, control_rx, shutdown, progress)
                .await
                .with_context(|| format!("sources.{name}"))?;
            Ok((name, n))
        });
    }
    for node in &pipeline.operators {
        let outputs = outputs_of(&node.name);
        let rx = inbound.remove(&node.name).context("operator channel")?;
        let task = OperatorTask::build(&node.spec)
            .with_context(|| format!("{}: operators.{}", pipeline.file, node.name))?;
        let (name, inputs) = (node.name.clone(), node.inputs.len());
        tasks.spawn(async move {
            let n = task
                .run(rx, InputMarkers::new(inputs), outputs)
                .await
                .with_context(|| format!("operators.{name}"))?;
            Ok((name, n))
        });
    }
    let sinks = pipeline.sinks.len();
    for node in &pipeline.sinks {
        let rx = inbound.remove(&node.name).context("sink channel")?;
        let task = SinkTask::build(&node.spec)
            .await
            .with_context(|| format!("{}: sinks.{}", pipeline.file, node.name))?;
        let (name, inputs, acks) = (node.name.clone(), node.inputs.len(), ack_tx.clone());
        tasks.spawn(async move {
            let n = task
                .run(rx, InputMarkers::new(inputs), acks)
                .await
                .with_context(|| format!("sinks.{name}"))?;
            Ok((name, n))
        });
    }
    drop(ack_tx);
    drop(senders);

    let mut summary = RunSummary::default();
    let mut ticker = tokio::time::interval(options.checkpoint_interval);
    ticker.tick().await;
    let mut next_barrier = 1u64;
    let mut acks: BTreeMap<u64, usize> = BTreeMap::new();
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                for control in &controls {
                    // A source that has ended no longer listens; that is fine.
                    let _ = control.send(SourceControl::Inject(next_barrier)).await;
                }
                next_barrier += 1;
            }
            Some(n) = ack_rx.recv() => {
                let count = acks.entry(n).or_default();
                *count += 1;
                if *count == sinks {
                    acks.remove(&n);
                    if n != FINAL_CHECKPOINT {
                        summary.checkpoints += 1;
                    }
                    tracing::debug!(checkpoint = n, "every sink is durable up to the checkpoint; committing");
                    for control in &controls {
                        let _ = control.send(SourceControl::Commit(n)).await;
                    }
                }
            }
            done = tasks.join_next() => match done {
                None => break,
                Some(Ok(Ok((name, n)))) => { summary.events_out.insert(name, n); }
                Some(Ok(Err(e))) => { tasks.abort_all(); return Err(e); }
                Some(Err(e)) => { tasks.abort_all(); return Err(anyhow::anyhow!("a pipeline task failed: {e}")); }
            },
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_wait_for_every_input() {
        let mut m = InputMarkers::new(2);
        assert!(!m.barrier(1));
        assert!(!m.barrier(2));
        assert!(m.barrier(1));
        assert!(m.barrier(2));
        assert!(!m.end());
        assert!(m.end());
    }
}
