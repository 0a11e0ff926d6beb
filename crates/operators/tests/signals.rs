//! Tests of the `signal` operator: the TOML shape, each rule kind, firing on transitions only, and the
//! join of bars with their indicator rows in either order.

mod common;

use tickstream_model::{
    Direction, Event, Exchange, FeedState, Interval, Signal, Symbol, UnixNanos,
};
use tickstream_operators::{Operator, SignalConfig, SignalRule, Signals};

use common::{
    BOLLINGER_BREAK, EMA_CROSS, RSI_EXTREMES, SEC, T0, feed_down, row, rule_tables, run_all,
    venue_spread, volume_spike,
};

fn signals(toml_text: &str) -> Signals {
    let config: SignalConfig = toml::from_str(toml_text).unwrap();
    Signals::new(config).unwrap()
}

fn bar(i: usize, close: f64, volume: f64) -> Event {
    Event::Bar(common::bar(i, close, close, close, close, volume))
}

fn quote(exchange: Exchange, ts: i64, bid: &str, ask: &str) -> Event {
    common::quote(
        exchange,
        &Symbol::spot("BTC", "USDT"),
        ts,
        bid.parse().unwrap(),
        ask.parse().unwrap(),
    )
}

fn status(state: FeedState, ts: i64) -> Event {
    common::status(Exchange::Kraken, None, ts, state)
}

fn run(op: &mut Signals, events: &[Event]) -> Vec<Signal> {
    run_all(op, events)
        .into_iter()
        .map(|e| match e {
            Event::Signal(s) => s,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

/// One rule of every kind.
fn all_rules() -> String {
    rule_tables(
        "rules",
        &[
            EMA_CROSS,
            RSI_EXTREMES,
            BOLLINGER_BREAK,
            &volume_spike(3.0, 3),
            &venue_spread(25),
            &feed_down("30s"),
        ],
    )
}

#[test]
fn every_rule_kind_reads_from_toml_and_mistakes_name_the_field() {
    let config: SignalConfig = toml::from_str(&all_rules()).unwrap();
    config.validate().unwrap();
    assert_eq!(config.rules.len(), 6);
    assert!(matches!(&config.rules[2], SignalRule::BandBreak(r) if r.price == "close"));
    let unknown = toml::from_str::<SignalConfig>(
        "[[rules]]\nname = \"x\"\nkind = \"crossover\"\nfast = \"a\"\nslow = \"b\"\nextra = 1",
    );
    assert!(
        unknown
            .unwrap_err()
            .to_string()
            .contains("unknown field `extra`")
    );
    let kind = toml::from_str::<SignalConfig>("[[rules]]\nname = \"x\"\nkind = \"moon\"");
    assert!(
        kind.unwrap_err()
            .to_string()
            .contains("unknown variant `moon`")
    );
    let twice = format!(
        "{}\n[[rules]]\nname = \"ema_cross\"\nkind = \"volume_spike\"\nfactor = 2\nbars = 5\n",
        all_rules()
    );
    let err = toml::from_str::<SignalConfig>(&twice)
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("rules[6].name:"), "{err}");
    let bad = toml::from_str::<SignalConfig>(
        "[[rules]]\nname = \"t\"\nkind = \"threshold\"\nvalue = \"rsi_14\"",
    )
    .unwrap();
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .starts_with("rules[0].above:")
    );
    let bad =
        toml::from_str::<SignalConfig>("[[rules]]\nname = \"s\"\nkind = \"spread\"\nbps = -1")
            .unwrap();
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .starts_with("rules[0].bps:")
    );
}

