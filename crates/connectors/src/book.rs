//! `L2Book`: a price-level order book keyed by exact decimals, with its integrity state. Pure: no clock,
//! no I/O; the venue parsers feed it and decide what a break means.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use tickstream_model::{Decimal, Level};

/// Whether a book can be published as whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookState {
    /// No snapshot yet (or since the last break): deltas are not applied as if the book were whole.
    AwaitingSnapshot,
    /// Built from a snapshot and every delta since, in sequence.
    Synced,
}

/// One side of a book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Bid,
    Ask,
}

/// An L2 book: quantity by exact price on each side.
#[derive(Debug, Clone)]
pub struct L2Book {
    bids: BTreeMap<Reverse<Decimal>, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
    state: BookState,
    /// The venue's sequence or update id the book is at.
    sequence: Option<u64>,
    /// The top of book last reported by [`L2Book::take_top_change`].
    published_top: Option<(Level, Level)>,
}

impl Default for L2Book {
    fn default() -> L2Book {
        L2Book::new()
    }
}

impl L2Book {
    pub fn new() -> L2Book {
        L2Book {
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
            state: BookState::AwaitingSnapshot,
            sequence: None,
            published_top: None,
        }
    }

    pub fn state(&self) -> BookState {
        self.state
    }

    pub fn is_synced(&self) -> bool {
        self.state == BookState::Synced
    }

    pub fn sequence(&self) -> Option<u64> {
        self.sequence
    }

    pub fn set_sequence(&mut self, sequence: u64) {
        self.sequence = Some(sequence);
    }

    /// Replaces the whole book; it becomes synced at `sequence`. Levels with quantity 0 are skipped.
    pub fn apply_snapshot(&mut self, bids: &[Level], asks: &[Level], sequence: Option<u64>) {
        self.bids.clear();
        self.asks.clear();
        for level in bids {
            self.set(Side::Bid, *level);
        }
        for level in asks {
            self.set(Side::Ask, *level);
        }
        self.sequence = sequence;
        self.state = BookState::Synced;
        self.published_top = None;
    }

    /// Sets one level's quantity; 0 removes it (removing a level the book does not hold is normal).
    pub fn set(&mut self, side: Side, level: Level) {
        let Level(price, quantity) = level;
        match side {
            Side::Bid if quantity.is_zero() => {
                self.bids.remove(&Reverse(price));
            }
            Side::Bid => {
                self.bids.insert(Reverse(price), quantity);
            }
            Side::Ask if quantity.is_zero() => {
                self.asks.remove(&price);
            }
            Side::Ask => {
                self.asks.insert(price, quantity);
            }
        }
    }

    /// Applies a delta's levels on both sides.
    pub fn apply_delta(&mut self, bids: &[Level], asks: &[Level]) {
        for level in bids {
            self.set(Side::Bid, *level);
        }
        for level in asks {
            self.set(Side::Ask, *level);
        }
    }

    /// Keeps the best `depth` levels on each side, as venues whose feed covers a fixed depth expect
    /// (levels that fall out of scope are not removed by the feed).
    pub fn truncate(&mut self, depth: usize) {
        while self.bids.len() > depth {
            self.bids.pop_last();
        }
        while self.asks.len() > depth {
            self.asks.pop_last();
        }
    }

    /// Marks the book broken: it is cleared and waits for a new snapshot.
    pub fn invalidate(&mut self) {
        self.bids.clear();
        self.asks.clear();
        self.state = BookState::AwaitingSnapshot;
        self.sequence = None;
        self.published_top = None;
    }

    pub fn best_bid(&self) -> Option<Level> {
        self.bids.iter().next().map(|(Reverse(p), q)| Level(*p, *q))
    }

    pub fn best_ask(&self) -> Option<Level> {
        self.asks.iter().next().map(|(p, q)| Level(*p, *q))
    }

    /// Bid levels, best first.
    pub fn bids(&self) -> impl Iterator<Item = Level> + '_ {
        self.bids.iter().map(|(Reverse(p), q)| Level(*p, *q))
    }

    /// Ask levels, best first.
    pub fn asks(&self) -> impl Iterator<Item = Level> + '_ {
        self.asks.iter().map(|(p, q)| Level(*p, *q))
    }

    pub fn depth(&self) -> (usize, usize) {
        (self.bids.len(), self.asks.len())
    }

    /// True when the best bid is at or above the best ask: a whole book never looks like that.
    pub fn is_crossed(&self) -> bool {
        match (self.best_bid(), self.best_ask()) {
            (Some(bid), Some(ask)) => bid.price() >= ask.price(),
            _ => false,
        }
    }

    /// The top of a synced, uncrossed book when it differs from the one last returned here: the BBO to
    /// publish as a `Quote`.
    pub fn take_top_change(&mut self) -> Option<(Level, Level)> {
        if !self.is_synced() || self.is_crossed() {
            return None;
        }
        let top = (self.best_bid()?, self.best_ask()?);
        if self.published_top == Some(top) {
            return None;
        }
        self.published_top = Some(top);
        Some(top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(p: &str, q: &str) -> Level {
        Level(p.parse().unwrap(), q.parse().unwrap())
    }

    #[test]
    fn snapshot_then_deltas_keep_exact_levels_in_order() {
        let mut book = L2Book::new();
        assert_eq!(book.state(), BookState::AwaitingSnapshot);
        book.apply_snapshot(
            &[l("100.0", "1"), l("99.5", "2"), l("98", "0")],
            &[l("101", "3")],
            Some(7),
        );
        assert!(book.is_synced());
        assert_eq!(book.depth(), (2, 1));
        assert_eq!(book.best_bid(), Some(l("100", "1")));
        book.apply_delta(&[l("100.00", "0"), l("99.75", "4")], &[l("100.5", "1")]);
        assert_eq!(
            book.bids().collect::<Vec<_>>(),
            vec![l("99.75", "4"), l("99.5", "2")]
        );
        assert_eq!(book.best_ask(), Some(l("100.5", "1")));
        // Removing a level the book never held is normal.
        book.apply_delta(&[l("50", "0")], &[]);
        assert_eq!(book.depth(), (2, 2));
        book.truncate(1);
        assert_eq!(book.bids().collect::<Vec<_>>(), vec![l("99.75", "4")]);
        assert_eq!(book.asks().collect::<Vec<_>>(), vec![l("100.5", "1")]);
    }

    #[test]
    fn top_changes_are_reported_once_and_never_from_a_broken_book() {
        let mut book = L2Book::new();
        assert_eq!(book.take_top_change(), None);
        book.apply_snapshot(&[l("10", "1")], &[l("11", "1")], None);
        assert_eq!(book.take_top_change(), Some((l("10", "1"), l("11", "1"))));
        assert_eq!(book.take_top_change(), None);
        book.apply_delta(&[l("10", "2")], &[]);
        assert_eq!(book.take_top_change(), Some((l("10", "2"), l("11", "1"))));
        book.apply_delta(&[l("12", "1")], &[]);
        assert!(book.is_crossed());
        assert_eq!(book.take_top_change(), None);
        book.invalidate();
        assert_eq!(book.state(), BookState::AwaitingSnapshot);
        assert_eq!(book.depth(), (0, 0));
        assert_eq!(book.take_top_change(), None);
    }
}
