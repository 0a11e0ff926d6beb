//! One operator instance per input partition, the unit of state: the events of a Kafka partition (and
//! everything an upstream operator emitted from them) go to that partition's instance, which is restored
//! from the partition's changelog record when the partition is assigned and dropped when it is revoked.
//! Each instance keeps its own watermark, so a partition that lags never makes another's events late,
//! and the output does not depend on which partitions a replica owns. Events from sources without
//! partitions (exchanges, files) go to one instance of their own.
//!
//! A node with several inputs receives a partition's restore once per input. Every message of a partition
//! belongs to the restore (or revoke) its own input passed on last, and only messages that belong to the
//! instance's current restore reach it: a stale batch still in flight on a slower input after a revoke
//! and a new restore is dropped, not applied to the new state.

use std::collections::HashMap;

use tickstream_io::TopicPartition;
use tickstream_io::kafka::RestoredPartition;
use tickstream_model::{Event, UnixNanos};
use tickstream_operators::{Filter, Indicators, Operator, Signals, StateJson, TimeBars};

use super::Batch;
use crate::Error;
use crate::pipeline::OperatorSpec;

struct Instance {
    operator: Box<dyn Operator>,
    /// The restore it was built by (0: built on the first event, without a restore).
    generation: u64,
}

/// A node's operator instances by input partition.
pub struct PartitionOperators {
    spec: OperatorSpec,
    node: String,
    stateful: bool,
    instances: HashMap<Option<TopicPartition>, Instance>,
    /// Per input and partition, the generation of the last restore or revoke that input passed on.
    passed: HashMap<(usize, TopicPartition), u64>,
    /// Per partition, the latest generation applied (and passed on downstream).
    applied: HashMap<TopicPartition, u64>,
    stale_batches: u64,
}

impl std::fmt::Debug for PartitionOperators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionOperators")
            .field("node", &self.node)
            .field("stateful", &self.stateful)
            .field("instances", &self.instances.len())
            .finish()
    }
}

fn build(spec: &OperatorSpec) -> Result<Box<dyn Operator>, Error> {
    Ok(match spec {
        OperatorSpec::Filter(config) => Box::new(Filter::new(config.clone())),
        OperatorSpec::TimeBars(config) => Box::new(TimeBars::new(config.clone())?),
        OperatorSpec::Indicators(config) => Box::new(Indicators::new(config.clone())?),
        OperatorSpec::Signal(config) => Box::new(Signals::new(config.clone())?),
    })
}

