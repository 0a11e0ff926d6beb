//! The checkpoint coordinator's bookkeeping: what each node reported for each checkpoint, and when a
//! checkpoint is complete: every sink has made it durable and, with operator state kept, every stateful
//! operator has handed over its state and every Kafka source its position. Then the state file is written,
//! and only after that may the sources commit.

use std::collections::{BTreeMap, BTreeSet};

use tickstream_operators::StateJson;

use super::state_store::{Checkpoint, SourcePosition, StateStore};

/// What nodes tell the coordinator.
#[derive(Debug)]
pub enum Report {
    /// A sink has made everything before checkpoint `n` durable.
    Durable(u64),
    /// A stateful operator's state at checkpoint `n` (its inputs all passed the barrier, or all ended).
    State {
        checkpoint: u64,
        node: String,
        state: StateJson,
    },
    /// A Kafka source's position at checkpoint `n`.
    Position {
        checkpoint: u64,
        node: String,
        offsets: Vec<SourcePosition>,
    },
    /// A Kafka source committed the offsets that go with state file `file`.
    Committed { node: String, file: u64 },
}

/// A completed checkpoint: the runtime's checkpoint number, the state file that goes with it, and
/// whether the sources may commit (not when the state file could not be written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    pub checkpoint: u64,
    pub file: Option<u64>,
    pub commit: bool,
}

#[derive(Debug, Default)]
struct Pending {
    durable: usize,
    states: BTreeMap<String, StateJson>,
    offsets: BTreeMap<String, Vec<SourcePosition>>,
}

/// Collects reports per checkpoint.
#[derive(Debug)]
pub struct Coordinator {
    sinks: usize,
    /// With operator state kept: the store, the stateful operators and the Kafka sources.
    keeps_state: bool,
    store: Option<StateStore>,
    stateful: BTreeSet<String>,
    positioned: BTreeSet<String>,
    pending: BTreeMap<u64, Pending>,
    /// The state file each Kafka source last committed with; until every source has, the file
    /// restored at start.
    committed: BTreeMap<String, u64>,
    restored: Option<u64>,
}

impl Coordinator {
    /// A coordinator for `sinks` sinks that only passes on durable checkpoints.
    pub fn new(sinks: usize) -> Coordinator {
        Coordinator {
            sinks,
            keeps_state: false,
            store: None,
            stateful: BTreeSet::new(),
            positioned: BTreeSet::new(),
            pending: BTreeMap::new(),
            committed: BTreeMap::new(),
            restored: None,
        }
    }

    /// Keeps operator state in `store`: checkpoints complete once the `stateful` operators and the
    /// `positioned` Kafka sources have reported; `restored` is the file restored at start.
    pub fn with_state(
        mut self,
        store: StateStore,
        stateful: BTreeSet<String>,
        positioned: BTreeSet<String>,
        restored: Option<u64>,
    ) -> Coordinator {
        self.keeps_state = true;
        self.store = Some(store);
        self.stateful = stateful;
        self.positioned = positioned;
        self.restored = restored;
        self
    }

    /// True when checkpoints carry operator state.
    pub fn keeps_state(&self) -> bool {
        self.keeps_state
    }

    /// The file the committed offsets may still name, which must be kept.
    fn file_in_use(&self) -> Option<u64> {
        if !self.positioned.is_empty() && self.committed.len() == self.positioned.len() {
            self.committed.values().copied().min()
        } else {
            self.restored
        }
    }

