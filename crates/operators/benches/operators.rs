//! Throughput of the stream processors: trades per second through bar building (1m and 1h bars, as in the
//! standard analytics pipeline) and bars per second through the full default indicator set.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tickstream_model::{AggressorSide, Bar, Event, Exchange, Interval, Symbol, Trade, UnixNanos};
use tickstream_operators::{Indicators, IndicatorsConfig, Operator, TimeBars, TimeBarsConfig};

const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_704_067_200 * SEC;

/// A deterministic walk: `count` trades over 2 venues × 4 symbols, ~50 trades per second in total.
fn trades(count: usize) -> Vec<Event> {
    let symbols = ["BTC", "ETH", "SOL", "XRP"].map(|b| Symbol::spot(b, "USDT"));
    let venues = [Exchange::Binance, Exchange::Okx];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut prices = [30_000.0f64; 8];
    (0..count)
        .map(|n| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let which = (state % 8) as usize;
            prices[which] *= 1.0 + ((state >> 20) % 2001) as f64 / 1e7 - 1e-4;
            let ts = T0 + n as i64 * 20_000_000;
            Event::Trade(Trade {
                exchange: venues[which % 2],
                symbol: symbols[which / 2].clone(),
                raw_symbol: "X".into(),
                ts_event: UnixNanos(ts),
                ts_recv: UnixNanos(ts + 1_000_000),
                trade_id: String::new(),
                price: format!("{:.2}", prices[which]).parse().unwrap(),
                quantity: format!("0.{:04}", 1 + (state >> 40) % 9999)
                    .parse()
                    .unwrap(),
                side: if state & 1 == 0 {
                    AggressorSide::Buy
                } else {
                    AggressorSide::Sell
                },
            })
        })
        .collect()
}

/// `count` closed 1-minute bars spread over 8 series.
fn bars(count: usize) -> Vec<Event> {
    let symbols = ["BTC", "ETH", "SOL", "XRP"].map(|b| Symbol::spot(b, "USDT"));
    let mut close = [100.0f64; 8];
    (0..count)
        .map(|n| {
            let series = n % 8;
            let i = (n / 8) as i64;
            let open = close[series];
            close[series] = open * (1.0 + ((n * 7919 % 2001) as f64 - 1000.0) * 1e-5);
            let c = close[series];
            Event::Bar(Bar {
                exchange: if series % 2 == 0 {
                    Exchange::Binance
                } else {
                    Exchange::Okx
                },
                symbol: symbols[series / 2].clone(),
                interval: Interval::M1,
                open_time: UnixNanos(T0 + i * 60 * SEC),
                close_time: UnixNanos(T0 + (i + 1) * 60 * SEC),
                open,
                high: open.max(c) * 1.001,
                low: open.min(c) * 0.999,
                close: c,
                volume: 1.0 + (n % 13) as f64,
                quote_volume: c * (1.0 + (n % 13) as f64),
                trades: 10,
                vwap: c,
                buy_volume: 0.5,
                sell_volume: 0.5,
                gap: false,
            })
        })
        .collect()
}

/// Feeds every event as a runtime would, draining the output after each; returns how many were emitted.
fn feed(op: &mut impl Operator, input: &[Event]) -> usize {
    let mut out = Vec::with_capacity(1024);
    let mut emitted = 0;
    for event in input {
        op.on_event(event, &mut out);
        emitted += out.len();
        out.clear();
    }
    emitted
}

fn bar_building(c: &mut Criterion) {
    let input = trades(1_000_000);
    let mut group = c.benchmark_group("time_bars");
    group.throughput(Throughput::Elements(input.len() as u64));
    group.sample_size(10);
    for intervals in [vec![Interval::M1], vec![Interval::M1, Interval::H1]] {
        let name = intervals
            .iter()
            .map(|i| i.as_str())
            .collect::<Vec<_>>()
            .join("+");
        group.bench_with_input(
            BenchmarkId::new("trades", name),
            &intervals,
            |b, intervals| {
                b.iter(|| {
                    let config = TimeBarsConfig {
                        intervals: intervals.clone(),
                        ..TimeBarsConfig::default()
                    };
                    feed(&mut TimeBars::new(config).unwrap(), &input)
                })
            },
        );
    }
    group.finish();
}

fn indicator_set(c: &mut Criterion) {
    let input = bars(200_000);
    let mut group = c.benchmark_group("indicators");
    group.throughput(Throughput::Elements(input.len() as u64));
    group.sample_size(10);
    group.bench_function("bars/default_set", |b| {
        b.iter(|| {
            feed(
                &mut Indicators::new(IndicatorsConfig::default()).unwrap(),
                &input,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bar_building, indicator_set);
criterion_main!(benches);