#[test]
fn a_crossover_fires_once_per_cross_with_a_deterministic_id() {
    let mut op = signals(&all_rules());
    let pairs = [
        (1.0, 2.0),
        (1.5, 2.0),
        (2.5, 2.0),
        (3.0, 2.0),
        (2.0, 2.0),
        (3.0, 2.0),
        (1.0, 2.0),
    ];
    let events: Vec<Event> = pairs
        .iter()
        .enumerate()
        .map(|(i, (f, s))| row(i, &[("ema_12", *f), ("ema_26", *s)]))
        .collect();
    let fired = run(&mut op, &events);
    let seen: Vec<_> = fired
        .iter()
        .map(|s| (s.direction, (s.ts.0 - T0) / SEC))
        .collect();
    // Up at bar 2 (closing at 180 s); touching at bar 4 is not a cross; down at bar 6.
    assert_eq!(seen, vec![(Direction::Up, 180), (Direction::Down, 420)]);
    let first = &fired[0];
    assert_eq!(
        first.id,
        format!("ema_cross:binance:BTC-USDT:1m:{}:up", T0 + 180 * SEC)
    );
    assert_eq!(
        (first.rule.as_str(), first.interval, first.values["ema_12"]),
        ("ema_cross", Some(Interval::M1), 2.5)
    );
    assert_eq!(run(&mut signals(&all_rules()), &events), fired);
}

#[test]
fn a_threshold_fires_when_entered_not_while_held() {
    let mut op = signals(&all_rules());
    let rsi = [50.0, 71.0, 75.0, 65.0, 72.0, 29.0, 20.0, 31.0];
    let events: Vec<Event> = rsi
        .iter()
        .enumerate()
        .map(|(i, v)| row(i, &[("rsi_14", *v)]))
        .collect();
    let fired = run(&mut op, &events);
    let seen: Vec<_> = fired
        .iter()
        .map(|s| (s.direction, s.values["rsi_14"], s.values["threshold"]))
        .collect();
    assert_eq!(
        seen,
        vec![
            (Direction::Up, 71.0, 70.0),
            (Direction::Up, 72.0, 70.0),
            (Direction::Down, 29.0, 30.0)
        ]
    );
}

#[test]
fn a_band_break_joins_bars_and_rows_in_either_order() {
    let bands = |i| {
        row(
            i,
            &[("bbands_20_2_upper", 105.0), ("bbands_20_2_lower", 95.0)],
        )
    };
    let bar_first = [
        bar(0, 100.0, 1.0),
        bands(0),
        bar(1, 106.0, 1.0),
        bands(1),
        bar(2, 94.0, 1.0),
        bands(2),
    ];
    let row_first = [
        bands(0),
        bar(0, 100.0, 1.0),
        bands(1),
        bar(1, 106.0, 1.0),
        bands(2),
        bar(2, 94.0, 1.0),
    ];
    let a = run(&mut signals(&all_rules()), &bar_first);
    let b = run(&mut signals(&all_rules()), &row_first);
    assert_eq!(a, b);
    let seen: Vec<_> = a
        .iter()
        .filter(|s| s.rule == "bollinger_break")
        .map(|s| (s.direction, s.values["close"]))
        .collect();
    assert_eq!(seen, vec![(Direction::Up, 106.0), (Direction::Down, 94.0)]);
}

