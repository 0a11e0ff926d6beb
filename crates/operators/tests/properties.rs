//! Property tests: the incremental indicators agree with naive whole-window reference implementations, and
//! bars and indicators do not depend on where the runtime inserts watermarks.

mod common;

use std::collections::BTreeMap;

use proptest::prelude::*;
use tickstream_model::{Bar, Event, Interval, UnixNanos};
use tickstream_operators::{Indicators, IndicatorsConfig, Operator, TimeBars, TimeBarsConfig};

use common::{SEC, bar, market};

/// A random OHLCV walk; some steps are flat to hit the zero-range branches.
fn series() -> impl Strategy<Value = Vec<Bar>> {
    let step = (
        prop_oneof![3 => -0.02f64..0.02, 1 => Just(0.0)],
        0.0f64..0.01,
        0.0f64..0.01,
        0.01f64..100.0,
    );
    (1.0f64..10_000.0, prop::collection::vec(step, 1..300)).prop_map(|(start, steps)| {
        let mut close = start;
        steps
            .into_iter()
            .enumerate()
            .map(|(i, (ret, up, down, volume))| {
                let open = close;
                close = open * (1.0 + ret);
                bar(
                    i,
                    open,
                    open.max(close) * (1.0 + up),
                    open.min(close) * (1.0 - down),
                    close,
                    volume,
                )
            })
            .collect()
    })
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

fn ema(xs: &[f64], n: usize, seed_at: usize) -> Vec<Option<f64>> {
    let k = 2.0 / (n as f64 + 1.0);
    let mut out = vec![None; xs.len()];
    if xs.len() < seed_at + n {
        return out;
    }
    let mut value = mean(&xs[seed_at..seed_at + n]);
    out[seed_at + n - 1] = Some(value);
    for i in seed_at + n..xs.len() {
        value += (xs[i] - value) * k;
        out[i] = Some(value);
    }
    out
}

fn wilder(xs: &[f64], n: usize) -> Vec<f64> {
    let mut out = Vec::new();
    if xs.len() >= n {
        let mut value = mean(&xs[..n]);
        out.push(value);
        for x in &xs[n..] {
            value = (value * (n as f64 - 1.0) + x) / n as f64;
            out.push(value);
        }
    }
    out
}

/// The default indicator set computed from its definitions over whole windows.
fn reference(bars: &[Bar]) -> Vec<BTreeMap<String, f64>> {
    let close: Vec<f64> = bars.iter().map(|b| b.close).collect();
    let mut rows = vec![BTreeMap::new(); bars.len()];
    for i in 0..bars.len() {
        let row = &mut rows[i];
        if i >= 19 {
            let window = &close[i - 19..=i];
            let m = mean(window);
            let sd = (window.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / 20.0).sqrt();
            row.insert("sma_20".into(), m);
            row.insert("bbands_20_2_upper".into(), m + 2.0 * sd);
            row.insert("bbands_20_2_middle".into(), m);
            row.insert("bbands_20_2_lower".into(), m - 2.0 * sd);
        }
    }
    for (name, n) in [("ema_12", 12), ("ema_26", 26)] {
        for (i, v) in ema(&close, n, 0).into_iter().enumerate() {
            v.map(|v| rows[i].insert(name.into(), v));
        }
    }
    if close.len() >= 26 {
        let fast = ema(&close, 12, 14);
        let slow = ema(&close, 26, 0);
        let line: Vec<f64> = (25..close.len())
            .map(|i| fast[i].unwrap() - slow[i].unwrap())
            .collect();
        for (j, signal) in ema(&line, 9, 0).into_iter().enumerate() {
            if let Some(signal) = signal {
                let row = &mut rows[25 + j];
                row.insert("macd_12_26_9".into(), line[j]);
                row.insert("macd_12_26_9_signal".into(), signal);
                row.insert("macd_12_26_9_hist".into(), line[j] - signal);
            }
        }
    }
    let changes: Vec<f64> = close.windows(2).map(|w| w[1] - w[0]).collect();
    let gains = wilder(&changes.iter().map(|c| c.max(0.0)).collect::<Vec<_>>(), 14);
    let losses = wilder(
        &changes.iter().map(|c| (-c).max(0.0)).collect::<Vec<_>>(),
        14,
    );
    for (j, (g, l)) in gains.iter().zip(&losses).enumerate() {
        rows[14 + j].insert(
            "rsi_14".into(),
            if g + l < 1e-8 {
                0.0
            } else {
                100.0 * g / (g + l)
            },
        );
    }
    let ranges: Vec<f64> = (1..bars.len())
        .map(|i| {
            let (b, prev) = (&bars[i], bars[i - 1].close);
            (b.high - b.low)
                .max((b.high - prev).abs())
                .max((b.low - prev).abs())
        })
        .collect();
    for (j, atr) in wilder(&ranges, 14).into_iter().enumerate() {
        rows[14 + j].insert("atr_14".into(), atr);
    }
    let fast_k: Vec<f64> = (13..bars.len())
        .map(|i| {
            let hh = bars[i - 13..=i]
                .iter()
                .map(|b| b.high)
                .fold(f64::MIN, f64::max);
            let ll = bars[i - 13..=i]
                .iter()
                .map(|b| b.low)
                .fold(f64::MAX, f64::min);
            if hh == ll {
                0.0
            } else {
                100.0 * (close[i] - ll) / (hh - ll)
            }
        })
        .collect();
    let slow_k: Vec<f64> = fast_k.windows(3).map(mean).collect();
    for (j, d) in slow_k.windows(3).map(mean).enumerate() {
        rows[17 + j].insert("stoch_14_3_3_k".into(), slow_k[j + 2]);
        rows[17 + j].insert("stoch_14_3_3_d".into(), d);
    }
    let (mut obv, mut qv, mut v) = (0.0, 0.0, 0.0);
    for (i, b) in bars.iter().enumerate() {
        obv += if i == 0 || b.close > close[i - 1] {
            b.volume
        } else if b.close < close[i - 1] {
            -b.volume
        } else {
            0.0
        };
        qv += b.vwap * b.volume;
        v += b.volume;
        rows[i].insert("obv".into(), obv);
        rows[i].insert("vwap_daily".into(), qv / v);
    }
    rows
}

fn indicator_rows(bars: &[Bar]) -> Vec<BTreeMap<String, f64>> {
    let mut op = Indicators::new(IndicatorsConfig::default()).unwrap();
    let mut out = Vec::new();
    for b in bars {
        op.on_event(&Event::Bar(b.clone()), &mut out);
    }
    out.into_iter()
        .map(|e| match e {
            Event::Indicator(row) => row.values,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn indicators_match_naive_references(bars in series()) {
        let rows = indicator_rows(&bars);
        let want = reference(&bars);
        prop_assert_eq!(rows.len(), want.len());
        let level = bars[0].open;
        for (i, (got, want)) in rows.iter().zip(&want).enumerate() {
            prop_assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "bar {}", i);
            for (name, w) in want {
                // Oscillators are on a 0..100 scale, the rest on the price's (or the volume's) scale.
                let scale = if name.starts_with("rsi") || name.starts_with("stoch") { 100.0 } else { level + w.abs() };
                let g = got[name];
                prop_assert!((g - w).abs() <= 1e-9 * scale, "{}[{}]: {} vs reference {}", name, i, g, w);
            }
        }
    }

    #[test]
    fn output_does_not_depend_on_watermark_timing(seed in 1u64..u64::MAX, cuts in prop::collection::vec(0usize..2_000, 0..40), fill_empty: bool, composite: bool) {
        let events = market(seed, 2_000);
        let config = TimeBarsConfig { intervals: vec![Interval::S1, Interval::S15, Interval::M1], fill_empty, composite, ..TimeBarsConfig::default() };
        let run = |cuts: &[usize]| {
            let mut bars = TimeBars::new(config.clone()).unwrap();
            let mut indicators = Indicators::new(IndicatorsConfig::default()).unwrap();
            let mut out = Vec::new();
            for (i, event) in events.iter().enumerate() {
                if cuts.contains(&i) {
                    // An idle source: event time moves up to, but not past, the oldest event still to come.
                    let oldest_to_come = events[i..].iter().map(|e| e.ts_event().0).min().unwrap_or(i64::MAX);
                    bars.on_watermark(UnixNanos(oldest_to_come), &mut out);
                }
                bars.on_event(event, &mut out);
            }
            let newest = events.iter().map(|e| e.ts_event().0).max().unwrap_or_default();
            bars.on_watermark(UnixNanos(newest + 90 * SEC), &mut out);
            let mut all = out.clone();
            for e in &out {
                indicators.on_event(e, &mut all);
            }
            (all, bars.late_trades())
        };
        let (plain, late) = run(&[]);
        prop_assert!(late > 0);
        prop_assert!(plain.len() > 100);
        let (cut, cut_late) = run(&cuts);
        prop_assert_eq!(late, cut_late);
        prop_assert!(plain == cut);
    }
}

#[test]
fn watermarks_alone_close_bars_of_an_idle_market() {
    let events = market(7, 50);
    let mut op = TimeBars::new(TimeBarsConfig::default()).unwrap();
    let mut out = Vec::new();
    for e in &events {
        op.on_event(e, &mut out);
    }
    let before = out.len();
    let last = events.iter().map(|e| e.ts_event().0).max().unwrap();
    op.on_watermark(UnixNanos(last + 120 * SEC), &mut out);
    assert!(out.len() > before);
    // A watermark never moves time backwards.
    op.on_watermark(UnixNanos(0), &mut out);
    assert_eq!(op.watermark(), UnixNanos(last + 120 * SEC));
}
