//! The edges of the graph: what flows along them (batches of events, checkpoint barriers, the input
//! partitions' assignment and idleness, the end), and the bounded channels that carry them, bounded by
//! batches and by events.

use std::sync::Arc;

use tickstream_io::kafka::RestoredPartition;
use tickstream_io::{RecordPosition, TopicPartition};
use tickstream_model::{Event, EventKind, UnixNanos};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::Error;

/// What flows along an edge of the graph.
#[derive(Debug, Clone)]
pub enum Message {
    /// Events in order; shared by every downstream node.
    Batch(Batch),
    /// Checkpoint `n`: everything before it must be durable at the sinks before sources commit `n`.
    Barrier(u64),
    /// An input partition assigned to this run, with the state its operators continue from; sent before
    /// any of its events.
    Restore(Arc<RestoredPartition>),
    /// An input partition revoked from this run, with the generation that revoked it (see
    /// [`RestoredPartition::generation`]).
    Revoke(TopicPartition, u64),
    /// These input partitions are idle at wall-clock time `now`: their watermark follows the clock.
    Idle(Arc<[TopicPartition]>, UnixNanos),
    /// The input is complete (a replay or a bounded input has reached its end): operators emit what is
    /// still open. A live run that stops sends only `End`.
    Complete,
    /// The upstream node has no more events.
    End,
}

/// Events in order, with where each came from when the source is a log with offsets (Kafka).
#[derive(Debug, Clone)]
pub struct Batch {
    pub events: Arc<[Event]>,
    /// `positions[i]` is where `events[i]` was read; only sources with offsets set it, and operators do not
    /// pass it on (what they emit is new data).
    pub positions: Option<Arc<[RecordPosition]>>,
    /// The input partition every event of the batch comes from (Kafka sources), passed on by operators
    /// with what they emit from it: operator state is kept per input partition.
    pub partition: Option<TopicPartition>,
}

impl Batch {
    pub fn new(events: Vec<Event>) -> Batch {
        Batch {
            events: events.into(),
            positions: None,
            partition: None,
        }
    }

    /// Events emitted from the input `partition`.
    pub fn of(partition: Option<TopicPartition>, events: Vec<Event>) -> Batch {
        Batch {
            events: events.into(),
            positions: None,
            partition,
        }
    }
}

/// Events per batch a source sends downstream.
pub const BATCH: usize = 1024;

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
pub(super) struct Edge {
    tx: mpsc::Sender<Carried>,
    /// One permit per event of room.
    room: Arc<Semaphore>,
    events: usize,
}

/// A node's inbound channel: the sender every input clones, and the receiver.
pub(super) fn edge(batches: usize, events: usize) -> (Edge, Inbound) {
    let (tx, rx) = mpsc::channel(batches.max(1));
    let events = events.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
    let room = Arc::new(Semaphore::new(events));
    (Edge { tx, room, events }, Inbound { rx })
}

/// Where a node sends what it emits (each downstream node's channel and this node's index among its
/// inputs); counts what it emits by kind (`tickstream_node_events_total`).
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    pub(super) node: Arc<str>,
    pub(super) senders: Vec<(Edge, usize)>,
}

impl Outputs {
    /// Sends to every downstream node, waiting for room (backpressure). Fails when a downstream task has
    /// stopped, which only happens when the run is failing.
    pub async fn send(&self, message: Message) -> Result<(), Error> {
        let stopped = || Error::Stopped("a downstream task");
        let events = match &message {
            Message::Batch(batch) => {
                count_events(&self.node, &batch.events);
                batch.events.len()
            }
            _ => 0,
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

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt as _;

    fn batch(events: usize) -> Message {
        let event: Event =
            serde_json::from_str(include_str!("../../../../schemas/examples/trade.v1.json"))
                .unwrap();
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
}
