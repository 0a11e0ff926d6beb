//! The simulator's own copy of a published book: price levels in two ordered maps, as a venue keeps
//! the book it sends, kept apart from any client's book so the two readings of a protocol stay
//! independent.

use std::collections::BTreeMap;

use tickstream_model::{Decimal, Level};

/// Price levels by price; a level of quantity zero is not held.
#[derive(Debug, Default, Clone)]
pub struct PublishedBook {
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
}

impl PublishedBook {
    /// A book holding exactly these levels.
    pub fn from_levels(bids: &[Level], asks: &[Level]) -> PublishedBook {
        let mut book = PublishedBook::default();
        book.apply(bids, asks);
        book
    }

    /// Sets each level's quantity; a zero removes the level.
    pub fn apply(&mut self, bids: &[Level], asks: &[Level]) {
        for (side, levels) in [(&mut self.bids, bids), (&mut self.asks, asks)] {
            for level in levels {
                if level.quantity().is_zero() {
                    side.remove(&level.price());
                } else {
                    side.insert(level.price(), level.quantity());
                }
            }
        }
    }

    /// Bids, highest price first.
    pub fn bids(&self) -> impl Iterator<Item = Level> + '_ {
        self.bids.iter().rev().map(|(p, q)| Level(*p, *q))
    }

    /// Asks, lowest price first.
    pub fn asks(&self) -> impl Iterator<Item = Level> + '_ {
        self.asks.iter().map(|(p, q)| Level(*p, *q))
    }

    /// Whether a bid (or an ask) is held at this price.
    pub fn has(&self, bid: bool, price: Decimal) -> bool {
        if bid {
            self.bids.contains_key(&price)
        } else {
            self.asks.contains_key(&price)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(price: &str, qty: &str) -> Level {
        Level(price.parse().unwrap(), qty.parse().unwrap())
    }

    #[test]
    fn levels_are_kept_best_first_and_zero_removes() {
        let mut book = PublishedBook::from_levels(
            &[level("1.00", "2"), level("1.02", "1")],
            &[level("1.05", "3"), level("1.03", "4")],
        );
        book.apply(&[level("1.02", "0")], &[level("1.04", "5")]);
        assert_eq!(book.bids().collect::<Vec<_>>(), [level("1.00", "2")]);
        assert_eq!(
            book.asks().collect::<Vec<_>>(),
            [level("1.03", "4"), level("1.04", "5"), level("1.05", "3")]
        );
        assert!(book.has(true, "1.00".parse().unwrap()));
        assert!(!book.has(false, "1.02".parse().unwrap()));
    }
}
