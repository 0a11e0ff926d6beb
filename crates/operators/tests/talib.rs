//! Golden test: every indicator of the default set equals TA-Lib's output on the committed series
//! (`fixtures/talib_vectors.json`, made by `fixtures/make_talib_vectors.py` with the `TA-Lib` package),
//! within 1e-9 relative, with the same first output bar.

mod common;

use std::collections::BTreeMap;

use tickstream_model::{Bar, Event};
use tickstream_operators::{Indicators, IndicatorsConfig, Operator};

#[derive(serde::Deserialize)]
struct Vectors {
    open: Vec<f64>,
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
    volume: Vec<f64>,
    outputs: BTreeMap<String, Vec<Option<f64>>>,
}

fn vectors() -> Vectors {
    let text = include_str!("fixtures/talib_vectors.json");
    serde_json::from_str(text).expect("fixture parses")
}

fn bars(v: &Vectors) -> Vec<Bar> {
    (0..v.close.len())
        .map(|i| common::bar(i, v.open[i], v.high[i], v.low[i], v.close[i], v.volume[i]))
        .collect()
}

#[test]
fn default_indicators_equal_talib() {
    let v = vectors();
    let mut op = Indicators::new(IndicatorsConfig::default()).unwrap();
    let mut rows: Vec<BTreeMap<String, f64>> = Vec::new();
    for bar in bars(&v) {
        let mut out = Vec::new();
        op.on_event(&Event::Bar(bar), &mut out);
        assert_eq!(out.len(), 1, "one row per bar (obv always has a value)");
        let Event::Indicator(row) = out.remove(0) else {
            panic!("not an indicator row")
        };
        rows.push(row.values);
    }
    let mut worst = (0.0f64, String::new());
    for (column, expected) in &v.outputs {
        let first_expected = expected.iter().position(Option::is_some);
        let first_actual = rows.iter().position(|r| r.contains_key(column));
        assert_eq!(first_actual, first_expected, "{column}: first output bar");
        for (i, want) in expected.iter().enumerate() {
            let got = rows[i].get(column).copied();
            match (got, want) {
                (None, None) => {}
                (Some(got), Some(want)) => {
                    let error = (got - want).abs();
                    let relative = if *want == 0.0 {
                        error
                    } else {
                        error / want.abs()
                    };
                    if relative > worst.0 {
                        worst = (relative, format!("{column}[{i}]"));
                    }
                    assert!(relative <= 1e-9, "{column}[{i}]: {got} != TA-Lib {want}");
                }
                _ => panic!("{column}[{i}]: {got:?} but TA-Lib has {want:?}"),
            }
        }
    }
    eprintln!(
        "largest relative difference from TA-Lib: {:e} at {}",
        worst.0, worst.1
    );
}
