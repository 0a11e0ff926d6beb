//! The Bitstamp diff book: `diff_order_book` deltas joined to the REST `order_book` snapshot by
//! `microtimestamp`. Bitstamp sends no sequence numbers: deltas at or before the snapshot's time are
//! dropped, later ones applied; the book is rebuilt (and reported `resync`) after every reconnect.

use std::collections::VecDeque;
use std::sync::Arc;

use tickstream_model::{Event, Exchange, Symbol, UnixNanos};

use super::parse::BookData;
use crate::tracked_book::{TrackedBook, unsynced_delta};
use crate::venues::connection_state::ConnectionBook;

/// Deltas kept while a snapshot is on its way; the oldest are dropped beyond this (they would be older
/// than any snapshot fetched after them anyway).
const MAX_BUFFERED: usize = 4096;

type Sym<'a> = (&'a Symbol, &'a Arc<str>);

/// What the runner must do after a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffNeed {
    Nothing,
    /// Fetch the REST snapshot.
    Snapshot,
}

/// One pair's diff book.
#[derive(Debug, Default)]
pub struct DiffBook {
    pub tracked: TrackedBook,
    /// The `microtimestamp` the book is at.
    at_micros: i64,
    buffer: VecDeque<BookData>,
    snapshot_pending: bool,
}

impl DiffBook {
    /// Applies a diff to a synced book; before the snapshot it is buffered and a snapshot requested.
    pub fn on_diff(
        &mut self,
        diff: BookData,
        sym: Sym<'_>,
        ts_recv: UnixNanos,
        out: &mut Vec<Event>,
    ) -> DiffNeed {
        if !self.tracked.is_synced() {
            if self.buffer.len() == MAX_BUFFERED {
                self.buffer.pop_front();
            }
            self.buffer.push_back(diff);
            if self.snapshot_pending {
                return DiffNeed::Nothing;
            }
            self.snapshot_pending = true;
            return DiffNeed::Snapshot;
        }
        self.apply(diff, sym, ts_recv, out);
        DiffNeed::Nothing
    }

    fn apply(&mut self, diff: BookData, sym: Sym<'_>, ts_recv: UnixNanos, out: &mut Vec<Event>) {
        if diff.micros <= self.at_micros {
            return;
        }
        self.at_micros = diff.micros;
        self.tracked.book.apply_delta(&diff.bids, &diff.asks);
        self.tracked.publish_delta(
            Exchange::Bitstamp,
            sym,
            (diff.bids, diff.asks),
            None,
            (diff.ts_event, ts_recv),
            out,
        );
    }

    /// Sets the book from the REST snapshot, publishes it (with `resync` when it had broken), then
    /// applies the buffered diffs that are newer than it.
    pub fn on_snapshot(
        &mut self,
        snapshot: BookData,
        sym: Sym<'_>,
        ts_recv: UnixNanos,
        out: &mut Vec<Event>,
    ) {
        self.snapshot_pending = false;
        self.at_micros = snapshot.micros;
        self.tracked
            .book
            .apply_snapshot(&snapshot.bids, &snapshot.asks, None);
        self.tracked
            .publish_snapshot(Exchange::Bitstamp, sym, (snapshot.ts_event, ts_recv), out);
        let buffered: Vec<BookData> = self.buffer.drain(..).collect();
        for diff in buffered {
            self.apply(diff, sym, ts_recv, out);
        }
    }
}

impl ConnectionBook for DiffBook {
    /// Forgets the book before a new connection; once rebuilt it reports `resync`.
    fn reset(&mut self) {
        self.tracked.reset();
        self.buffer.clear();
        self.snapshot_pending = false;
        self.at_micros = 0;
    }
}

/// A diff emitted as it came, without a snapshot (offline normalization).
pub fn unsynced_diff(diff: BookData, sym: Sym<'_>, ts_recv: UnixNanos) -> Event {
    unsynced_delta(
        Exchange::Bitstamp,
        sym,
        (diff.bids, diff.asks),
        None,
        (diff.ts_event, ts_recv),
    )
}