    /// Takes one report; returns the checkpoint when it completes one. With state kept, the file is
    /// written before this returns; a checkpoint whose file cannot be written must not be committed
    /// (logged; the next one covers it).
    pub async fn report(&mut self, report: Report) -> Option<Ready> {
        let n = match report {
            Report::Durable(n) => {
                self.pending.entry(n).or_default().durable += 1;
                n
            }
            Report::State {
                checkpoint,
                node,
                state,
            } => {
                self.pending
                    .entry(checkpoint)
                    .or_default()
                    .states
                    .insert(node, state);
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
            Report::Committed { node, file } => {
                self.committed.insert(node, file);
                return None;
            }
        };
        let pending = &self.pending[&n];
        let complete = pending.durable == self.sinks
            && (!self.keeps_state
                || (pending.states.len() == self.stateful.len()
                    && pending.offsets.len() == self.positioned.len()));
        if !complete {
            return None;
        }
        let pending = self.pending.remove(&n).unwrap_or_default();
        // Barriers complete in order: anything older is abandoned (a source stopped before it).
        self.pending.retain(|&k, _| k > n);
        let keep = self.file_in_use();
        let Some(mut store) = self.store.take() else {
            return Some(Ready {
                checkpoint: n,
                file: None,
                commit: !self.keeps_state,
            });
        };
        let id = store.next_id();
        let offsets = pending.offsets.into_values().flatten().collect();
        let checkpoint = Checkpoint::new(id, offsets, pending.states);
        let dir = store.dir().display().to_string();
        let written = tokio::task::spawn_blocking(move || {
            let result = store.write(&checkpoint, keep);
            (store, result)
        })
        .await;
        let failure = match written {
            Ok((store, result)) => {
                self.store = Some(store);
                match result {
                    Ok(()) => {
                        tracing::debug!(checkpoint = n, file = id, "operator state written");
                        return Some(Ready {
                            checkpoint: n,
                            file: Some(id),
                            commit: true,
                        });
                    }
                    Err(e) => e.to_string(),
                }
            }
            // The store went with the failed writer: later checkpoints are not committed either, and
            // the run ends with the last commit standing.
            Err(e) => format!("the writer failed: {e}"),
        };
        tracing::error!(
            checkpoint = n,
            dir,
            "operator state not written, so the offsets are not committed (the next checkpoint covers \
             them): {failure}"
        );
        Some(Ready {
            checkpoint: n,
            file: None,
            commit: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataflow::FINAL_CHECKPOINT;
    use tickstream_io::PartitionPosition;

    fn offsets(next: i64) -> Vec<SourcePosition> {
        vec![SourcePosition {
            source: "ticks".into(),
            position: PartitionPosition {
                topic: "t.trades.v1".into(),
                partition: 0,
                next_offset: next,
            },
        }]
    }

    #[tokio::test]
    async fn a_checkpoint_completes_only_with_every_sink_state_and_position() {
        let dir =
            std::env::temp_dir().join(format!("tickstream-coordinator-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = StateStore::open(&dir).unwrap();
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect();
        let mut c = Coordinator::new(2).with_state(
            store,
            names(&["bars", "indicators"]),
            names(&["ticks"]),
            None,
        );
        let state = |node: &str| Report::State {
            checkpoint: 3,
            node: node.into(),
            state: serde_json::value::to_raw_value(&serde_json::json!({ "node": node })).unwrap(),
        };
        assert_eq!(c.report(Report::Durable(3)).await, None);
        assert_eq!(c.report(state("bars")).await, None);
        assert_eq!(
            c.report(Report::Position {
                checkpoint: 3,
                node: "ticks".into(),
                offsets: offsets(40)
            })
            .await,
            None
        );
        assert_eq!(c.report(Report::Durable(3)).await, None);
        assert_eq!(
            c.report(state("indicators")).await,
            Some(Ready {
                checkpoint: 3,
                file: Some(1),
                commit: true
            })
        );

        let written = StateStore::open(&dir).unwrap().load(1).unwrap();
        assert_eq!(written.offsets, offsets(40));
        assert_eq!(
            written.operators["indicators"].get(),
            r#"{"node":"indicators"}"#
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_checkpoint_whose_state_cannot_be_written_is_not_committed() {
        let dir = std::env::temp_dir().join(format!(
            "tickstream-coordinator-gone-{}",
            std::process::id()
        ));
        let store = StateStore::open(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect();
        let mut c = Coordinator::new(1).with_state(store, names(&["bars"]), names(&[]), None);
        let state = Report::State {
            checkpoint: FINAL_CHECKPOINT,
            node: "bars".into(),
            state: serde_json::value::to_raw_value(&serde_json::json!({})).unwrap(),
        };
        assert_eq!(c.report(state).await, None);
        assert_eq!(
            c.report(Report::Durable(FINAL_CHECKPOINT)).await,
            Some(Ready {
                checkpoint: FINAL_CHECKPOINT,
                file: None,
                commit: false
            })
        );
    }

    #[tokio::test]
    async fn without_state_a_checkpoint_completes_when_every_sink_is_durable() {
        let mut c = Coordinator::new(1);
        assert_eq!(
            c.report(Report::Durable(1)).await,
            Some(Ready {
                checkpoint: 1,
                file: None,
                commit: true
            })
        );
    }
}
