//! The task behind each source node: how it produces batches, answers checkpoint requests and stops.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use tickstream_connectors::runner::{ExchangeSource, ExchangeSourceConfig};
use tickstream_io::kafka::{ChangelogWriter, CommittedOffset, KafkaSource, OnMismatch};
use tickstream_io::ndjson::EventFileReader;
use tickstream_model::Event;
use tickstream_operators::FilterConfig;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::kafka_source_task;
use super::{BATCH, Batch, Message, Outputs, SourceControl, stop_requested};
use crate::Error;
use crate::pipeline::SourceSpec;

/// How long a Kafka source may take at start to join its group and get partitions; a member the group
/// still gives none by then (more members than partitions) starts idle.
const ASSIGNMENT_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// A running source.
#[derive(Debug)]
pub enum SourceTask {
    /// Topics of a Kafka cluster, read in a consumer group (connected and subscribed).
    Kafka(Box<KafkaSource>),
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
    pub async fn build(spec: &SourceSpec, replay: Option<&[PathBuf]>) -> Result<SourceTask, Error> {
        if let Some(paths) = replay {
            return Ok(SourceTask::Files {
                paths: paths.to_vec(),
                filter: spec.replay_filter(),
            });
        }
        match spec {
            SourceSpec::Exchange(config) => Ok(SourceTask::Exchange(Box::new(config.clone()))),
            SourceSpec::Kafka(config) => {
                Ok(SourceTask::Kafka(Box::new(KafkaSource::new(config).await?)))
            }
            SourceSpec::File(config) => Ok(SourceTask::Files {
                paths: config.paths.clone(),
                filter: FilterConfig {
                    kinds: config.kinds.clone(),
                    ..FilterConfig::default()
                },
            }),
        }
    }

    /// For a Kafka source: joins the group, waits for the first assignment and returns the committed
    /// offsets there (with the checkpoint each commit named). Other sources have none.
    pub async fn committed_offsets(&mut self) -> Result<Vec<CommittedOffset>, Error> {
        match self {
            SourceTask::Kafka(source) => Ok(source.wait_for_assignment(ASSIGNMENT_WAIT).await?),
            _ => Ok(Vec::new()),
        }
    }

    /// For a Kafka source: keeps operator state in its group's changelog (see
    /// `KafkaSource::keep_state`) and returns the writer for the checkpoints. Other sources have none.
    pub async fn keep_state(
        &mut self,
        on_mismatch: OnMismatch,
    ) -> Result<Option<ChangelogWriter>, Error> {
        match self {
            SourceTask::Kafka(source) => Ok(Some(source.keep_state(on_mismatch).await?)),
            _ => Ok(None),
        }
    }

    /// Produces until the input ends or `shutdown` turns true, then sends `End`. Returns the events sent.
    pub async fn run(
        self,
        outputs: Outputs,
        mut control: mpsc::Receiver<SourceControl>,
        shutdown: watch::Receiver<bool>,
        progress: Arc<AtomicU64>,
        reports: kafka_source_task::Reports,
    ) -> Result<u64, Error> {
        let mut batches = match self {
            SourceTask::Kafka(source) => {
                return kafka_source_task::run(
                    *source, outputs, control, shutdown, progress, reports,
                )
                .await;
            }
            SourceTask::Exchange(config) => exchange_feed(*config).await?,
            SourceTask::Files { paths, filter } => Batches::Files(read_files(paths, filter)),
        };
        let mut sent = 0u64;
        let mut complete = false;
        let stopped = stop_requested(shutdown);
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                biased;
                _ = &mut stopped => break,
                Some(request) = control.recv() => match request {
                    SourceControl::Inject(n) => outputs.send(Message::Barrier(n)).await?,
                    // Files have no position to commit: a replay starts from the beginning.
                    SourceControl::Abandon(_) => {}
                    SourceControl::Commit(n, _) => tracing::trace!(checkpoint = n, "checkpoint durable"),
                },
                batch = batches.recv() => match batch {
                    Some(Ok(events)) => {
                        sent += events.len() as u64;
                        progress.fetch_add(events.len() as u64, Ordering::Relaxed);
                        outputs.send(Message::Batch(Batch::new(events))).await?;
                    }
                    Some(Err(e)) => return Err(e),
                    None => {
                        // Files end; a venue feed only stops.
                        complete = matches!(batches, Batches::Files(_));
                        break;
                    }
                },
            }
        }
        if complete {
            outputs.send(Message::Complete).await?;
        }
        outputs.send(Message::End).await?;
        Ok(sent)
    }
}

/// Where a source's batches come from.
enum Batches {
    /// A venue runner's batches (one per websocket frame or status) and the runner itself, whose error
    /// ends the feed.
    Exchange {
        events: mpsc::Receiver<Vec<Event>>,
        runner: Option<JoinHandle<Result<(), tickstream_connectors::Error>>>,
    },
    /// Batches read from files on a thread of their own.
    Files(mpsc::Receiver<Result<Vec<Event>, Error>>),
}

impl Batches {
    /// The next batch: from a venue, its runner's next batch with whatever batches are already waiting,
    /// up to a batch, without waiting for more; after the last, the runner's error if it failed. Cancel
    /// safe.
    async fn recv(&mut self) -> Option<Result<Vec<Event>, Error>> {
        match self {
            Batches::Files(rx) => rx.recv().await,
            Batches::Exchange { events, runner } => {
                if let Some(mut batch) = events.recv().await {
                    while batch.len() < BATCH {
                        match events.try_recv() {
                            Ok(more) => batch.extend(more),
                            Err(_) => break,
                        }
                    }
                    return Some(Ok(batch));
                }
                let result = runner.as_mut()?.await;
                *runner = None;
                match result {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(Err(e.into())),
                    Err(e) => {
                        tracing::error!("the exchange runner failed: {e}");
                        None
                    }
                }
            }
        }
    }
}

/// Loads the venue's instrument metadata and starts its runner, which sends a batch per websocket frame.
/// Dropping the batches stops the runner.
async fn exchange_feed(config: ExchangeSourceConfig) -> Result<Batches, Error> {
    // Bounded in frames: each is a few events, a book snapshot at most a few thousand. A shard sends the
    // frames of what it has read one after another without yielding, and the source task they wake runs
    // after it: the room has to hold such a burst, or the shard waits for room on most of them, and the
    // feed behind it (the simulator's steps, in the benchmark) waits too. Room for a batch of frames was
    // too little for that; four hold about as many events as the connectors' channel and the batching
    // task held when the connectors sent single events.
    let (event_tx, events) = mpsc::channel(BATCH * 4);
    let exchange = config.exchange;
    let (source, catalog) = ExchangeSource::with_instruments(config, event_tx).await?;
    tracing::info!(%exchange, origin = ?catalog.origin, instruments = catalog.instruments.len(), "instrument metadata");
    Ok(Batches::Exchange {
        events,
        runner: Some(tokio::spawn(source.run())),
    })
}

/// Reads the files on a thread of their own, in order, into batches. Lines that are not events are counted
/// and logged (the first ten, then every thousandth) and skipped.
fn read_files(
    paths: Vec<PathBuf>,
    filter: FilterConfig,
) -> mpsc::Receiver<Result<Vec<Event>, Error>> {
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
