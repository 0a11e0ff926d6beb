//! The simulator's market: per symbol, a seeded random walk of the mid price with an L2 book around it,
//! trades at the touch, and a venue-style update id that advances with every change.

use std::collections::BTreeMap;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use tickstream_model::{Decimal, Level};

/// Prices are in cents, quantities in 1/10000 units.
const PRICE_SCALE: u8 = 2;
const QTY_SCALE: u8 = 4;
/// Levels kept on each side.
const DEPTH: i64 = 20;

pub fn price(ticks: i64) -> Decimal {
    Decimal::new(i128::from(ticks), PRICE_SCALE).unwrap_or(Decimal::ZERO)
}

pub fn quantity(lots: i64) -> Decimal {
    Decimal::new(i128::from(lots), QTY_SCALE).unwrap_or(Decimal::ZERO)
}

/// A side of the book.
#[derive(Debug, Clone, Copy)]
enum Side {
    Bid,
    Ask,
}

/// A trade the market made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimTrade {
    pub id: u64,
    pub price: Decimal,
    pub quantity: Decimal,
    /// True when the buyer took liquidity.
    pub taker_buys: bool,
}

/// What one step of one symbol's market did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Canonical symbol, such as `BTC-USDT`.
    pub symbol: String,
    pub time_ms: i64,
    /// The update ids this step covers (Binance `U`..`u`).
    pub first_update_id: u64,
    pub last_update_id: u64,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
    pub trade: Option<SimTrade>,
    pub best_bid: Level,
    pub best_ask: Level,
}

/// One symbol's market.
#[derive(Debug)]
pub struct Market {
    symbol: String,
    rng: SmallRng,
    mid: i64,
    bids: BTreeMap<i64, i64>,
    asks: BTreeMap<i64, i64>,
    update_id: u64,
    trade_id: u64,
}

impl Market {
    /// A market for `symbol` whose whole history follows from `seed`.
    pub fn new(symbol: &str, seed: u64) -> Market {
        let mut rng = SmallRng::seed_from_u64(seed ^ fnv(symbol));
        let mid = rng.random_range(10_000..10_000_000);
        let mut market = Market {
            symbol: symbol.to_owned(),
            rng,
            mid,
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
            update_id: 1000,
            trade_id: 0,
        };
        let mut changes = (Vec::new(), Vec::new());
        market.refill(&mut changes);
        market
    }

    pub fn update_id(&self) -> u64 {
        self.update_id
    }

    /// The whole book, best first.
    pub fn book(&self) -> (Vec<Level>, Vec<Level>) {
        let bids = self
            .bids
            .iter()
            .rev()
            .map(|(p, q)| Level(price(*p), quantity(*q)))
            .collect();
        let asks = self
            .asks
            .iter()
            .map(|(p, q)| Level(price(*p), quantity(*q)))
            .collect();
        (bids, asks)
    }

    fn top(&self) -> (Level, Level) {
        let (bp, bq) = self
            .bids
            .iter()
            .next_back()
            .map_or((0, 0), |(p, q)| (*p, *q));
        let (ap, aq) = self.asks.iter().next().map_or((0, 0), |(p, q)| (*p, *q));
        (
            Level(price(bp), quantity(bq)),
            Level(price(ap), quantity(aq)),
        )
    }

    fn set(&mut self, side: Side, ticks: i64, lots: i64, changes: &mut (Vec<Level>, Vec<Level>)) {
        let (book, out) = match side {
            Side::Bid => (&mut self.bids, &mut changes.0),
            Side::Ask => (&mut self.asks, &mut changes.1),
        };
        if lots == 0 {
            if book.remove(&ticks).is_none() {
                return;
            }
        } else {
            book.insert(ticks, lots);
        }
        out.retain(|l: &Level| l.price() != price(ticks));
        out.push(Level(price(ticks), quantity(lots)));
    }

