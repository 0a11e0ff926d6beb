//! Runs a pipeline: one task per node joined by bounded channels, checkpoint barriers that flow from the
//! sources through every operator to the sinks (sinks flush, then operator state is written, then sources
//! commit), and orderly shutdown in which sources stop, channels drain and sinks flush. The whole
//! checkpoint protocol, from barrier to commit, is described once in docs/architecture.md.
//!
//! Operator state is kept when the pipeline reads Kafka and has stateful operators (not in replay): at
//! start each Kafka source joins its group, the committed offsets pick the checkpoint file to restore
//! (see `state_store`), and the operators are restored before any event flows.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tickstream_model::{Event, EventKind};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::barrier_alignment::Aligner;
use crate::checkpoint_coordinator::{Coordinator, Ready, Report};
use crate::kafka_source_task::Reports;
use crate::operator_task::OperatorTask;
use crate::pipeline::Node;
use crate::pipeline::Pipeline;
use crate::registry::{OperatorSpec, SourceSpec};
use crate::sink_task::{ServedApis, SinkTask};
use crate::source_task::SourceTask;
use crate::state_store::{OnMismatch, StateStore};

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
        }
    }
}

/// Events seen by each node, by name, and the checkpoints completed.
#[derive(Debug, Default, Clone)]
pub struct RunSummary {
    pub events_out: BTreeMap<String, u64>,
    pub checkpoints: u64,
}

/// What travels on an edge: the input index, the message, and the batch's hold on the edge's event room.
type Carried = (usize, Message, Option<OwnedSemaphorePermit>);

/// A node's inbound channel, bounded by batches and by events (`RunOptions`).
#[derive(Debug)]
pub struct Inbound {
    rx: mpsc::Receiver<Carried>,
}

impl Inbound {
    /// The next message with the index of the input (in the node's `inputs`) it came from; taking it
    /// frees its events' room on the edge.
    pub async fn recv(&mut self) -> Option<(usize, Message)> {
        self.rx
            .recv()
            .await
            .map(|(input, message, _room)| (input, message))
    }

    /// The next message if one is waiting now (none when the channel is empty or closed).
    pub fn try_recv(&mut self) -> Option<(usize, Message)> {
        self.rx
            .try_recv()
            .ok()
            .map(|(input, message, _room)| (input, message))
    }

    /// Messages waiting now.
    pub fn waiting(&self) -> usize {
        self.rx.len()
    }
}

/// The sending side of a node's inbound channel.
#[derive(Debug, Clone)]
struct Edge {
    tx: mpsc::Sender<Carried>,
    /// One permit per event of room.
    room: Arc<Semaphore>,
    events: usize,
}

/// A node's inbound channel: the sender every input clones, and the receiver.
fn edge(batches: usize, events: usize) -> (Edge, Inbound) {
    let (tx, rx) = mpsc::channel(batches.max(1));
    let events = events.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
    let room = Arc::new(Semaphore::new(events));
    (Edge { tx, room, events }, Inbound { rx })
}

/// Where a node sends what it emits (each downstream node's channel and this node's index among its
/// inputs); counts what it emits by kind (`tickstream_node_events_total`).
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    node: Arc<str>,
    senders: Vec<(Edge, usize)>,
}

impl Outputs {
    /// Sends to every downstream node, waiting for room (backpressure). Fails when a downstream task has
    /// stopped, which only happens when the run is failing.
    pub async fn send(&self, message: Message) -> anyhow::Result<()> {
        let stopped = || anyhow::anyhow!("a downstream task stopped");
        let events = match &message {
            Message::Batch(batch) => {
                count_events(&self.node, &batch.events);
                batch.events.len()
            }
            Message::Barrier(_) | Message::End => 0,
        };
        for (edge, input) in &self.senders {
            let room = if events == 0 {
                None
            } else {
                // A batch larger than the whole room takes all of it.
                let wanted = events.min(edge.events) as u32;
                let permit = edge.room.clone().acquire_many_owned(wanted).await;
                Some(permit.map_err(|_| stopped())?)
            };
            edge.tx
                .send((*input, message.clone(), room))
                .await
                .map_err(|_| stopped())?;
        }
        Ok(())
    }
}

