//! `TrackedBook`: an L2 book that remembers it was broken, so that its next snapshot is published as a
//! `resync`; shared by the venues that keep one book per instrument and report breaks the same way.

use std::sync::Arc;

use tickstream_model::{BookAction, Event, Exchange, FeedState, Level, Symbol, UnixNanos};

use crate::book::L2Book;
use crate::fields::{book_event, gap, snapshot_event, status, top_quote};
use crate::venues::connection_state::ConnectionBook;

type Sym<'a> = (&'a Symbol, &'a Arc<str>);

/// One instrument's book and whether it broke since it was last whole.
#[derive(Debug, Default)]
pub struct TrackedBook {
    pub book: L2Book,
    /// Whole once, then broken by a gap or a reconnect: the next snapshot is a `resync`.
    broken: bool,
}

impl TrackedBook {
    pub fn is_synced(&self) -> bool {
        self.book.is_synced()
    }

    /// Publishes the (already applied) whole book as a snapshot, a `resync` status when it had broken,
    /// and the BBO when it changed. Returns the snapshot's index in `out`.
    pub fn publish_snapshot(
        &mut self,
        exchange: Exchange,
        sym: Sym<'_>,
        ts: (UnixNanos, UnixNanos),
        out: &mut Vec<Event>,
    ) -> usize {
        let (ts_event, ts_recv) = ts;
        out.push(Event::Book(snapshot_event(
            exchange, sym, &self.book, ts_event, ts_recv,
        )));
        let at = out.len() - 1;
        if std::mem::take(&mut self.broken) {
            let mut resync = status(
                exchange,
                Some(sym),
                FeedState::Resync,
                "book rebuilt from a new snapshot".into(),
                ts_recv,
            );
            // The sequence the rebuilt book starts from, where the venue numbers its messages.
            resync.received_sequence = self.book.sequence();
            out.push(Event::Status(resync));
        }
        out.extend(top_quote(exchange, sym, &mut self.book, ts_event, ts_recv));
        at
    }

    /// Publishes an applied delta (levels as the venue sent them) and the BBO when it changed. Returns
    /// the delta's index in `out`.
    pub fn publish_delta(
        &mut self,
        exchange: Exchange,
        sym: Sym<'_>,
        levels: (Vec<Level>, Vec<Level>),
        sequence: Option<u64>,
        ts: (UnixNanos, UnixNanos),
        out: &mut Vec<Event>,
    ) -> usize {
        let (ts_event, ts_recv) = ts;
        let mut update = book_event(
            exchange,
            sym,
            BookAction::Delta,
            levels.0,
            levels.1,
            true,
            ts_event,
            ts_recv,
        );
        update.sequence = sequence;
        out.push(Event::Book(update));
        let at = out.len() - 1;
        out.extend(top_quote(exchange, sym, &mut self.book, ts_event, ts_recv));
        at
    }

    /// Reports a break as a `gap` with the expected and received sequence (or checksum), clears the
    /// book and waits for a new snapshot.
    #[allow(clippy::too_many_arguments)]
    pub fn break_with_gap(
        &mut self,
        exchange: Exchange,
        sym: Sym<'_>,
        expected: Option<u64>,
        received: Option<u64>,
        detail: String,
        ts_recv: UnixNanos,
        out: &mut Vec<Event>,
    ) {
        out.push(gap(exchange, sym, expected, received, detail, ts_recv));
        self.book.invalidate();
        self.broken = true;
    }
}

impl ConnectionBook for TrackedBook {
    /// Forgets the book before a new connection; once rebuilt it reports `resync`.
    fn reset(&mut self) {
        if self.book.is_synced() {
            self.broken = true;
        }
        self.book.invalidate();
    }
}

/// Sets the checksum of the book update at `out[at]`.
pub fn set_checksum(out: &mut [Event], at: usize, checksum: u32) {
    if let Some(Event::Book(update)) = out.get_mut(at) {
        update.checksum = Some(checksum);
    }
}

/// An unsynced delta for offline normalization without a snapshot: emitted as it came, never applied.
pub fn unsynced_delta(
    exchange: Exchange,
    sym: Sym<'_>,
    levels: (Vec<Level>, Vec<Level>),
    sequence: Option<u64>,
    ts: (UnixNanos, UnixNanos),
) -> Event {
    let mut update = book_event(
        exchange,
        sym,
        BookAction::Delta,
        levels.0,
        levels.1,
        false,
        ts.0,
        ts.1,
    );
    update.sequence = sequence;
    Event::Book(update)
}
