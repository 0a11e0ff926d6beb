//! Normalized events for the lake tests and benchmark: deterministic series of every event type.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::TimestampNanosecondType;

use tickstream_model::{
    AggressorSide, Bar, BookAction, BookUpdate, Decimal, Direction, Event, Exchange, FeedState,
    FeedStatus, IndicatorValues, Interval, Level, Quote, Signal, Symbol, Trade, UnixNanos,
};

/// 2026-11-21T00:00:00Z.
pub const DAY_START: i64 = 1_795_219_200_000_000_000;
pub const SECOND: i64 = 1_000_000_000;
pub const MINUTE: i64 = 60 * SECOND;

pub fn decimal(text: &str) -> Decimal {
    text.parse().expect("decimal literal")
}

pub fn symbol(text: &str) -> Symbol {
    Symbol::parse(text).expect("canonical symbol")
}

/// `n` trades of `symbol` on `exchange`, one every `step` nanoseconds from `start`, with ids `<start_id + i>`.
pub fn trades(
    exchange: Exchange,
    sym: &str,
    start: i64,
    step: i64,
    start_id: u64,
    n: usize,
) -> Vec<Event> {
    let raw: Arc<str> = sym.replace('-', "").into();
    (0..n)
        .map(|i| {
            let ts = start + i as i64 * step;
            Event::Trade(Trade {
                exchange,
                symbol: symbol(sym),
                raw_symbol: raw.clone(),
                ts_event: UnixNanos(ts),
                ts_recv: UnixNanos(ts + 2_500_000),
                trade_id: (start_id + i as u64).to_string(),
                price: Decimal::new(9_000_000 + (i as i128 * 37) % 5_000, 2).expect("price"),
                quantity: Decimal::new(1 + (i as i128 * 13) % 900, 4).expect("quantity"),
                side: if i % 3 == 0 {
                    AggressorSide::Sell
                } else {
                    AggressorSide::Buy
                },
            })
        })
        .collect()
}

pub fn quotes(exchange: Exchange, sym: &str, start: i64, step: i64, n: usize) -> Vec<Event> {
    let raw: Arc<str> = sym.replace('-', "").into();
    (0..n)
        .map(|i| {
            let ts = start + i as i64 * step;
            let bid = 9_000_000 + (i as i128 * 11) % 3_000;
            Event::Quote(Quote {
                exchange,
                symbol: symbol(sym),
                raw_symbol: raw.clone(),
                ts_event: UnixNanos(ts),
                ts_recv: UnixNanos(ts + 1_000_000),
                bid_price: Decimal::new(bid, 2).expect("bid"),
                bid_size: decimal("0.5"),
                ask_price: Decimal::new(bid + 1, 2).expect("ask"),
                ask_size: decimal("1.25"),
            })
        })
        .collect()
}

/// The close of the `i`th synthetic 1m bar.
pub fn bar_close(i: usize) -> f64 {
    90_000.0 + ((i * 7919) % 1000) as f64 / 4.0
}

/// The RSI value stored with the `i`th bar (absent for the first 14, like a real lookback).
pub fn bar_rsi(i: usize) -> Option<f64> {
    (i >= 14).then(|| 20.0 + ((i * 31) % 600) as f64 / 10.0)
}

/// `n` consecutive bars of `interval` from `start` and their indicator values.
pub fn bars_and_indicators(
    exchange: Exchange,
    sym: &str,
    interval: Interval,
    start: i64,
    n: usize,
) -> Vec<Event> {
    let mut events = Vec::with_capacity(2 * n);
    for i in 0..n {
        let open_time = start + i as i64 * interval.nanos();
        let close = bar_close(i);
        events.push(Event::Bar(Bar {
            exchange,
            symbol: symbol(sym),
            interval,
            open_time: UnixNanos(open_time),
            close_time: UnixNanos(open_time + interval.nanos()),
            open: close - 1.5,
            high: close + 2.0,
            low: close - 3.0,
            close,
            volume: 1.5 + i as f64 / 100.0,
            quote_volume: close * (1.5 + i as f64 / 100.0),
            trades: 10 + (i as u64 % 50),
            vwap: close - 0.5,
            buy_volume: 1.0,
            sell_volume: 0.5 + i as f64 / 100.0,
            gap: i % 97 == 0,
        }));
        let mut values = BTreeMap::new();
        values.insert("sma_20".to_owned(), close - 1.0);
        if let Some(rsi) = bar_rsi(i) {
            values.insert("rsi_14".to_owned(), rsi);
        }
        events.push(Event::Indicator(IndicatorValues {
            exchange,
            symbol: symbol(sym),
            interval,
            open_time: UnixNanos(open_time),
            close_time: UnixNanos(open_time + interval.nanos()),
            values,
        }));
    }
    events
}

