//! The checkpoint coordinator: what each node reported for each checkpoint, and when a checkpoint is
//! complete: every sink has made it durable and, with operator state kept, every stateful operator has
//! handed over its partitions' states and every Kafka source its position. Then each input partition's
//! state record is written to its changelog, and only once the broker has acknowledged them may the
//! sources commit.

use std::collections::{BTreeMap, BTreeSet};

use tickstream_io::TopicPartition;
use tickstream_io::kafka::{ChangelogWriter, STATE_FORMAT, StateRecord};
use tickstream_model::UnixNanos;
use tickstream_operators::StateJson;

use super::SourcePosition;

/// What nodes tell the coordinator.
#[derive(Debug)]
pub enum Report {
    /// A sink has made everything before checkpoint `n` durable.
    Durable(u64),
    /// A stateful operator's state of each input partition at checkpoint `n` (its inputs all passed the
    /// barrier, or all ended).
    State {
        checkpoint: u64,
        node: String,
        states: Vec<(TopicPartition, StateJson)>,
    },
    /// A Kafka source's position at checkpoint `n`.
    Position {
        checkpoint: u64,
        node: String,
        offsets: Vec<SourcePosition>,
    },
}

/// A completed checkpoint: the runtime's checkpoint number, the state checkpoint id its commit names
/// (with state kept), and whether the sources may commit (not when the state could not be written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    pub checkpoint: u64,
    pub file: Option<u64>,
    pub commit: bool,
}

#[derive(Debug, Default)]
struct Pending {
    durable: usize,
    states: BTreeMap<String, Vec<(TopicPartition, StateJson)>>,
    offsets: BTreeMap<String, Vec<SourcePosition>>,
}

/// Collects reports per checkpoint.
#[derive(Debug)]
pub struct Coordinator {
    sinks: usize,
    /// With operator state kept: each Kafka source's changelog writer, and the stateful operators.
    writers: BTreeMap<String, ChangelogWriter>,
    stateful: BTreeSet<String>,
    pending: BTreeMap<u64, Pending>,
    /// The id of the last state checkpoint written: ids are unique across the replicas of a group.
    last_id: u64,
}

impl Coordinator {
    /// A coordinator for `sinks` sinks that only passes on durable checkpoints.
    pub fn new(sinks: usize) -> Coordinator {
        Coordinator {
            sinks,
            writers: BTreeMap::new(),
            stateful: BTreeSet::new(),
            pending: BTreeMap::new(),
            last_id: 0,
        }
    }

    /// Keeps operator state: checkpoints complete once the `stateful` operators and the Kafka sources
    /// with a changelog `writers` (by source node) have reported.
    pub fn with_state(
        mut self,
        writers: BTreeMap<String, ChangelogWriter>,
        stateful: BTreeSet<String>,
    ) -> Coordinator {
        self.writers = writers;
        self.stateful = stateful;
        self
    }

    /// True when checkpoints carry operator state.
    pub fn keeps_state(&self) -> bool {
        !self.writers.is_empty()
    }

    /// A new state checkpoint id: the wall clock in nanoseconds, so that ids of different replicas do not
    /// collide, and increasing within the run.
    fn next_id(&mut self) -> u64 {
        let now = u64::try_from(UnixNanos::now().0).unwrap_or_default();
        self.last_id = now.max(self.last_id.saturating_add(1));
        self.last_id
    }

