//! The task behind each kind of node: how a source produces batches and answers checkpoint requests, how an
//! operator transforms batches, and how a sink writes, flushes on barriers and acknowledges.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use anyhow::Context;
use tickstream_connectors::runner::{ExchangeSource, ExchangeSourceConfig};
use tickstream_io::ndjson::{EventFileReader, FileSink};
use tickstream_model::Event;
use tickstream_operators::{Indicators, Operator, TimeBars};
use tokio::sync::{mpsc, watch};

use crate::filter::FilterConfig;
use crate::registry::{OperatorSpec, SinkSpec, SourceSpec};
use crate::runtime::{FINAL_CHECKPOINT, InputMarkers, Message, Outputs, SourceControl};

/// Events per batch a source sends downstream.
const BATCH: usize = 1024;

/// A running source.
#[derive(Debug)]
pub enum SourceTask {
    /// A venue's websocket feed through the shared runner.
    Exchange(Box<ExchangeSourceConfig>),
    /// Normalized events from files, in order, passing `filter`.
    Files {
        paths: Vec<PathBuf>,
        filter: FilterConfig,
    },
}

impl SourceTask {
    /// The task for a source node; with `replay` inputs, every source instead replays the events from
    /// those files that it would have produced itself.
    pub fn build(spec: &SourceSpec, replay: Option<&[PathBuf]>) -> anyhow::Result<SourceTask> {
        if let Some(paths) = replay {
            return Ok(SourceTask::Files {
                paths: paths.to_vec(),
                filter: spec.replay_filter(),
            });
        }
        match spec {
            SourceSpec::Exchange(config) => Ok(SourceTask::Exchange(Box::new(config.clone()))),
            SourceSpec::File(config) => Ok(SourceTask::Files {
                paths: config.paths.clone(),
                filter: FilterConfig {
                    kinds: config.kinds.clone(),
                    ..FilterConfig::default()
                },
            }),
        }
    }

    /// Produces until the input ends or `shutdown` turns true, then sends `End`. Returns the events sent.
    pub async fn run(
        self,
        outputs: Outputs,
        mut control: mpsc::Receiver<SourceControl>,
        mut shutdown: watch::Receiver<bool>,
        progress: Arc<AtomicU64>,
    ) -> anyhow::Result<u64> {
        let mut batches = match self {
            SourceTask::Exchange(config) => exchange_feed(*config)?,
            SourceTask::Files { paths, filter } => read_files(paths, filter),
        };
        let mut sent = 0u64;
        let stopped = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                biased;
                _ = &mut stopped => break,
                Some(request) = control.recv() => match request {
                    SourceControl::Inject(n) => outputs.send(Message::Barrier(n)).await?,
                    // Files have no position to commit: a replay starts from the beginning.
                    SourceControl::Commit(n) => tracing::trace!(checkpoint = n, "checkpoint durable"),
                },
                batch = batches.recv() => match batch {
                    Some(Ok(events)) => {
                        sent += events.len() as u64;
                        progress.fetch_add(events.len() as u64, Ordering::Relaxed);
                        outputs.send(Message::Batch(events.into())).await?;
                    }
                    Some(Err(e)) => return Err(e),
                    None => break,
                },
            }
        }
        outputs.send(Message::End).await?;
        Ok(sent)
    }
}

/// Starts the venue's runner and groups what it sends into batches: whatever is waiting, up to a batch,
/// without waiting for more. Dropping the receiver stops the runner.
fn exchange_feed(
    config: ExchangeSourceConfig,
) -> anyhow::Result<mpsc::Receiver<anyhow::Result<Vec<Event>>>> {
    let (event_tx, mut event_rx) = mpsc::channel(BATCH * 4);
    let source = ExchangeSource::new(config, event_tx)?;
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let runner = tokio::spawn(source.run());
        while let Some(first) = event_rx.recv().await {
            let mut batch = Vec::with_capacity(BATCH);
            batch.push(first);
            while batch.len() < BATCH {
                match event_rx.try_recv() {
                    Ok(event) => batch.push(event),
                    Err(_) => break,
                }
            }
            if tx.send(Ok(batch)).await.is_err() {
                break;
            }
        }
        drop(event_rx);
        match runner.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = tx.send(Err(e.into())).await;
            }
            Err(e) => tracing::error!("the exchange runner failed: {e}"),
        }
    });
    Ok(rx)
}

