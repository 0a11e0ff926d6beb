//! The Binance diff-depth book: deltas joined to the REST snapshot by `lastUpdateId` with the documented
//! `U`/`u` rules (<https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams#how-to-manage-a-local-order-book-correctly>).

use std::collections::VecDeque;
use std::sync::Arc;

use tickstream_model::{BookAction, BookUpdate, Event, Exchange, FeedState, Symbol, UnixNanos};

use super::parse::{DepthSnapshot, DepthUpdate};
use crate::book::L2Book;
use crate::fields::{book_event, gap, snapshot_event, status, top_quote};
use crate::venues::connection_state::ConnectionBook;

/// Deltas kept while a snapshot is on its way; older ones are dropped (the join then re-fetches).
const MAX_BUFFERED: usize = 4096;

/// What the runner must do after a depth message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepthNeed {
    Nothing,
    /// Fetch (again) the REST snapshot.
    Snapshot,
}

/// One symbol's depth book and the deltas buffered until its snapshot arrives.
#[derive(Debug, Default)]
pub struct DepthBook {
    book: L2Book,
    buffer: VecDeque<DepthUpdate>,
    snapshot_pending: bool,
    /// The book was whole once and broke (gap or reconnect): its next snapshot is a `resync`.
    broken: bool,
}

type Sym<'a> = (&'a Symbol, &'a Arc<str>);

impl DepthBook {
    pub fn book(&self) -> &L2Book {
        &self.book
    }

    /// Handles one delta: buffers it until the book is synced, applies it when it follows, and reports a
    /// gap (then waits for a new snapshot) when it does not.
    pub fn on_update(
        &mut self,
        update: DepthUpdate,
        sym: Sym<'_>,
        ts_recv: UnixNanos,
        out: &mut Vec<Event>,
    ) -> DepthNeed {
        if !self.book.is_synced() {
            self.buffer_update(update);
            if self.snapshot_pending {
                return DepthNeed::Nothing;
            }
            self.snapshot_pending = true;
            return DepthNeed::Snapshot;
        }
        self.apply_in_sequence(update, sym, ts_recv, out)
    }

    fn buffer_update(&mut self, update: DepthUpdate) {
        if self.buffer.len() == MAX_BUFFERED {
            self.buffer.pop_front();
        }
        self.buffer.push_back(update);
    }

    fn apply_in_sequence(
        &mut self,
        update: DepthUpdate,
        sym: Sym<'_>,
        ts_recv: UnixNanos,
        out: &mut Vec<Event>,
    ) -> DepthNeed {
        let at = self.book.sequence().unwrap_or(0);
        if update.final_update_id <= at {
            return DepthNeed::Nothing;
        }
        if update.first_update_id > at + 1 {
            out.push(gap(
                Exchange::Binance,
                sym,
                Some(at + 1),
                Some(update.first_update_id),
                format!(
                    "depth update starts at {} but the book is at {at}",
                    update.first_update_id
                ),
                ts_recv,
            ));
            self.book.invalidate();
            self.broken = true;
            self.buffer.clear();
            self.buffer.push_back(update);
            self.snapshot_pending = true;
            return DepthNeed::Snapshot;
        }
        self.book.apply_delta(&update.bids, &update.asks);
        self.book.set_sequence(update.final_update_id);
        out.push(Event::Book(book_update(sym, &update, ts_recv, true)));
        self.push_quote(sym, update.ts_event, ts_recv, out);
        DepthNeed::Nothing
    }

    /// Joins a REST snapshot: too old → fetch again; otherwise the book is set, the buffered deltas after
    /// it are applied, and a broken book reports `resync`.
    pub fn on_snapshot(
        &mut self,
        snapshot: DepthSnapshot,
        sym: Sym<'_>,
        ts_recv: UnixNanos,
        out: &mut Vec<Event>,
    ) -> DepthNeed {
        self.snapshot_pending = false;
        if let Some(first) = self.buffer.front()
            && snapshot.last_update_id < first.first_update_id
        {
            self.snapshot_pending = true;
            return DepthNeed::Snapshot;
        }
        while self
            .buffer
            .front()
            .is_some_and(|u| u.final_update_id <= snapshot.last_update_id)
        {
            self.buffer.pop_front();
        }
        self.book.apply_snapshot(
            &snapshot.bids,
            &snapshot.asks,
            Some(snapshot.last_update_id),
        );
        out.push(Event::Book(snapshot_event(
            Exchange::Binance,
            sym,
            &self.book,
            ts_recv,
            ts_recv,
        )));
        if self.broken {
            self.broken = false;
            out.push(Event::Status(status(
                Exchange::Binance,
                Some(sym),
                FeedState::Resync,
                format!(
                    "book rebuilt from the snapshot at update {}",
                    snapshot.last_update_id
                ),
                ts_recv,
            )));
        }
        let buffered: Vec<DepthUpdate> = self.buffer.drain(..).collect();
        let mut need = DepthNeed::Nothing;
        for update in buffered {
            if need == DepthNeed::Snapshot {
                self.buffer_update(update);
                continue;
            }
            need = self.apply_in_sequence(update, sym, ts_recv, out);
        }
        self.push_quote(sym, ts_recv, ts_recv, out);
        need
    }

    fn push_quote(
        &mut self,
        sym: Sym<'_>,
        ts_event: UnixNanos,
        ts_recv: UnixNanos,
        out: &mut Vec<Event>,
    ) {
        out.extend(top_quote(
            Exchange::Binance,
            sym,
            &mut self.book,
            ts_event,
            ts_recv,
        ));
    }
}

impl ConnectionBook for DepthBook {
    /// Forgets the book before a new connection; once rebuilt it reports `resync`.
    fn reset(&mut self) {
        if self.book.is_synced() {
            self.broken = true;
        }
        self.book.invalidate();
        self.buffer.clear();
        self.snapshot_pending = false;
    }
}

/// A depth update as a normalized delta, levels best first.
pub fn book_update(
    sym: Sym<'_>,
    update: &DepthUpdate,
    ts_recv: UnixNanos,
    synced: bool,
) -> BookUpdate {
    let mut event = book_event(
        Exchange::Binance,
        sym,
        BookAction::Delta,
        update.bids.clone(),
        update.asks.clone(),
        synced,
        update.ts_event,
        ts_recv,
    );
    event.sequence = Some(update.final_update_id);
    event.first_sequence = Some(update.first_update_id);
    event
}
