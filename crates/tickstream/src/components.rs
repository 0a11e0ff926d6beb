//! The task behind each kind of node: how a source produces batches and answers checkpoint requests, how an
//! operator transforms batches, and how a sink writes, flushes on barriers and acknowledges.

use std::sync::Arc;
use std::thread;

use anyhow::Context;
use tickstream_io::ndjson::{EventFileReader, FileSink, FileSourceConfig};
use tickstream_model::Event;
use tokio::sync::{mpsc, watch};

use crate::filter::FilterConfig;
use crate::registry::{OperatorSpec, SinkSpec, SourceSpec};
use crate::runtime::{FINAL_CHECKPOINT, InputMarkers, Message, Outputs, SourceControl};

/// Events per batch a source sends downstream.
const BATCH: usize = 1024;

/// A running source.
#[derive(Debug)]
pub enum SourceTask {
    File(FileSourceConfig),
}

impl SourceTask {
    pub fn build(_name: &str, spec: &SourceSpec) -> anyhow::Result<SourceTask> {
        match spec {
            SourceSpec::File(config) => Ok(SourceTask::File(config.clone())),
        }
    }

    /// Produces until the input ends or `shutdown` turns true, then sends `End`. Returns the events sent.
    pub async fn run(
        self,
        outputs: Outputs,
        mut control: mpsc::Receiver<SourceControl>,
        mut shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<u64> {
        let mut batches = match self {
            SourceTask::File(config) => read_files(config),
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

/// Reads the files on a thread of their own, in order, into batches. Lines that are not events are counted
/// and logged (the first ten, then every thousandth) and skipped.
fn read_files(config: FileSourceConfig) -> mpsc::Receiver<anyhow::Result<Vec<Event>>> {
    let (tx, rx) = mpsc::channel(4);
    thread::spawn(move || {
        let mut bad = 0u64;
        for path in &config.paths {
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
                    Ok(Ok(event))
                        if config.kinds.is_empty() || config.kinds.contains(&event.kind()) =>
                    {
                        batch.push(event)
                    }
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
#[derive(Debug)]
pub enum OperatorTask {
    Filter(FilterConfig),
}

impl OperatorTask {
    pub fn build(spec: &OperatorSpec) -> OperatorTask {
        match spec {
            OperatorSpec::Filter(config) => OperatorTask::Filter(config.clone()),
        }
    }

    fn process(&mut self, events: &[Event], out: &mut Vec<Event>) {
        match self {
            OperatorTask::Filter(filter) => {
                out.extend(events.iter().filter(|e| filter.matches(e)).cloned())
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