pub fn signal(ts: i64, rule: &str, direction: Direction) -> Event {
    Event::Signal(Signal {
        id: format!("{rule}-{ts}"),
        ts: UnixNanos(ts),
        exchange: Exchange::Binance,
        symbol: Some(symbol("BTC-USDT")),
        interval: Some(Interval::M1),
        rule: rule.to_owned(),
        direction,
        values: BTreeMap::from([("rsi_14".to_owned(), 71.5)]),
    })
}

pub fn status(ts: i64, state: FeedState, symbol_text: Option<&str>) -> Event {
    Event::Status(FeedStatus {
        exchange: Exchange::Kraken,
        symbol: symbol_text.map(symbol),
        raw_symbol: None,
        ts_event: UnixNanos(ts),
        ts_recv: UnixNanos(ts),
        state,
        detail: format!("feed is {state:?}"),
        reason: (state == FeedState::Rejected).then(|| "invalid_price".to_owned()),
        connection_id: Some(1),
        expected_sequence: (state == FeedState::Gap).then_some(41),
        received_sequence: (state == FeedState::Gap).then_some(45),
    })
}

pub fn book(ts: i64) -> Event {
    Event::Book(BookUpdate {
        exchange: Exchange::Okx,
        symbol: symbol("BTC-USDT"),
        raw_symbol: "BTC-USDT".into(),
        ts_event: UnixNanos(ts),
        ts_recv: UnixNanos(ts + 1),
        action: BookAction::Snapshot,
        bids: vec![
            Level(decimal("90000.1"), decimal("1.5")),
            Level(decimal("90000"), decimal("2")),
        ],
        asks: vec![Level(decimal("90000.2"), decimal("0.25"))],
        synced: true,
        sequence: Some(123),
        first_sequence: None,
        prev_sequence: Some(122),
        checksum: None,
    })
}

/// One event of every type, spread over two UTC days.
pub fn one_of_each() -> Vec<Event> {
    let mut events = trades(
        Exchange::Binance,
        "BTC-USDT",
        DAY_START + 5 * SECOND,
        SECOND,
        1,
        2,
    );
    events.extend(quotes(
        Exchange::Coinbase,
        "ETH-USD",
        DAY_START + 86_400 * SECOND,
        SECOND,
        2,
    ));
    events.push(book(DAY_START + 7 * SECOND));
    events.extend(bars_and_indicators(
        Exchange::Binance,
        "BTC-USDT",
        Interval::M1,
        DAY_START,
        16,
    ));
    events.push(signal(
        DAY_START + 15 * MINUTE,
        "rsi_overbought",
        Direction::Up,
    ));
    events.push(status(
        DAY_START + 3 * SECOND,
        FeedState::Gap,
        Some("BTC-USD"),
    ));
    events.push(status(DAY_START + 4 * SECOND, FeedState::Connected, None));
    events
}

/// Every file under `root` whose name satisfies `keep`, sorted, relative to `root`.
pub fn files_under(root: &Path, keep: impl Fn(&str) -> bool + Copy) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if keep(&path.file_name().expect("name").to_string_lossy()) {
                out.push(path.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
    }
    out.sort();
    out
}

pub fn parquet_files(root: &Path) -> Vec<PathBuf> {
    files_under(root, |n| n.ends_with(".parquet") && !n.starts_with('.'))
}

pub fn temp_files(root: &Path) -> Vec<PathBuf> {
    files_under(root, |n| n.starts_with('.'))
}

/// The (trade_id, ts_event) of each row of a trades batch.
pub fn trade_ids_and_times(batch: &RecordBatch) -> Vec<(String, i64)> {
    let ids = batch.column_by_name("trade_id").unwrap().as_string::<i32>();
    let ts = batch
        .column_by_name("ts_event")
        .unwrap()
        .as_primitive::<TimestampNanosecondType>();
    (0..batch.num_rows())
        .map(|i| (ids.value(i).to_owned(), ts.value(i)))
        .collect()
}
