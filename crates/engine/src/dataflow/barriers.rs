//! Aligned checkpoint barriers for a node with several inputs: once barrier `n` has arrived from an
//! input, what that input sends next is held back until `n` has arrived from every input (or they have
//! ended). The node's state at the barrier then covers exactly the events before it on every input, which
//! is what a restored operator must have seen: an operator reading both a source and an operator fed by
//! that source (signals on ticks and bars) would otherwise count a few events after the barrier twice.
//! Partition messages (restore, revoke, idle) keep their place among their input's batches.
//!
//! Sinks need no alignment: a sink that flushes, at barrier `n`, a few events that came after `n` on an
//! input that delivered it early has still made everything before `n` durable. Holding such an input back
//! would stall the busiest input (the ticks) behind the slowest path (bars, then indicators) at every
//! checkpoint, so sinks use [`Aligner::unaligned`]: only later barriers wait.

use std::collections::{BTreeSet, VecDeque};

use super::{Batch, Message};

/// What the node does next.
#[derive(Debug)]
pub enum Step {
    /// A batch from input `0`.
    Batch(usize, Batch),
    /// A partition message (`Restore`, `Revoke` or `Idle`) from input `0`.
    Partition(usize, Message),
    /// Barrier `n` has arrived from every input still running: checkpoint, then pass it on.
    Barrier(u64),
    /// Every input has sent `Complete`: the input is complete.
    Complete,
    /// Every input has ended.
    End,
}

/// Orders one node's input messages for aligned barriers.
#[derive(Debug)]
pub struct Aligner {
    inputs: usize,
    /// Whether what an input sends after the barrier being aligned waits (operators) or only its later
    /// barriers do (sinks).
    holds_events: bool,
    /// The barrier being aligned and the inputs it has arrived from.
    aligning: Option<u64>,
    arrived: BTreeSet<usize>,
    ended: BTreeSet<usize>,
    complete: BTreeSet<usize>,
    /// Messages of inputs the aligning barrier has arrived from, in arrival order.
    held: VecDeque<(usize, Message)>,
    ready: VecDeque<(usize, Message)>,
}

impl Aligner {
    pub fn new(inputs: usize) -> Aligner {
        Aligner {
            inputs: inputs.max(1),
            holds_events: true,
            aligning: None,
            arrived: BTreeSet::new(),
            ended: BTreeSet::new(),
            complete: BTreeSet::new(),
            held: VecDeque::new(),
            ready: VecDeque::new(),
        }
    }

    /// For a sink: a barrier is passed on once it has arrived from every input, but what an input sends
    /// after it is not held back (only its later barriers are).
    pub fn unaligned(inputs: usize) -> Aligner {
        Aligner {
            holds_events: false,
            ..Aligner::new(inputs)
        }
    }

    /// A message from input `input` (its index in the node's `inputs`).
    pub fn push(&mut self, input: usize, message: Message) {
        self.ready.push_back((input, message));
    }

