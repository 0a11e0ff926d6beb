//! Connection rotation: before a connection reaches its venue's age limit, a successor connection is
//! opened and subscribed beside it. The successor's events are held back while the old connection keeps
//! publishing; once the successor delivers data, has its books whole and has caught up with the trades
//! the old one published, it takes over. Trades seen on both are published once (by trade id per
//! symbol); the books continue from the successor's snapshot.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::{SplitSink, SplitStream};
use tickstream_model::{BookAction, Event, Symbol};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::shard::WsStream;
use crate::{Channel, Subscription, Venue};

/// The longest a successor waits to catch up before it takes over anyway.
pub(super) const HANDOVER_LIMIT: Duration = Duration::from_secs(30);

/// When to open the successor: a tenth of the age (at most ten minutes) before the limit.
pub(super) fn rotate_after(age: Duration) -> Duration {
    age - (age / 10).min(Duration::from_secs(600))
}

/// The successor connection while it overlaps the current one.
pub(super) struct Successor {
    pub(super) connection_id: u64,
    pub(super) sink: SplitSink<WsStream, Message>,
    pub(super) stream: SplitStream<WsStream>,
    pub(super) venue: Box<dyn Venue>,
    /// What the successor produced so far, not yet published.
    pub(super) pending: Vec<Event>,
    /// Trade ids the current connection published since the successor opened, per symbol.
    published: HashMap<Symbol, HashSet<String>>,
    /// Symbols whose books must be whole on the successor before it takes over.
    books: HashSet<Symbol>,
    deadline: Instant,
}

impl Successor {
    pub(super) fn new(
        connection_id: u64,
        ws: WsStream,
        venue: Box<dyn Venue>,
        subs: &[Subscription],
    ) -> Successor {
        use futures_util::StreamExt;
        let (sink, stream) = ws.split();
        Successor {
            connection_id,
            sink,
            stream,
            venue,
            pending: Vec::new(),
            published: HashMap::new(),
            books: subs
                .iter()
                .filter(|s| s.channel == Channel::Book)
                .map(|s| s.symbol.clone())
                .collect(),
            deadline: Instant::now() + HANDOVER_LIMIT,
        }
    }

    /// Notes an event the current connection published.
    pub(super) fn published(&mut self, event: &Event) {
        if let Event::Trade(t) = event {
            self.published
                .entry(t.symbol.clone())
                .or_default()
                .insert(t.trade_id.clone());
        }
    }

    /// True when the successor can take over without a gap: it delivered data, its books are whole,
    /// and for each symbol it traded, its first trade was already published by the current connection;
    /// or when it has waited long enough.
    pub(super) fn ready(&self, at: Instant) -> bool {
        if at >= self.deadline {
            return true;
        }
        let data = self
            .pending
            .iter()
            .any(|e| matches!(e, Event::Trade(_) | Event::Quote(_) | Event::Book(_)));
        let books_whole = self.books.iter().all(|symbol| {
            self.pending.iter().any(|e| {
                matches!(e, Event::Book(b) if b.action == BookAction::Snapshot && b.synced && &b.symbol == symbol)
            })
        });
        let mut first_trades: HashMap<&Symbol, &str> = HashMap::new();
        for event in &self.pending {
            if let Event::Trade(t) = event {
                first_trades.entry(&t.symbol).or_insert(&t.trade_id);
            }
        }
        let caught_up = first_trades.iter().all(|(symbol, id)| {
            self.published
                .get(*symbol)
                .is_some_and(|ids| ids.contains(*id))
        });
        data && books_whole && caught_up
    }

    /// The successor's held-back events to publish when it takes over, and the filter for the trades
    /// that follow. Quotes held back are older than those already published and are left out.
    pub(super) fn take_over(&mut self) -> (Vec<Event>, TradeDedup) {
        let mut dedup = TradeDedup {
            published: std::mem::take(&mut self.published),
        };
        let events = std::mem::take(&mut self.pending)
            .into_iter()
            .filter(|e| !matches!(e, Event::Quote(_)) && dedup.admit(e))
            .collect();
        (events, dedup)
    }
}

/// After a takeover: drops the trades the old connection already published, per symbol, until the new
/// connection publishes one it did not.
#[derive(Debug, Default)]
pub(super) struct TradeDedup {
    published: HashMap<Symbol, HashSet<String>>,
}

impl TradeDedup {
    /// False for a trade published already.
    pub(super) fn admit(&mut self, event: &Event) -> bool {
        let Event::Trade(t) = event else { return true };
        let Some(ids) = self.published.get(&t.symbol) else {
            return true;
        };
        if ids.contains(&t.trade_id) {
            metrics::counter!("tickstream_connector_rotation_duplicates_total", "exchange" => t.exchange.as_str()).increment(1);
            return false;
        }
        self.published.remove(&t.symbol);
        true
    }

    pub(super) fn is_done(&self) -> bool {
        self.published.is_empty()
    }
}

/// The next frame of the successor connection; never ready when there is none.
pub(super) async fn successor_frame(
    successor: &mut Option<Successor>,
) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
    match successor {
        Some(next) => next.stream.next().await,
        None => std::future::pending().await,
    }
}