    /// Takes one report; returns the checkpoint when it completes one. With state kept, the changelog
    /// records are written and acknowledged before this returns; a checkpoint whose records cannot be
    /// written must not be committed (logged; the next one covers it).
    pub async fn report(&mut self, report: Report) -> Option<Ready> {
        let n = match report {
            Report::Durable(n) => {
                self.pending.entry(n).or_default().durable += 1;
                n
            }
            Report::State {
                checkpoint,
                node,
                states,
            } => {
                self.pending
                    .entry(checkpoint)
                    .or_default()
                    .states
                    .insert(node, states);
                checkpoint
            }
            Report::Position {
                checkpoint,
                node,
                offsets,
            } => {
                self.pending
                    .entry(checkpoint)
                    .or_default()
                    .offsets
                    .insert(node, offsets);
                checkpoint
            }
        };
        let pending = &self.pending[&n];
        let complete = pending.durable == self.sinks
            && (!self.keeps_state()
                || (pending.states.len() == self.stateful.len()
                    && pending.offsets.len() == self.writers.len()));
        if !complete {
            return None;
        }
        let pending = self.pending.remove(&n).unwrap_or_default();
        // Barriers complete in order: anything older is abandoned (a source stopped before it).
        self.pending.retain(|&k, _| k > n);
        if !self.keeps_state() {
            return Some(Ready {
                checkpoint: n,
                file: None,
                commit: true,
            });
        }
        let id = self.next_id();
        let started = std::time::Instant::now();
        let mut written = 0;
        for (source, records) in state_records(id, pending) {
            let Some(writer) = self.writers.get(&source) else {
                continue;
            };
            if let Err(error) = writer.write(&records).await {
                tracing::error!(
                    checkpoint = n,
                    source,
                    "operator state not written to the changelog, so the offsets are not committed \
                     (the next checkpoint covers them): {error}"
                );
                return Some(Ready {
                    checkpoint: n,
                    file: None,
                    commit: false,
                });
            }
            written += records.len();
        }
        metrics::histogram!("tickstream_state_checkpoint_seconds")
            .record(started.elapsed().as_secs_f64());
        tracing::debug!(
            checkpoint = n,
            id,
            partitions = written,
            "operator state written"
        );
        Some(Ready {
            checkpoint: n,
            file: Some(id),
            commit: true,
        })
    }
}

/// One record per input partition a source reported a position on, by source node, holding every
/// stateful operator's state of that partition.
fn state_records(id: u64, mut pending: Pending) -> BTreeMap<String, Vec<StateRecord>> {
    let mut by_partition: BTreeMap<TopicPartition, BTreeMap<String, StateJson>> = BTreeMap::new();
    for (node, states) in std::mem::take(&mut pending.states) {
        for (partition, state) in states {
            by_partition
                .entry(partition)
                .or_default()
                .insert(node.clone(), state);
        }
    }
    let mut records: BTreeMap<String, Vec<StateRecord>> = BTreeMap::new();
    for (source, offsets) in pending.offsets {
        for SourcePosition { position, .. } in offsets {
            let partition = position.topic_partition();
            let operators = by_partition.remove(&partition).unwrap_or_default();
            records
                .entry(source.clone())
                .or_default()
                .push(StateRecord {
                    format: STATE_FORMAT.to_owned(),
                    topic: position.topic,
                    partition: position.partition,
                    checkpoint: id,
                    next_offset: position.next_offset,
                    operators,
                });
        }
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickstream_io::PartitionPosition;

    fn position(partition: i32, next: i64) -> SourcePosition {
        SourcePosition {
            source: "ticks".into(),
            position: PartitionPosition {
                topic: "t.trades.v1".into(),
                partition,
                next_offset: next,
            },
        }
    }

    fn state(text: &str) -> StateJson {
        serde_json::value::RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn each_partition_gets_one_record_with_every_operator_state_of_it() {
        let p = |n| TopicPartition {
            topic: "t.trades.v1".into(),
            partition: n,
        };
        let mut pending = Pending::default();
        pending
            .states
            .insert("bars".into(), vec![(p(0), state("0")), (p(1), state("1"))]);
        pending
            .states
            .insert("indicators".into(), vec![(p(1), state("[1]"))]);
        pending
            .offsets
            .insert("ticks".into(), vec![position(0, 40), position(1, 7)]);
        let records = state_records(99, pending);
        let records = &records["ticks"];
        assert_eq!(records.len(), 2);
        assert_eq!((records[0].partition, records[0].next_offset), (0, 40));
        assert_eq!(records[0].operators.keys().collect::<Vec<_>>(), ["bars"]);
        assert_eq!(records[1].operators["indicators"].get(), "[1]");
        assert!(
            records
                .iter()
                .all(|r| r.checkpoint == 99 && r.format == STATE_FORMAT)
        );
    }

    #[tokio::test]
    async fn without_state_a_checkpoint_completes_when_every_sink_is_durable() {
        let mut c = Coordinator::new(2);
        assert_eq!(c.report(Report::Durable(1)).await, None);
        assert_eq!(
            c.report(Report::Durable(1)).await,
            Some(Ready {
                checkpoint: 1,
                file: None,
                commit: true
            })
        );
    }

    #[test]
    fn state_checkpoint_ids_increase_within_a_run() {
        let mut c = Coordinator::new(1);
        let first = c.next_id();
        assert!(c.next_id() > first);
        assert!(first > 1_700_000_000_000_000_000, "wall-clock nanoseconds");
    }
}