    /// The next step, or none until more messages arrive.
    pub fn next(&mut self) -> Option<Step> {
        while let Some((input, message)) = self.ready.pop_front() {
            let marker = matches!(
                message,
                Message::Barrier(_) | Message::Complete | Message::End
            );
            if self.aligning.is_some()
                && self.arrived.contains(&input)
                && (self.holds_events || marker)
            {
                self.held.push_back((input, message));
                continue;
            }
            match message {
                Message::Batch(batch) => return Some(Step::Batch(input, batch)),
                message @ (Message::Restore(_) | Message::Revoke(..) | Message::Idle(..)) => {
                    return Some(Step::Partition(input, message));
                }
                Message::Complete => {
                    self.complete.insert(input);
                    if self.complete.len() == self.inputs {
                        return Some(Step::Complete);
                    }
                }
                Message::Barrier(n) => match self.aligning {
                    None => {
                        self.aligning = Some(n);
                        self.arrived.insert(input);
                    }
                    Some(current) if n == current => {
                        self.arrived.insert(input);
                    }
                    // This input will never send the barrier being aligned: it counts as arrived, and
                    // its later barrier waits for the next alignment.
                    Some(current) if n > current => {
                        self.arrived.insert(input);
                        self.held.push_back((input, Message::Barrier(n)));
                    }
                    // A barrier older than the one being aligned was abandoned.
                    Some(_) => {}
                },
                Message::End => {
                    self.ended.insert(input);
                    if self.ended.len() == self.inputs {
                        return Some(Step::End);
                    }
                }
            }
            if let Some(n) = self.aligning
                && self.arrived.union(&self.ended).count() == self.inputs
            {
                self.aligning = None;
                self.arrived.clear();
                let mut released = std::mem::take(&mut self.held);
                released.append(&mut self.ready);
                self.ready = released;
                return Some(Step::Barrier(n));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickstream_model::Event;

    fn batch(tag: i64) -> Message {
        let mut event: Event =
            serde_json::from_str(include_str!("../../../../schemas/examples/trade.v1.json"))
                .unwrap();
        if let Event::Trade(t) = &mut event {
            t.ts_event.0 = tag;
        }
        Message::Batch(Batch::new(vec![event]))
    }

    fn drain(a: &mut Aligner) -> Vec<String> {
        let mut steps = Vec::new();
        while let Some(step) = a.next() {
            steps.push(match step {
                Step::Batch(_, b) => match &b.events[0] {
                    Event::Trade(t) => format!("b{}", t.ts_event.0),
                    _ => unreachable!(),
                },
                Step::Barrier(n) => format!("|{n}"),
                Step::Partition(input, _) => format!("p{input}"),
                Step::Complete => "complete".into(),
                Step::End => "end".into(),
            });
        }
        steps
    }

    #[test]
    fn events_after_a_barrier_wait_until_it_arrived_from_every_input() {
        let mut a = Aligner::new(2);
        a.push(0, batch(1));
        a.push(0, Message::Barrier(1));
        a.push(0, batch(2));
        a.push(1, batch(10));
        assert_eq!(drain(&mut a), ["b1", "b10"]);
        a.push(1, batch(11));
        a.push(1, Message::Barrier(1));
        a.push(1, batch(12));
        a.push(0, Message::Barrier(2));
        a.push(0, Message::End);
        assert_eq!(drain(&mut a), ["b11", "|1", "b2", "b12"]);
        a.push(1, Message::Barrier(2));
        a.push(1, Message::End);
        assert_eq!(drain(&mut a), ["|2", "end"]);
    }

    #[test]
    fn an_ended_input_does_not_hold_a_barrier_back() {
        let mut a = Aligner::new(2);
        a.push(1, Message::End);
        a.push(0, batch(1));
        a.push(0, Message::Barrier(4));
        a.push(0, batch(2));
        a.push(0, Message::End);
        assert_eq!(drain(&mut a), ["b1", "|4", "b2", "end"]);
    }

    #[test]
    fn an_input_that_skipped_a_barrier_counts_as_arrived() {
        let mut a = Aligner::new(2);
        a.push(0, Message::Barrier(1));
        a.push(1, Message::Barrier(2));
        a.push(0, Message::Barrier(2));
        assert_eq!(drain(&mut a), ["|1", "|2"]);
        let mut single = Aligner::new(1);
        single.push(0, Message::Barrier(3));
        single.push(0, batch(1));
        assert_eq!(drain(&mut single), ["|3", "b1"]);
    }

    #[test]
    fn the_input_is_complete_once_every_input_says_so_and_partition_messages_keep_their_place() {
        let partition = tickstream_io::TopicPartition {
            topic: "t.trades.v1".into(),
            partition: 0,
        };
        let idle = || {
            Message::Idle(
                vec![partition.clone()].into(),
                tickstream_model::UnixNanos(1),
            )
        };
        let mut a = Aligner::new(2);
        a.push(0, batch(1));
        a.push(0, Message::Barrier(1));
        a.push(0, idle());
        a.push(0, Message::Complete);
        a.push(1, idle());
        assert_eq!(drain(&mut a), ["b1", "p1"]);
        a.push(1, Message::Barrier(1));
        a.push(1, Message::Complete);
        a.push(0, Message::End);
        a.push(1, Message::End);
        assert_eq!(drain(&mut a), ["|1", "p0", "complete", "end"]);
    }

    #[test]
    fn a_sink_takes_events_after_a_barrier_but_holds_the_next_barrier() {
        let mut a = Aligner::unaligned(2);
        a.push(0, batch(1));
        a.push(0, Message::Barrier(1));
        a.push(0, batch(2));
        a.push(0, Message::Barrier(2));
        a.push(0, batch(3));
        a.push(1, batch(10));
        assert_eq!(drain(&mut a), ["b1", "b2", "b3", "b10"]);
        a.push(1, Message::Barrier(1));
        a.push(1, Message::Barrier(2));
        a.push(0, Message::End);
        a.push(1, Message::End);
        assert_eq!(drain(&mut a), ["|1", "|2", "end"]);
    }
}
