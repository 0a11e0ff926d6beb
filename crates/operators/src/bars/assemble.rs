//! How finished bars are put together: from the trades of an open bar, as a flat bar for an empty
//! interval, and as a composite of the venue bars of one canonical symbol.

use tickstream_model::{AggressorSide, Bar, Exchange, Interval, Symbol, UnixNanos};

/// One bar still collecting trades.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct OpenBar {
    pub(super) open_time: i64,
    open: f64,
    open_ts: i64,
    high: f64,
    low: f64,
    close: f64,
    close_ts: i64,
    volume: f64,
    quote_volume: f64,
    trades: u64,
    buy_volume: f64,
    sell_volume: f64,
}

impl OpenBar {
    pub(super) fn new(open_time: i64, ts: i64, price: f64) -> OpenBar {
        OpenBar {
            open_time,
            open: price,
            open_ts: ts,
            high: price,
            low: price,
            close: price,
            close_ts: ts,
            volume: 0.0,
            quote_volume: 0.0,
            trades: 0,
            buy_volume: 0.0,
            sell_volume: 0.0,
        }
    }

    /// Adds a trade. Open and close are the earliest and latest trades by event time (ties: arrival order).
    pub(super) fn add(&mut self, ts: i64, price: f64, quantity: f64, side: AggressorSide) {
        if ts < self.open_ts {
            self.open_ts = ts;
            self.open = price;
        }
        if ts >= self.close_ts {
            self.close_ts = ts;
            self.close = price;
        }
        self.high = self.high.max(price);
        self.low = self.low.min(price);
        self.volume += quantity;
        self.quote_volume += price * quantity;
        self.trades += 1;
        match side {
            AggressorSide::Buy => self.buy_volume += quantity,
            AggressorSide::Sell => self.sell_volume += quantity,
            AggressorSide::Unknown => {}
        }
    }
}

/// Appends one composite bar per (symbol, interval, open time) among the venue bars just closed.
pub(super) fn add_composites(
    composite_closes: &mut Vec<(Symbol, Interval, f64)>,
    closed: &mut Vec<Bar>,
) {
    let mut venue: Vec<&Bar> = closed
        .iter()
        .filter(|b| b.exchange != Exchange::Composite)
        .collect();
    venue.sort_by(|a, b| {
        (&a.symbol, a.interval, a.open_time).cmp(&(&b.symbol, b.interval, b.open_time))
    });
    let mut composites = Vec::new();
    for group in venue.chunk_by(|a, b| {
        a.symbol == b.symbol && a.interval == b.interval && a.open_time == b.open_time
    }) {
        let first = group[0];
        let previous = composite_closes
            .iter_mut()
            .find(|(s, i, _)| *s == first.symbol && *i == first.interval);
        let Some(bar) = composite_bar(group, previous.as_ref().map(|p| p.2)) else {
            continue;
        };
        match previous {
            Some(p) => p.2 = bar.close,
            None => composite_closes.push((bar.symbol.clone(), bar.interval, bar.close)),
        }
        composites.push(bar);
    }
    closed.extend(composites);
}

pub(super) fn finish_bar(
    exchange: Exchange,
    symbol: &Symbol,
    interval: Interval,
    b: OpenBar,
) -> Bar {
    Bar {
        exchange,
        symbol: symbol.clone(),
        interval,
        open_time: UnixNanos(b.open_time),
        close_time: UnixNanos(b.open_time + interval.nanos()),
        open: b.open,
        high: b.high,
        low: b.low,
        close: b.close,
        volume: b.volume,
        quote_volume: b.quote_volume,
        trades: b.trades,
        vwap: b.quote_volume / b.volume,
        buy_volume: b.buy_volume,
        sell_volume: b.sell_volume,
        gap: false,
    }
}

pub(super) fn flat_bar(
    exchange: Exchange,
    symbol: &Symbol,
    interval: Interval,
    open_time: i64,
    close: f64,
) -> Bar {
    Bar {
        exchange,
        symbol: symbol.clone(),
        interval,
        open_time: UnixNanos(open_time),
        close_time: UnixNanos(open_time + interval.nanos()),
        open: close,
        high: close,
        low: close,
        close,
        volume: 0.0,
        quote_volume: 0.0,
        trades: 0,
        vwap: close,
        buy_volume: 0.0,
        sell_volume: 0.0,
        gap: false,
    }
}

/// Combines the venue bars of one (symbol, interval, open time): prices are volume-weighted means of the
/// venues' prices, amounts are sums. Without volume it is a flat bar at the previous composite close.
fn composite_bar(group: &[&Bar], previous_close: Option<f64>) -> Option<Bar> {
    let first = group[0];
    let volume: f64 = group.iter().map(|b| b.volume).sum();
    let weighted =
        |price: fn(&Bar) -> f64| group.iter().map(|b| price(b) * b.volume).sum::<f64>() / volume;
    let mut bar = if volume > 0.0 {
        let quote_volume: f64 = group.iter().map(|b| b.quote_volume).sum();
        Bar {
            exchange: Exchange::Composite,
            open: weighted(|b| b.open),
            high: weighted(|b| b.high),
            low: weighted(|b| b.low),
            close: weighted(|b| b.close),
            volume,
            quote_volume,
            trades: group.iter().map(|b| b.trades).sum(),
            vwap: quote_volume / volume,
            buy_volume: group.iter().map(|b| b.buy_volume).sum(),
            sell_volume: group.iter().map(|b| b.sell_volume).sum(),
            ..first.clone()
        }
    } else {
        flat_bar(
            Exchange::Composite,
            &first.symbol,
            first.interval,
            first.open_time.0,
            previous_close?,
        )
    };
    bar.gap = group.iter().any(|b| b.gap);
    Some(bar)
}
