//! Helpers shared by the runner tests: a fast seeded simulator, a source config pointed at it, and
//! waiting for events and statuses.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::Duration;

use tickstream_connectors::Channel;
use tickstream_connectors::runner::{ExchangeSource, ExchangeSourceConfig};
use tickstream_model::{BookAction, Event, Exchange, FeedState, FeedStatus};
use tickstream_simulator::{Simulator, SimulatorConfig};
use tokio::sync::mpsc;

/// A running source's events one at a time, from the batches it sends (one per websocket frame or
/// status).
#[derive(Debug)]
pub struct Events {
    rx: mpsc::Receiver<Vec<Event>>,
    pending: VecDeque<Event>,
}

impl Events {
    pub fn new(rx: mpsc::Receiver<Vec<Event>>) -> Events {
        Events {
            rx,
            pending: VecDeque::new(),
        }
    }

    /// The next event; `None` once the source stopped and every batch was read. Cancel safe: a batch
    /// is taken whole from the channel or not at all.
    pub async fn recv(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            let batch = self.rx.recv().await?;
            self.pending.extend(batch);
        }
    }
}

pub async fn simulator() -> Simulator {
    let config = SimulatorConfig {
        tick: Duration::from_millis(20),
        seed: 7,
        ..SimulatorConfig::default()
    };
    Simulator::start(config).await.unwrap()
}

pub fn config(sim: &Simulator, exchange: Exchange, symbol: &str) -> ExchangeSourceConfig {
    let venue = exchange.as_str();
    let mut config = ExchangeSourceConfig::new(exchange, &[symbol]);
    config.channels = vec![Channel::Trades, Channel::Bbo, Channel::Book];
    config.url = Some(sim.ws_url(venue));
    config.rest_url = Some(sim.rest_url(venue));
    config
}

/// Events until one matches, within `within` (of tokio time).
pub async fn until(
    rx: &mut Events,
    within: Duration,
    what: &str,
    pred: impl Fn(&Event) -> bool,
) -> Vec<Event> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(event)) => {
                let hit = pred(&event);
                seen.push(event);
                if hit {
                    return seen;
                }
            }
            Ok(None) => panic!("the source stopped before {what}"),
            Err(_) => {
                let states: Vec<String> = seen.iter().filter_map(status_text).collect();
                let states = &states[states.len().saturating_sub(20)..];
                panic!("no {what} within {within:?}; statuses seen: {states:?}")
            }
        }
    }
}

pub fn status_text(event: &Event) -> Option<String> {
    match event {
        Event::Status(s) => Some(format!(
            "{:?}:{}:{}",
            s.state,
            s.reason.as_deref().unwrap_or(""),
            s.detail
        )),
        _ => None,
    }
}

pub fn is_state(event: &Event, state: FeedState) -> bool {
    matches!(event, Event::Status(s) if s.state == state)
}

/// Events until a status of `state`, within [`WAIT`]; the status is the last.
pub async fn until_state(rx: &mut Events, state: FeedState) -> Vec<Event> {
    until(rx, WAIT, &format!("{state:?}"), |e| is_state(e, state)).await
}

/// The status that ends `events` (as [`until`] and [`until_state`] return them).
pub fn last_status(events: &[Event]) -> &FeedStatus {
    match events.last() {
        Some(Event::Status(s)) => s,
        other => panic!("not a status: {other:?}"),
    }
}

pub fn is_synced_delta(event: &Event) -> bool {
    matches!(event, Event::Book(b) if b.action == BookAction::Delta && b.synced)
}

/// A simulator and a source on it serving one symbol's trades, BBO and book, once the book is synced;
/// with the events up to then (as [`synced`] returns them). The simulator stops when dropped.
pub async fn synced_source(exchange: Exchange, symbol: &str) -> (Simulator, Events, Vec<Event>) {
    let sim = simulator().await;
    let mut rx = start(config(&sim, exchange, symbol), 1024);
    let events = synced(&mut rx).await;
    (sim, rx, events)
}

/// Starts a source on a channel of `capacity` batches.
pub fn start(config: ExchangeSourceConfig, capacity: usize) -> Events {
    let (tx, rx) = mpsc::channel(capacity);
    tokio::spawn(ExchangeSource::new(config, tx).unwrap().run());
    Events::new(rx)
}

pub const WAIT: Duration = Duration::from_secs(10);

/// Waits for the first whole book and its deltas; asserts the sequence continuity of what was published.
pub async fn synced(rx: &mut Events) -> Vec<Event> {
    let mut events = until(
        rx,
        WAIT,
        "a synced book snapshot",
        |e| matches!(e, Event::Book(b) if b.action == BookAction::Snapshot),
    )
    .await;
    events.extend(until(rx, WAIT, "a synced delta", is_synced_delta).await);
    events
}
pub mod normalize_input;
pub mod sim_feed;
pub mod venue_frames;
