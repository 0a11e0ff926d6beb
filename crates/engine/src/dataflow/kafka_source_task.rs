//! The Kafka source node: reads its topics in a consumer group, sends events downstream in batches of one
//! partition with their offsets, remembers the position at each checkpoint barrier and commits it once
//! every sink has made the barrier durable (flush, then commit). At the end it commits the final position
//! after the sinks' last flush. Partitions restored or revoked by a rebalance are announced downstream
//! before anything else of theirs, and idle partitions are announced every tick while they stay idle.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tickstream_io::kafka::{Consumed, KafkaSource, OffsetMap};
use tickstream_io::{RecordPosition, TopicPartition};
use tickstream_model::{Event, UnixNanos};
use tokio::sync::{mpsc, watch};

use super::{BATCH, Batch, FINAL_CHECKPOINT, Message, Outputs, SourceControl, stop_requested};
use crate::Error;
use crate::checkpoint::{Report, SourcePosition};

/// How long the source waits, after its end, for the sinks' final flush before it stops without
/// committing (what it read since the last commit is then read again on the next start).
const FINAL_COMMIT_WAIT: Duration = Duration::from_secs(60);

/// Events of one partition read but not yet sent, with their offsets.
struct Pending {
    partition: TopicPartition,
    events: Vec<Event>,
    positions: Vec<RecordPosition>,
}

/// Events read but not yet sent, by partition in the order the partitions came.
#[derive(Default)]
struct PendingBatches {
    partitions: Vec<Pending>,
    events: usize,
}

impl PendingBatches {
    fn push(&mut self, consumed: Consumed) {
        let position = consumed.position;
        self.events += 1;
        let found = self.partitions.iter_mut().rev().find(|p| {
            p.partition.partition == position.partition && p.partition.topic == position.topic
        });
        let pending = match found {
            Some(pending) => pending,
            None => {
                self.partitions.push(Pending {
                    partition: position.topic_partition(),
                    events: Vec::new(),
                    positions: Vec::new(),
                });
                let last = self.partitions.len() - 1;
                &mut self.partitions[last]
            }
        };
        pending.events.push(consumed.event);
        pending.positions.push(position);
    }

    async fn send(self, outputs: &Outputs, progress: &AtomicU64) -> Result<(), Error> {
        progress.fetch_add(self.events as u64, Ordering::Relaxed);
        for pending in self.partitions {
            let batch = Batch {
                events: pending.events.into(),
                positions: Some(pending.positions.into()),
                partition: Some(pending.partition),
            };
            outputs.send(Message::Batch(batch)).await?;
        }
        Ok(())
    }
}

/// Passes on the partitions restored and revoked since the last call, in the order they happened.
async fn announce_assignment(source: &mut KafkaSource, outputs: &Outputs) -> Result<(), Error> {
    let restored = source.take_restored()?;
    let revoked = source.take_revoked();
    if restored.is_empty() && revoked.is_empty() {
        return Ok(());
    }
    let mut messages: Vec<(u64, Message)> = revoked
        .into_iter()
        .map(|(partition, generation)| (generation, Message::Revoke(partition, generation)))
        .chain(
            restored
                .into_iter()
                .map(|r| (r.generation, Message::Restore(Arc::new(r)))),
        )
        .collect();
    messages.sort_by_key(|(generation, _)| *generation);
    for (_, message) in messages {
        outputs.send(message).await?;
    }
    Ok(())
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
    let mut idle_ticks =
        tokio::time::interval((source.idle_timeout() / 2).min(Duration::from_secs(1)));
    idle_ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = &mut stopped => break,
            _ = idle_ticks.tick() => {
                announce_assignment(&mut source, &outputs).await?;
                let idle = source.idle_partitions();
                if !idle.is_empty() {
                    outputs.send(Message::Idle(idle.into(), UnixNanos::now())).await?;
                }
            }
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
                    commit(&mut source, &mut positions, n, file).await?
                }
                SourceControl::Abandon(n) => {
                    positions.remove(&n);
                }
            },
            consumed = source.recv() => {
                // What has been fetched already goes with it, without waiting for more.
                let mut pending = PendingBatches::default();
                pending.push(consumed?);
                while pending.events < BATCH {
                    match source.try_recv() {
                        Some(consumed) => pending.push(consumed?),
                        None => break,
                    }
                }
                // A partition's restore goes before its first events.
                announce_assignment(&mut source, &outputs).await?;
                sent += pending.events as u64;
                pending.send(&outputs, &progress).await?;
            }
        }
    }
    source.stop_reading();
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
                    commit(&mut source, &mut positions, n, file).await?;
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

/// Commits the position remembered at checkpoint `n`, naming state checkpoint `file` in the commit metadata,
/// and forgets it and every older one.
async fn commit(
    source: &mut KafkaSource,
    positions: &mut BTreeMap<u64, OffsetMap>,
    n: u64,
    file: Option<u64>,
) -> Result<(), Error> {
    if let Some(offsets) = positions.remove(&n) {
        match source.commit(&offsets, file).await {
            Ok(()) => {
                tracing::debug!(
                    checkpoint = n,
                    file,
                    "committed the position at the checkpoint"
                );
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