/// Adds a batch's events to `tickstream_node_events_total{node, kind}`, one increment per kind present.
fn count_events(node: &Arc<str>, events: &[Event]) {
    let mut by_kind = [0u64; EventKind::ALL.len()];
    for event in events {
        by_kind[event.kind() as usize] += 1;
    }
    for (kind, n) in EventKind::ALL.iter().zip(by_kind) {
        if n > 0 {
            metrics::counter!("tickstream_node_events_total", "node" => node.to_string(), "kind" => kind.as_str())
                .increment(n);
        }
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
    /// Every sink has made checkpoint `n` durable (and its operator state is in state file `file`, when
    /// state is kept): commit the position remembered at `n`.
    Commit(u64, Option<u64>),
    /// Checkpoint `n` will not be committed (its operator state could not be written): forget its
    /// position; the next checkpoint covers it.
    Abandon(u64),
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
            .with_context(|| format!("{}: sources.{}", pipeline.file, node.name))?;
        sources.push((node, task));
    }
    let mut operators = Vec::new();
    for node in &pipeline.operators {
        let task = OperatorTask::build(&node.spec)
            .with_context(|| format!("{}: operators.{}", pipeline.file, node.name))?;
        operators.push((node, task));
    }
    let mut coordinator = Coordinator::new(pipeline.sinks.len());
    if let Some(groups) = kept_state_groups(&pipeline, &options, &operators) {
        coordinator = restore(&pipeline, &groups, &mut sources, &mut operators)
            .await
            .with_context(|| format!("{}: state", pipeline.file))?;
    }
    let keeps_state = coordinator.keeps_state();

    let (report_tx, mut report_rx) = mpsc::channel::<Report>(capacity.max(256));
    let mut tasks: JoinSet<anyhow::Result<(String, u64)>> = JoinSet::new();
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
                .with_context(|| format!("sources.{name}"))?;
            Ok((name, n))
        });
    }
    for (node, task) in operators {
        let outputs = outputs_of(&node.name);
        let rx = inbound.remove(&node.name).context("operator channel")?;
        let (name, inputs) = (node.name.clone(), node.inputs.len());
        let reports = keeps_state.then(|| (name.clone(), report_tx.clone()));
        tasks.spawn(async move {
            let n = task
                .run(rx, Aligner::new(inputs), outputs, reports)
                .await
                .with_context(|| format!("operators.{name}"))?;
            Ok((name, n))
        });
    }
    for node in &pipeline.sinks {
        let rx = inbound.remove(&node.name).context("sink channel")?;
        let task = SinkTask::build(&node.spec, &options.served_apis)
            .await
            .with_context(|| format!("{}: sinks.{}", pipeline.file, node.name))?;
        let (name, inputs, acks) = (node.name.clone(), node.inputs.len(), report_tx.clone());
        tasks.spawn(async move {
            let n = task
                .run(&name, rx, InputMarkers::new(inputs), acks)
                .await
                .with_context(|| format!("sinks.{name}"))?;
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
                Some(Err(e)) => { tasks.abort_all(); return Err(anyhow::anyhow!("a pipeline task failed: {e}")); }
            },
        }
    }
    Ok(summary)
}

/// The consumer groups whose offsets operator state goes with, when state is kept: the pipeline reads
/// Kafka, has stateful operators, and is not a replay.
fn kept_state_groups(
    pipeline: &Pipeline,
    options: &RunOptions,
    operators: &[(&Node<OperatorSpec>, OperatorTask)],
) -> Option<Vec<String>> {
    if options.replay_inputs.is_some() || !operators.iter().any(|(_, t)| t.is_stateful()) {
        return None;
    }
    let mut groups: Vec<String> = pipeline
        .sources
        .iter()
        .filter_map(|n| match &n.spec {
            SourceSpec::Kafka(config) => Some(config.group_id.clone()),
            _ => None,
        })
        .collect();
    groups.sort_unstable();
    groups.dedup();
    (!groups.is_empty()).then_some(groups)
}

