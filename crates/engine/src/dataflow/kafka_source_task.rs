//! The Kafka source node: reads its topics in a consumer group, sends events downstream with their offsets,
//! remembers the position at each checkpoint barrier and commits it once every sink has made the barrier
//! durable (flush, then commit). At the end it commits the final position after the sinks' last flush.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tickstream_io::RecordPosition;
use tickstream_io::kafka::{Consumed, KafkaSource, OffsetMap};
use tickstream_model::Event;
use tokio::sync::{mpsc, watch};

use super::{BATCH, Batch, FINAL_CHECKPOINT, Message, Outputs, SourceControl, stop_requested};
use crate::Error;
use crate::checkpoint::{Report, SourcePosition};

/// How long the source waits, after its end, for the sinks' final flush before it stops without
/// committing (what it read since the last commit is then read again on the next start).
const FINAL_COMMIT_WAIT: Duration = Duration::from_secs(60);

/// Events read but not yet sent, with their offsets.
#[derive(Default)]
struct Pending {
    events: Vec<Event>,
    positions: Vec<RecordPosition>,
}

impl Pending {
    fn push(&mut self, consumed: Consumed) {
        self.events.push(consumed.event);
        self.positions.push(consumed.position);
    }

    async fn send(self, outputs: &Outputs, progress: &AtomicU64) -> Result<(), Error> {
        progress.fetch_add(self.events.len() as u64, Ordering::Relaxed);
        let batch = Batch {
            events: self.events.into(),
            positions: Some(self.positions.into()),
        };
        outputs.send(Message::Batch(batch)).await
    }
}

/// Where a Kafka source reports its position at each checkpoint and its commits: the source node's name
/// and the coordinator's inbox.
#[derive(Debug, Clone)]
pub struct Reports {
    pub node: String,
    pub to: mpsc::Sender<Report>,
}

impl Reports {
    async fn position(&self, checkpoint: u64, offsets: &OffsetMap) {
        let offsets = offsets
            .iter()
            .map(|position| SourcePosition {
                source: self.node.clone(),
                position,
            })
            .collect();
        let report = Report::Position {
            checkpoint,
            node: self.node.clone(),
            offsets,
        };
        // The coordinator stops listening only when the run is over.
        let _ = self.to.send(report).await;
    }
}

/// Runs the source until `shutdown`; returns the events sent.
pub async fn run(
    mut source: KafkaSource,
    outputs: Outputs,
    mut control: mpsc::Receiver<SourceControl>,
    shutdown: watch::Receiver<bool>,
    progress: Arc<AtomicU64>,
    reports: Reports,
) -> Result<u64, Error> {
    let mut positions: BTreeMap<u64, OffsetMap> = BTreeMap::new();
    let mut sent = 0u64;
    let stopped = stop_requested(shutdown);
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            biased;
            _ = &mut stopped => break,
            Some(request) = control.recv() => match request {
                SourceControl::Inject(n) => {
                    // Everything handed out has been sent, so the position taken now covers exactly
                    // what precedes the barrier downstream.
                    let position = source.position();
                    reports.position(n, &position).await;
                    positions.insert(n, position);
                    outputs.send(Message::Barrier(n)).await?;
                }
                SourceControl::Commit(n, file) => {
                    commit(&mut source, &mut positions, n, file, &reports).await?
                }
                SourceControl::Abandon(n) => {
                    positions.remove(&n);
                }
            },
            consumed = source.recv() => {
                // What has been fetched already goes with it, without waiting for more.
                let mut pending = Pending::default();
                pending.push(consumed?);
                while pending.events.len() < BATCH {
                    match source.try_recv() {
                        Some(consumed) => pending.push(consumed?),
                        None => break,
                    }
                }
                sent += pending.events.len() as u64;
                pending.send(&outputs, &progress).await?;
            }
        }
    }
    let position = source.position();
    reports.position(FINAL_CHECKPOINT, &position).await;
    positions.insert(FINAL_CHECKPOINT, position);
    outputs.send(Message::End).await?;
    let wait = tokio::time::sleep(FINAL_COMMIT_WAIT);
    tokio::pin!(wait);
    loop {
        tokio::select! {
            request = control.recv() => match request {
                Some(SourceControl::Commit(n, file)) => {
                    commit(&mut source, &mut positions, n, file, &reports).await?;
                    if n == FINAL_CHECKPOINT {
                        break;
                    }
                }
                Some(SourceControl::Abandon(n)) if n == FINAL_CHECKPOINT => {
                    tracing::warn!("the final position is not committed: the operator state that goes with it was not written");
                    break;
                }
                Some(SourceControl::Inject(_) | SourceControl::Abandon(_)) => {}
                None => break,
            },
            _ = &mut wait => {
                tracing::warn!("the sinks did not finish their last flush in time; the final position is not committed");
                break;
            }
        }
    }
    Ok(sent)
}

/// Commits the position remembered at checkpoint `n`, naming state file `file` in the commit metadata,
/// and forgets it and every older one.
async fn commit(
    source: &mut KafkaSource,
    positions: &mut BTreeMap<u64, OffsetMap>,
    n: u64,
    file: Option<u64>,
    reports: &Reports,
) -> Result<(), Error> {
    if let Some(offsets) = positions.remove(&n) {
        match source.commit(&offsets, file).await {
            Ok(()) => {
                tracing::debug!(
                    checkpoint = n,
                    file,
                    "committed the position at the checkpoint"
                );
                if let Some(file) = file {
                    let report = Report::Committed {
                        node: reports.node.clone(),
                        file,
                    };
                    // Losing this report only keeps an older state file longer.
                    let _ = reports.to.try_send(report);
                }
            }
            // A rebalance or a broker away: the confirmed offsets go in with the next commit.
            Err(e) if e.is_retryable() => {
                tracing::warn!(
                    checkpoint = n,
                    "kafka commit failed, retried at the next checkpoint: {e}"
                )
            }
            Err(e) => return Err(e.into()),
        }
    }
    positions.retain(|&k, _| k > n);
    Ok(())
}