    /// Keeps `DEPTH` levels on each side around the mid, removing what crossed it.
    fn refill(&mut self, changes: &mut (Vec<Level>, Vec<Level>)) {
        let stale_bids: Vec<i64> = self
            .bids
            .keys()
            .copied()
            .filter(|p| *p >= self.mid || *p < self.mid - DEPTH)
            .collect();
        for p in stale_bids {
            self.set(Side::Bid, p, 0, changes);
        }
        let stale_asks: Vec<i64> = self
            .asks
            .keys()
            .copied()
            .filter(|p| *p <= self.mid || *p > self.mid + DEPTH)
            .collect();
        for p in stale_asks {
            self.set(Side::Ask, p, 0, changes);
        }
        for offset in 1..=DEPTH {
            if !self.bids.contains_key(&(self.mid - offset)) {
                let lots = self.rng.random_range(1..50_000);
                self.set(Side::Bid, self.mid - offset, lots, changes);
            }
            if !self.asks.contains_key(&(self.mid + offset)) {
                let lots = self.rng.random_range(1..50_000);
                self.set(Side::Ask, self.mid + offset, lots, changes);
            }
        }
    }

    /// Moves the market one step at `time_ms`.
    pub fn step(&mut self, time_ms: i64) -> Step {
        let first_update_id = self.update_id + 1;
        let mut changes = (Vec::new(), Vec::new());
        self.mid += self.rng.random_range(-2..=2);
        self.refill(&mut changes);
        // Resize a random level on each side.
        let offset = self.rng.random_range(1..=DEPTH);
        let lots = self.rng.random_range(1..50_000);
        self.set(Side::Bid, self.mid - offset, lots, &mut changes);
        let lots = self.rng.random_range(1..50_000);
        self.set(Side::Ask, self.mid + offset, lots, &mut changes);
        let mut trade = None;
        if self.rng.random_bool(0.6) {
            let taker_buys = self.rng.random_bool(0.5);
            let touch = if taker_buys {
                self.asks.iter().next()
            } else {
                self.bids.iter().next_back()
            };
            if let Some((&p, &available)) = touch {
                let lots = self.rng.random_range(1..=available);
                let side = if taker_buys { Side::Ask } else { Side::Bid };
                self.set(side, p, available - lots, &mut changes);
                self.trade_id += 1;
                trade = Some(SimTrade {
                    id: self.trade_id,
                    price: price(p),
                    quantity: quantity(lots),
                    taker_buys,
                });
            }
        }
        // Levels emptied by the trade come back so the book keeps its depth.
        self.refill(&mut changes);
        self.update_id += 1 + self.rng.random_range(0..3);
        let (best_bid, best_ask) = self.top();
        Step {
            symbol: self.symbol.clone(),
            time_ms,
            first_update_id,
            last_update_id: self.update_id,
            bids: changes.0,
            asks: changes.1,
            trade,
            best_bid,
            best_ask,
        }
    }
}

/// FNV-1a, to derive a per-symbol seed that does not depend on the process.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::PublishedBook;

    #[test]
    fn the_same_seed_gives_the_same_market_and_deltas_rebuild_the_book() {
        let mut a = Market::new("BTC-USDT", 42);
        let mut b = Market::new("BTC-USDT", 42);
        let (bids, asks) = a.book();
        let mut book = PublishedBook::from_levels(&bids, &asks);
        let mut sequence = a.update_id();
        let mut trades = 0;
        for t in 0..500 {
            let step = a.step(t);
            assert_eq!(step, b.step(t));
            assert_eq!(step.first_update_id, sequence + 1);
            book.apply(&step.bids, &step.asks);
            sequence = step.last_update_id;
            let (best_bid, best_ask) = (book.bids().next().unwrap(), book.asks().next().unwrap());
            assert!(best_bid.price() < best_ask.price());
            assert_eq!((best_bid, best_ask), (step.best_bid, step.best_ask));
            trades += usize::from(step.trade.is_some());
        }
        assert_eq!(book.bids().collect::<Vec<_>>(), a.book().0);
        assert_eq!(book.asks().collect::<Vec<_>>(), a.book().1);
        assert!(trades > 200);
        assert_ne!(
            Market::new("ETH-USDT", 42).book(),
            Market::new("BTC-USDT", 42).book()
        );
    }
}