/// Reads the files on a thread of their own, in order, into batches. Lines that are not events are counted
/// and logged (the first ten, then every thousandth) and skipped.
fn read_files(
    paths: Vec<PathBuf>,
    filter: FilterConfig,
) -> mpsc::Receiver<anyhow::Result<Vec<Event>>> {
    let (tx, rx) = mpsc::channel(4);
    thread::spawn(move || {
        let mut bad = 0u64;
        for path in &paths {
            let mut reader = match EventFileReader::open(path) {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e.into()));
                    return;
                }
            };
            let mut batch = Vec::with_capacity(BATCH);
            while let Some(item) = reader.next_event() {
                match item {
                    Ok(Ok(event)) if filter.matches(&event) => batch.push(event),
                    Ok(Ok(_)) => {}
                    Ok(Err(line)) => {
                        bad += 1;
                        if bad <= 10 || bad.is_multiple_of(1000) {
                            tracing::warn!(file = %path.display(), line = line.line, rejected = bad, "skipping a line that is not an event: {}", line.message);
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e.into()));
                        return;
                    }
                }
                if batch.len() == BATCH && tx.blocking_send(Ok(std::mem::take(&mut batch))).is_err()
                {
                    return;
                }
            }
            if !batch.is_empty() && tx.blocking_send(Ok(batch)).is_err() {
                return;
            }
        }
    });
    rx
}

/// A running operator.
pub enum OperatorTask {
    Filter(FilterConfig),
    Operator(Box<dyn Operator>),
}

impl std::fmt::Debug for OperatorTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OperatorTask::Filter(c) => f.debug_tuple("Filter").field(c).finish(),
            OperatorTask::Operator(_) => f.write_str("Operator"),
        }
    }
}

impl OperatorTask {
    pub fn build(spec: &OperatorSpec) -> anyhow::Result<OperatorTask> {
        Ok(match spec {
            OperatorSpec::Filter(config) => OperatorTask::Filter(config.clone()),
            OperatorSpec::TimeBars(config) => {
                OperatorTask::Operator(Box::new(TimeBars::new(config.clone())?))
            }
            OperatorSpec::Indicators(config) => {
                OperatorTask::Operator(Box::new(Indicators::new(config.clone())?))
            }
        })
    }

    fn process(&mut self, events: &[Event], out: &mut Vec<Event>) {
        match self {
            OperatorTask::Filter(filter) => {
                out.extend(events.iter().filter(|e| filter.matches(e)).cloned())
            }
            OperatorTask::Operator(operator) => {
                for event in events {
                    operator.on_event(event, out);
                }
            }
        }
    }

    /// Transforms batches until every input has ended. Returns the events emitted.
    pub async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Message>,
        mut markers: InputMarkers,
        outputs: Outputs,
    ) -> anyhow::Result<u64> {
        let mut emitted = 0u64;
        let mut out = Vec::new();
        while let Some(message) = inbound.recv().await {
            match message {
                Message::Batch(events) => {
                    self.process(&events, &mut out);
                    if !out.is_empty() {
                        emitted += out.len() as u64;
                        let batch: Arc<[Event]> = std::mem::take(&mut out).into();
                        outputs.send(Message::Batch(batch)).await?;
                    }
                }
                Message::Barrier(n) if markers.barrier(n) => {
                    outputs.send(Message::Barrier(n)).await?
                }
                Message::Barrier(_) => {}
                Message::End if markers.end() => break,
                Message::End => {}
            }
        }
        outputs.send(Message::End).await?;
        Ok(emitted)
    }
}

/// A running sink.
#[derive(Debug)]
pub enum SinkTask {
    File(FileSink),
}

impl SinkTask {
    pub async fn build(spec: &SinkSpec) -> anyhow::Result<SinkTask> {
        match spec {
            SinkSpec::File(config) => Ok(SinkTask::File(FileSink::create(config)?)),
        }
    }

    async fn write(&mut self, events: &[Event]) -> anyhow::Result<()> {
        match self {
            SinkTask::File(sink) => Ok(sink.write(events)?),
        }
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        match self {
            SinkTask::File(sink) => Ok(sink.flush()?),
        }
    }

    /// Writes batches; on a barrier from every input, flushes and acknowledges it; at the end, flushes and
    /// acknowledges the final checkpoint. Returns the events written.
    pub async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Message>,
        mut markers: InputMarkers,
        acks: mpsc::Sender<u64>,
    ) -> anyhow::Result<u64> {
        let mut written = 0u64;
        while let Some(message) = inbound.recv().await {
            match message {
                Message::Batch(events) => {
                    written += events.len() as u64;
                    self.write(&events).await?;
                }
                Message::Barrier(n) if markers.barrier(n) => {
                    self.flush().await.context("flushing at a checkpoint")?;
                    let _ = acks.send(n).await;
                }
                Message::Barrier(_) => {}
                Message::End if markers.end() => break,
                Message::End => {}
            }
        }
        self.flush().await.context("flushing at the end")?;
        let _ = acks.send(FINAL_CHECKPOINT).await;
        Ok(written)
    }
}