/// Joins the Kafka sources' groups, picks the checkpoint that goes with the committed offsets and restores
/// the operators from it; returns the coordinator that keeps state from here on.
async fn restore(
    pipeline: &Pipeline,
    groups: &[String],
    sources: &mut [(&Node<SourceSpec>, SourceTask)],
    operators: &mut [(&Node<OperatorSpec>, OperatorTask)],
) -> anyhow::Result<Coordinator> {
    let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
    let dir = pipeline.state.dir_for(&groups);
    let store = StateStore::open(&dir)?;
    let mut committed = Vec::new();
    let mut positioned = std::collections::BTreeSet::new();
    for (node, task) in sources.iter_mut() {
        if matches!(node.spec, SourceSpec::Kafka(_)) {
            committed.extend(
                task.committed_offsets()
                    .await
                    .with_context(|| format!("sources.{}", node.name))?,
            );
            positioned.insert(node.name.clone());
        }
    }
    let stateful = operators
        .iter()
        .filter(|(_, t)| t.is_stateful())
        .map(|(n, _)| n.name.clone())
        .collect();
    let restored = match store.choose(&committed) {
        Ok(Some(mut checkpoint)) => {
            for (node, task) in operators.iter_mut() {
                if let Some(state) = checkpoint.operators.remove(&node.name) {
                    task.restore(&state).with_context(|| {
                        format!(
                            "restoring operators.{} from checkpoint {} in {}",
                            node.name,
                            checkpoint.id,
                            dir.display()
                        )
                    })?;
                } else if task.is_stateful() {
                    tracing::warn!(operator = %node.name, checkpoint = checkpoint.id, "no state for this operator in the checkpoint: it starts empty");
                }
            }
            tracing::info!(checkpoint = checkpoint.id, dir = %dir.display(), "operator state restored");
            Some(checkpoint.id)
        }
        Ok(None) => {
            tracing::info!(dir = %dir.display(), "no committed offsets: operators start empty");
            None
        }
        Err(e) if pipeline.state.on_mismatch == OnMismatch::StartEmpty => {
            tracing::warn!("{e}; starting the operators empty (on_mismatch = \"start_empty\")");
            None
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Coordinator::new(pipeline.sinks.len()).with_state(store, stateful, positioned, restored))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt as _;

    fn batch(events: usize) -> Message {
        let event: Event =
            serde_json::from_str(include_str!("../../../schemas/examples/trade.v1.json")).unwrap();
        Message::Batch(Batch::new(vec![event; events]))
    }

    #[tokio::test]
    async fn an_edge_holds_many_small_batches_but_no_more_events_than_its_room() {
        let (tx, mut rx) = edge(100, 10);
        let outputs = Outputs {
            node: "source".into(),
            senders: vec![(tx, 0)],
        };
        // Ten one-event batches fit in a room of ten events.
        for _ in 0..10 {
            outputs.send(batch(1)).now_or_never().unwrap().unwrap();
        }
        assert!(
            outputs.send(batch(1)).now_or_never().is_none(),
            "the room is full"
        );
        // Markers need no room.
        outputs
            .send(Message::Barrier(1))
            .now_or_never()
            .unwrap()
            .unwrap();
        // Taking one batch out frees its event; a batch larger than the whole room waits for all of it.
        rx.recv().await.unwrap();
        outputs.send(batch(1)).now_or_never().unwrap().unwrap();
        let mut big = Box::pin(outputs.send(batch(25)));
        assert!((&mut big).now_or_never().is_none());
        for _ in 0..9 {
            rx.recv().await.unwrap();
        }
        assert!(matches!(rx.recv().await, Some((0, Message::Barrier(1)))));
        assert!(
            (&mut big).now_or_never().is_none(),
            "one event is still held"
        );
        rx.recv().await.unwrap();
        big.await.unwrap();
        assert!(matches!(rx.recv().await, Some((0, Message::Batch(b))) if b.events.len() == 25));
    }

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