#[test]
fn a_band_break_does_not_depend_on_how_far_bars_run_ahead_of_their_rows() {
    // As while a backlog is read: the bars reach the signal operator long before their indicator rows.
    let bands = |i| {
        row(
            i,
            &[("bbands_20_2_upper", 105.0), ("bbands_20_2_lower", 95.0)],
        )
    };
    let close = |i: usize| match i % 7 {
        2 => 106.0,
        5 => 94.0,
        _ => 100.0,
    };
    let n = 300;
    let interleaved: Vec<Event> = (0..n)
        .flat_map(|i| [bar(i, close(i), 1.0), bands(i)])
        .collect();
    let mut bars_ahead: Vec<Event> = (0..n).map(|i| bar(i, close(i), 1.0)).collect();
    bars_ahead.extend((0..n).map(bands));
    let a = run(&mut signals(&all_rules()), &interleaved);
    let b = run(&mut signals(&all_rules()), &bars_ahead);
    let breaks = |signals: &[Signal]| {
        signals
            .iter()
            .filter(|s| s.rule == "bollinger_break")
            .count()
    };
    let expected = (0..n).filter(|i| i % 7 == 2 || i % 7 == 5).count();
    assert_eq!(breaks(&a), expected, "every break in the interleaved order");
    assert_eq!(breaks(&a), breaks(&b));
    assert_eq!(
        a.iter()
            .filter(|s| s.rule == "bollinger_break")
            .collect::<Vec<_>>(),
        b.iter()
            .filter(|s| s.rule == "bollinger_break")
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_volume_spike_compares_with_the_bars_before() {
    let volumes = [1.0, 1.0, 1.0, 3.5, 1.0, 10.0, 12.0];
    let events: Vec<Event> = volumes
        .iter()
        .enumerate()
        .map(|(i, v)| bar(i, 100.0, *v))
        .collect();
    let fired = run(&mut signals(&all_rules()), &events);
    let seen: Vec<_> = fired
        .iter()
        .map(|s| (s.values["volume"], s.values["average_volume"]))
        .collect();
    // 3.5 > 3 × 1; 10 > 3 × 1.8333; 12 is not above 3 × 4.8333.
    assert_eq!(seen, vec![(3.5, 1.0), (10.0, 5.5 / 3.0)]);
}

#[test]
fn a_spread_fires_only_between_fresh_quotes() {
    let (b, k) = (Exchange::Binance, Exchange::Kraken);
    let events = [
        quote(b, T0, "100.00", "100.02"),
        // 5 s later: Binance's quote is too old to compare with.
        quote(k, T0 + 5 * SEC, "101.00", "101.02"),
        quote(b, T0 + 6 * SEC, "100.00", "100.02"),
        quote(b, T0 + 6 * SEC + 1, "100.00", "100.02"),
        quote(k, T0 + 7 * SEC, "100.10", "100.12"),
        quote(k, T0 + 8 * SEC, "101.00", "101.02"),
    ];
    let fired = run(&mut signals(&all_rules()), &events);
    let seen: Vec<_> = fired
        .iter()
        .map(|s| ((s.ts.0 - T0) / SEC, s.exchange))
        .collect();
    assert_eq!(seen, vec![(6, b), (8, k)]);
    assert!((fired[0].values["spread_bps"] - 1.0 / 100.51 * 10_000.0).abs() < 1e-6);
    assert_eq!(
        fired[0].id,
        format!("venue_spread:BTC-USDT:binance-kraken:{}", T0 + 6 * SEC)
    );
}

#[test]
fn feed_health_fires_when_an_outage_outlasts_its_window() {
    let mut op = signals(&all_rules());
    let fired = run(
        &mut op,
        &[
            status(FeedState::Disconnected, T0),
            status(FeedState::Connected, T0 + 10 * SEC),
            status(FeedState::Stale, T0 + 100 * SEC),
            quote(Exchange::Binance, T0 + 120 * SEC, "1", "2"),
        ],
    );
    assert!(fired.is_empty());
    let mut out = Vec::new();
    op.on_watermark(UnixNanos(T0 + 140 * SEC), &mut out);
    op.on_watermark(UnixNanos(T0 + 200 * SEC), &mut out);
    assert_eq!(out.len(), 1);
    let Event::Signal(s) = &out[0] else { panic!() };
    assert_eq!(
        (s.exchange, s.ts.0, s.values["impaired_seconds"]),
        (Exchange::Kraken, T0 + 130 * SEC, 30.0)
    );
    assert_eq!(s.id, format!("feed_down:kraken:*:stale:{}", T0 + 130 * SEC));
}

#[test]
fn state_saved_mid_stream_continues_the_same() {
    let events: Vec<Event> = (0..12)
        .flat_map(|i| {
            let x = i as f64;
            [
                bar(i, 100.0 + x, 1.0 + (i % 4) as f64 * 3.0),
                row(
                    i,
                    &[
                        ("ema_12", x.sin()),
                        ("ema_26", 0.0),
                        ("rsi_14", 50.0 + 30.0 * x.cos()),
                    ],
                ),
            ]
        })
        .collect();
    let whole = run(&mut signals(&all_rules()), &events);
    let mut first = signals(&all_rules());
    let mut split = run(&mut first, &events[..9]);
    let mut second = signals(&all_rules());
    second.restore_state(&first.save_state().unwrap()).unwrap();
    split.extend(run(&mut second, &events[9..]));
    assert!(!whole.is_empty());
    assert_eq!(split, whole);
}
