//! Tests of the `time_bars` operator: alignment, columns, lateness, gaps, empty and composite bars.

mod common;

use std::time::Duration;

use tickstream_model::{
    AggressorSide, Bar, Event, Exchange, FeedState, Interval, Symbol, UnixNanos,
};
use tickstream_operators::{Operator, TimeBars, TimeBarsConfig};

use common::{SEC, T0, run_all};

fn trade(exchange: Exchange, ts: i64, price: &str, quantity: &str, side: AggressorSide) -> Event {
    let (price, quantity) = (price.parse().unwrap(), quantity.parse().unwrap());
    common::trade(
        exchange,
        &Symbol::spot("BTC", "USDT"),
        ts,
        price,
        quantity,
        side,
    )
}

fn status(state: FeedState, ts: i64, symbol: Option<Symbol>) -> Event {
    common::status(Exchange::Binance, symbol.as_ref(), ts, state)
}

fn config(intervals: &[Interval]) -> TimeBarsConfig {
    TimeBarsConfig {
        intervals: intervals.to_vec(),
        ..TimeBarsConfig::default()
    }
}

fn run(op: &mut TimeBars, events: &[Event]) -> Vec<Bar> {
    run_all(op, events)
        .into_iter()
        .map(|e| match e {
            Event::Bar(b) => b,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[test]
fn a_bar_has_every_column_and_closes_when_the_watermark_passes_it() {
    let mut op = TimeBars::new(config(&[Interval::M1])).unwrap();
    let b = Exchange::Binance;
    let bars = run(
        &mut op,
        &[
            trade(b, T0 + 5 * SEC, "100.0", "1", AggressorSide::Buy),
            trade(b, T0 + 20 * SEC, "103.5", "2", AggressorSide::Sell),
            // Arrives later but happened earlier: it becomes the open.
            trade(b, T0 + 2 * SEC, "101.0", "1", AggressorSide::Unknown),
            trade(b, T0 + 59 * SEC, "99.0", "0.5", AggressorSide::Buy),
            // 61 s: the watermark is 59 s, the first bar (closing at 60 s) stays open.
            trade(b, T0 + 61 * SEC, "98.0", "1", AggressorSide::Buy),
        ],
    );
    assert!(bars.is_empty());
    let bars = run(
        &mut op,
        &[trade(b, T0 + 62 * SEC, "98.5", "1", AggressorSide::Sell)],
    );
    assert_eq!(bars.len(), 1);
    let bar = &bars[0];
    assert_eq!(
        (bar.exchange, bar.symbol.as_str(), bar.interval),
        (b, "BTC-USDT", Interval::M1)
    );
    assert_eq!((bar.open_time.0, bar.close_time.0), (T0, T0 + 60 * SEC));
    assert_eq!(
        (bar.open, bar.high, bar.low, bar.close),
        (101.0, 103.5, 99.0, 99.0)
    );
    assert_eq!((bar.volume, bar.trades), (4.5, 4));
    assert_eq!(bar.quote_volume, 100.0 + 207.0 + 101.0 + 49.5);
    assert_eq!(bar.vwap, bar.quote_volume / 4.5);
    assert_eq!((bar.buy_volume, bar.sell_volume), (1.5, 2.0));
    assert!(!bar.gap);
}

#[test]
fn bars_of_several_intervals_align_to_the_epoch() {
    let mut op = TimeBars::new(config(&[Interval::S5, Interval::M1])).unwrap();
    let b = Exchange::Binance;
    let mut events: Vec<Event> = (0..130)
        .map(|s| trade(b, T0 + 3 * SEC + s * SEC, "10", "1", AggressorSide::Buy))
        .collect();
    events.push(trade(b, T0 + 200 * SEC, "10", "1", AggressorSide::Buy));
    let bars = run(&mut op, &events);
    let minutes: Vec<_> = bars
        .iter()
        .filter(|b| b.interval == Interval::M1)
        .map(|b| (b.open_time.0 - T0) / SEC)
        .collect();
    assert_eq!(minutes, vec![0, 60, 120]);
    let fives: Vec<_> = bars.iter().filter(|b| b.interval == Interval::S5).collect();
    assert_eq!(fives.len(), 27);
    assert!(fives.iter().all(|b| (b.open_time.0 - T0) % (5 * SEC) == 0));
    assert_eq!(fives[0].trades, 2);
    assert_eq!(fives[1].trades, 5);
    // Emitted in close-time order.
    assert!(bars.windows(2).all(|w| w[0].close_time <= w[1].close_time));
}

#[test]
fn a_trade_for_a_closed_bar_is_counted_late_and_dropped() {
    let mut op = TimeBars::new(config(&[Interval::S1, Interval::M1])).unwrap();
    let b = Exchange::Binance;
    let bars = run(
        &mut op,
        &[
            trade(b, T0 + 10 * SEC, "10", "1", AggressorSide::Buy),
            trade(b, T0 + 15 * SEC, "11", "1", AggressorSide::Buy),
            // 3 s behind the newest trade: its 1 s bar is closed, its 1 m bar is not.
            trade(b, T0 + 12 * SEC, "50", "1", AggressorSide::Buy),
            trade(b, T0 + 70 * SEC, "12", "1", AggressorSide::Buy),
        ],
    );
    assert_eq!(op.late_trades(), 1);
    let seconds: Vec<_> = bars
        .iter()
        .filter(|b| b.interval == Interval::S1)
        .map(|b| b.open_time.0 - T0)
        .collect();
    assert_eq!(seconds, vec![10 * SEC, 15 * SEC]);
    let minute = bars.iter().find(|b| b.interval == Interval::M1).unwrap();
    assert_eq!((minute.trades, minute.high), (3, 50.0));
}

#[test]
fn bars_overlapping_a_reported_outage_are_flagged() {
    let mut op = TimeBars::new(config(&[Interval::M1])).unwrap();
    let b = Exchange::Binance;
    let bars = run(
        &mut op,
        &[
            trade(b, T0 + 10 * SEC, "10", "1", AggressorSide::Buy),
            status(FeedState::Disconnected, T0 + 100 * SEC, None),
            trade(b, T0 + 90 * SEC, "10", "1", AggressorSide::Buy),
            status(FeedState::Subscribed, T0 + 130 * SEC, None),
            trade(b, T0 + 150 * SEC, "10", "1", AggressorSide::Buy),
            trade(b, T0 + 200 * SEC, "10", "1", AggressorSide::Buy),
            status(
                FeedState::Gap,
                T0 + 250 * SEC,
                Some(Symbol::spot("ETH", "USDT")),
            ),
            trade(b, T0 + 260 * SEC, "10", "1", AggressorSide::Buy),
            status(
                FeedState::Resync,
                T0 + 330 * SEC,
                Some(Symbol::spot("BTC", "USDT")),
            ),
            trade(b, T0 + 340 * SEC, "10", "1", AggressorSide::Buy),
            trade(b, T0 + 500 * SEC, "10", "1", AggressorSide::Buy),
        ],
    );
    let flags: Vec<_> = bars
        .iter()
        .map(|b| ((b.open_time.0 - T0) / SEC, b.gap))
        .collect();
    // Outage 100..130 s touches the bars at 60 and 120; the ETH gap does not touch BTC; the BTC resync
    // at 330 s marks its bar.
    assert_eq!(
        flags,
        vec![
            (0, false),
            (60, true),
            (120, true),
            (180, false),
            (240, false),
            (300, true)
        ]
    );
}

#[test]
fn empty_intervals_get_flat_bars_only_when_asked() {
    let b = Exchange::Binance;
    let events = [
        trade(b, T0 + 10 * SEC, "10", "1", AggressorSide::Buy),
        trade(b, T0 + 20 * SEC, "12", "1", AggressorSide::Buy),
        trade(b, T0 + 250 * SEC, "13", "1", AggressorSide::Buy),
    ];
    let plain = run(
        &mut TimeBars::new(config(&[Interval::M1])).unwrap(),
        &events,
    );
    assert_eq!(plain.len(), 1);
    let mut cfg = config(&[Interval::M1]);
    cfg.fill_empty = true;
    let filled = run(&mut TimeBars::new(cfg).unwrap(), &events);
    let times: Vec<_> = filled.iter().map(|b| (b.open_time.0 - T0) / SEC).collect();
    // The watermark (248 s) has passed 240 s: the bar at 240 s stays open.
    assert_eq!(times, vec![0, 60, 120, 180]);
    for flat in &filled[1..] {
        assert_eq!(
            (
                flat.open,
                flat.high,
                flat.low,
                flat.close,
                flat.volume,
                flat.trades
            ),
            (12.0, 12.0, 12.0, 12.0, 0.0, 0)
        );
    }
}

#[test]
fn composite_bars_weight_venues_by_volume() {
    let mut cfg = config(&[Interval::M1]);
    cfg.composite = true;
    let mut op = TimeBars::new(cfg).unwrap();
    let bars = run(
        &mut op,
        &[
            trade(Exchange::Binance, T0 + SEC, "100", "3", AggressorSide::Buy),
            trade(
                Exchange::Coinbase,
                T0 + 2 * SEC,
                "104",
                "1",
                AggressorSide::Sell,
            ),
            trade(
                Exchange::Binance,
                T0 + 70 * SEC,
                "100",
                "1",
                AggressorSide::Buy,
            ),
        ],
    );
    assert_eq!(bars.len(), 3);
    assert_eq!(
        bars.iter().map(|b| b.exchange).collect::<Vec<_>>(),
        [Exchange::Binance, Exchange::Coinbase, Exchange::Composite]
    );
    let c = &bars[2];
    assert_eq!(
        (c.open, c.close, c.volume, c.trades),
        (101.0, 101.0, 4.0, 2)
    );
    assert_eq!((c.vwap, c.buy_volume, c.sell_volume), (101.0, 3.0, 1.0));
}

#[test]
fn invalid_trades_are_rejected_without_moving_time() {
    let mut op = TimeBars::new(config(&[Interval::M1])).unwrap();
    let b = Exchange::Binance;
    let mut future = trade(b, T0 + 3_600 * SEC, "10", "1", AggressorSide::Buy);
    if let Event::Trade(t) = &mut future {
        t.ts_recv = UnixNanos(T0);
    }
    let bars = run(
        &mut op,
        &[
            trade(b, T0 + SEC, "0", "1", AggressorSide::Buy),
            trade(b, T0 + SEC, "-5", "1", AggressorSide::Buy),
            trade(b, T0 + SEC, "10", "0", AggressorSide::Buy),
            future,
            trade(b, T0 + 2 * SEC, "10", "1", AggressorSide::Buy),
        ],
    );
    assert!(bars.is_empty());
    assert_eq!(op.rejected_trades(), 4);
    assert_eq!(op.watermark(), UnixNanos(T0));
}

#[test]
fn config_errors_name_the_field() {
    let cfg: TimeBarsConfig = toml::from_str("intervals = [\"1m\", \"5m\", \"1m\"]").unwrap();
    assert_eq!(cfg.allowed_lateness, Duration::from_secs(2));
    let err = cfg.validate().unwrap_err().to_string();
    assert!(err.starts_with("intervals[2]:"), "{err}");
    let cfg: TimeBarsConfig = toml::from_str("intervals = []").unwrap();
    assert!(
        cfg.validate()
            .unwrap_err()
            .to_string()
            .starts_with("intervals:")
    );
    let err = toml::from_str::<TimeBarsConfig>("interval = [\"1m\"]")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field"), "{err}");
    let cfg: TimeBarsConfig =
        toml::from_str("intervals = [\"1s\"]\nallowed_lateness = \"500ms\"\nfill_empty = true")
            .unwrap();
    assert_eq!(cfg.allowed_lateness, Duration::from_millis(500));
    assert!(cfg.fill_empty && !cfg.composite);
}

#[test]
fn a_sentinel_watermark_cannot_fill_bars_without_end() {
    let mut cfg = config(&[Interval::M1]);
    cfg.fill_empty = true;
    let mut op = TimeBars::new(cfg).unwrap();
    let mut out = Vec::new();
    op.on_watermark(UnixNanos(i64::MAX), &mut out);
    assert!(out.is_empty());
    op.on_event(
        &trade(
            Exchange::Binance,
            T0 + 10 * SEC,
            "10",
            "1",
            AggressorSide::Buy,
        ),
        &mut out,
    );
    op.on_watermark(UnixNanos(i64::MAX), &mut out);
    // The real bar, then flat bars up to one day past the trade.
    assert_eq!(out.len(), 1_440);
    assert_eq!(op.watermark(), UnixNanos(T0 + 10 * SEC + 86_400 * SEC));
}

#[test]
fn finishing_a_bounded_input_closes_every_open_bar_without_filling_past_the_data() {
    let b = Exchange::Binance;
    let events = [
        trade(b, T0 + 10 * SEC, "10", "1", AggressorSide::Buy),
        trade(b, T0 + 70 * SEC, "11", "1", AggressorSide::Buy),
        trade(b, T0 + 200 * SEC, "12", "2", AggressorSide::Sell),
    ];
    let mut cfg = config(&[Interval::M1, Interval::H1]);
    cfg.fill_empty = true;
    let mut op = TimeBars::new(cfg).unwrap();
    let mut bars = run(&mut op, &events);
    let mut out = Vec::new();
    op.finish(&mut out);
    bars.extend(out.into_iter().map(|e| match e {
        Event::Bar(bar) => bar,
        other => panic!("not a bar: {other:?}"),
    }));
    let seen: Vec<_> = bars
        .iter()
        .map(|b| (b.interval, (b.open_time.0 - T0) / SEC, b.trades))
        .collect();
    // The minutes up to the last trade (one flat), the last minute and the hour: nothing after 4 min.
    assert_eq!(
        seen,
        vec![
            (Interval::M1, 0, 1),
            (Interval::M1, 60, 1),
            (Interval::M1, 120, 0),
            (Interval::M1, 180, 1),
            (Interval::H1, 0, 3),
        ]
    );
    // Finishing again emits nothing.
    let mut again = Vec::new();
    op.finish(&mut again);
    assert!(again.is_empty());
}