fn nanos(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

impl PartitionOperators {
    /// Checks the operator's configuration by building one instance.
    pub fn new(spec: &OperatorSpec, node: &str) -> Result<PartitionOperators, Error> {
        let stateful = build(spec)?.is_stateful();
        Ok(PartitionOperators {
            spec: spec.clone(),
            node: node.to_owned(),
            stateful,
            instances: HashMap::new(),
            passed: HashMap::new(),
            applied: HashMap::new(),
            stale_batches: 0,
        })
    }

    pub fn is_stateful(&self) -> bool {
        self.stateful
    }

    /// Feeds a batch from input `input` to its partition's instance, pushing what it emits to `out`.
    pub fn on_batch(
        &mut self,
        input: usize,
        batch: &Batch,
        out: &mut Vec<Event>,
    ) -> Result<(), Error> {
        let expected = match &batch.partition {
            Some(p) => self.passed.get(&(input, p.clone())).copied().unwrap_or(0),
            None => 0,
        };
        let instance = match self.instances.get_mut(&batch.partition) {
            Some(instance) if instance.generation == expected => instance,
            None if expected == 0 => {
                let instance = Instance {
                    operator: build(&self.spec)?,
                    generation: 0,
                };
                self.instances
                    .entry(batch.partition.clone())
                    .or_insert(instance)
            }
            _ => {
                self.stale_batches += 1;
                metrics::counter!("tickstream_stale_partition_batches_total", "node" => self.node.clone())
                    .increment(1);
                tracing::debug!(node = %self.node, partition = ?batch.partition, "a batch of a partition no longer held here is dropped");
                return Ok(());
            }
        };
        for event in batch.events.iter() {
            instance.operator.on_event(event, out);
        }
        Ok(())
    }

    /// A partition restored, as passed on by input `input`. Returns true when it is new here (the caller
    /// passes it on): the partition's instance is rebuilt from its state.
    pub fn on_restore(
        &mut self,
        input: usize,
        restored: &RestoredPartition,
    ) -> Result<bool, Error> {
        let partition = &restored.partition;
        self.passed
            .insert((input, partition.clone()), restored.generation);
        if self.applied.get(partition).copied().unwrap_or(0) >= restored.generation {
            return Ok(false);
        }
        self.applied.insert(partition.clone(), restored.generation);
        let mut operator = build(&self.spec)?;
        if let Some(state) = restored.operators.get(&self.node) {
            operator.restore_state(state).map_err(|e| {
                Error::from(e).within(format!(
                    "restoring {}[{}] from checkpoint {}",
                    partition.topic,
                    partition.partition,
                    restored.checkpoint.unwrap_or_default()
                ))
            })?;
        } else if self.stateful && restored.checkpoint.is_some() {
            tracing::warn!(node = %self.node, topic = %partition.topic, partition = partition.partition,
                "no state for this operator in the partition's checkpoint: it starts empty");
        }
        let instance = Instance {
            operator,
            generation: restored.generation,
        };
        self.instances.insert(Some(partition.clone()), instance);
        Ok(true)
    }

    /// A partition revoked, as passed on by input `input`. Returns true when it is new here (the caller
    /// passes it on): the partition's instance is dropped.
    pub fn on_revoke(&mut self, input: usize, partition: &TopicPartition, generation: u64) -> bool {
        self.passed.insert((input, partition.clone()), generation);
        if self.applied.get(partition).copied().unwrap_or(0) >= generation {
            return false;
        }
        self.applied.insert(partition.clone(), generation);
        self.instances.remove(&Some(partition.clone()));
        true
    }

    /// The idle `partitions` reach wall-clock time `now`: each instance's watermark becomes `now` minus its
    /// allowed lateness. Returns what each emitted.
    pub fn on_idle(
        &mut self,
        partitions: &[TopicPartition],
        now: UnixNanos,
    ) -> Vec<(TopicPartition, Vec<Event>)> {
        let mut emitted = Vec::new();
        for partition in partitions {
            let key = Some(partition.clone());
            let Some(instance) = self.instances.get_mut(&key) else {
                continue;
            };
            let lateness = nanos(instance.operator.allowed_lateness());
            let mut out = Vec::new();
            let watermark = UnixNanos(now.0.saturating_sub(lateness));
            instance.operator.on_watermark(watermark, &mut out);
            if !out.is_empty() {
                emitted.push((partition.clone(), out));
            }
        }
        emitted
    }

    /// The input is complete: every instance emits what is still open.
    pub fn finish(&mut self) -> Vec<(Option<TopicPartition>, Vec<Event>)> {
        let mut emitted = Vec::new();
        let mut keys: Vec<&Option<TopicPartition>> = self.instances.keys().collect();
        keys.sort();
        let keys: Vec<Option<TopicPartition>> = keys.into_iter().cloned().collect();
        for key in keys {
            if let Some(instance) = self.instances.get_mut(&key) {
                let mut out = Vec::new();
                instance.operator.finish(&mut out);
                if !out.is_empty() {
                    emitted.push((key, out));
                }
            }
        }
        emitted
    }

    /// The state of each partition's instance (events without a partition have no changelog).
    pub fn save_states(&self) -> Result<Vec<(TopicPartition, StateJson)>, Error> {
        let mut states = Vec::new();
        for (key, instance) in &self.instances {
            if let Some(partition) = key {
                states.push((partition.clone(), instance.operator.save_state()?));
            }
        }
        states.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(states)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::Duration;
    use tickstream_operators::TimeBarsConfig;

    fn partition(n: i32) -> TopicPartition {
        TopicPartition {
            topic: "t.trades.v1".into(),
            partition: n,
        }
    }

    fn trade(ts_secs: i64) -> Event {
        let mut event: Event =
            serde_json::from_str(include_str!("../../../../schemas/examples/trade.v1.json"))
                .unwrap();
        if let Event::Trade(t) = &mut event {
            t.ts_event = UnixNanos(ts_secs * 1_000_000_000);
            t.ts_recv = t.ts_event;
        }
        event
    }

    fn bars() -> PartitionOperators {
        let config = TimeBarsConfig {
            intervals: vec![tickstream_model::Interval::M1],
            allowed_lateness: Duration::from_secs(2),
            ..TimeBarsConfig::default()
        };
        PartitionOperators::new(&OperatorSpec::TimeBars(config), "bars").unwrap()
    }

    fn restored(n: i32, generation: u64) -> RestoredPartition {
        RestoredPartition {
            partition: partition(n),
            generation,
            checkpoint: None,
            next_offset: None,
            operators: BTreeMap::new(),
        }
    }

    const T0: i64 = 1_704_067_200;

    #[test]
    fn a_lagging_partition_keeps_its_own_watermark() {
        let mut ops = bars();
        let mut out = Vec::new();
        // Partition 0 runs ten minutes ahead of partition 1: partition 1's trades are not late.
        let ahead = Batch::of(Some(partition(0)), vec![trade(T0 + 5), trade(T0 + 600)]);
        ops.on_batch(0, &ahead, &mut out).unwrap();
        assert_eq!(out.len(), 1, "partition 0's first minute closed");
        out.clear();
        let behind = Batch::of(Some(partition(1)), vec![trade(T0 + 10), trade(T0 + 70)]);
        ops.on_batch(0, &behind, &mut out).unwrap();
        assert_eq!(
            out.len(),
            1,
            "partition 1's first minute closed on its own watermark"
        );
    }

    #[test]
    fn an_idle_partition_closes_its_bars_at_the_clock_minus_the_lateness() {
        let mut ops = bars();
        let mut out = Vec::new();
        ops.on_batch(
            0,
            &Batch::of(Some(partition(0)), vec![trade(T0 + 5)]),
            &mut out,
        )
        .unwrap();
        assert!(out.is_empty());
        let now = |s: i64| UnixNanos(s * 1_000_000_000);
        assert!(
            ops.on_idle(&[partition(0)], now(T0 + 61)).is_empty(),
            "61 s - 2 s < 60 s"
        );
        let closed = ops.on_idle(&[partition(0), partition(5)], now(T0 + 62));
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].0, partition(0));
    }

    #[test]
    fn batches_of_an_older_assignment_still_in_flight_are_dropped() {
        let mut ops = bars();
        let mut out = Vec::new();
        assert!(ops.on_restore(0, &restored(0, 1)).unwrap());
        // The same restore through a second input is not applied again.
        assert!(!ops.on_restore(1, &restored(0, 1)).unwrap());
        ops.on_batch(
            0,
            &Batch::of(Some(partition(0)), vec![trade(T0 + 5)]),
            &mut out,
        )
        .unwrap();
        // Revoked and restored again through input 0; input 1 still carries a batch of the old one.
        assert!(ops.on_revoke(0, &partition(0), 2));
        assert!(ops.on_restore(0, &restored(0, 3)).unwrap());
        ops.on_batch(
            1,
            &Batch::of(Some(partition(0)), vec![trade(T0 + 200)]),
            &mut out,
        )
        .unwrap();
        assert!(out.is_empty(), "the stale batch moved no watermark");
        assert_eq!(ops.stale_batches, 1);
        ops.on_batch(
            0,
            &Batch::of(Some(partition(0)), vec![trade(T0 + 6), trade(T0 + 90)]),
            &mut out,
        )
        .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(ops.save_states().unwrap().len(), 1);
    }
}
