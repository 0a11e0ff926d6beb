//! The operator nodes of a pipeline file, read the way the binary's registry reads them: each node's
//! table without `kind` and `inputs` becomes the component's config, which is then validated; the
//! graph check uses each kind's accepted and emitted event kinds.

mod common;

use tickstream_model::EventKind;
use tickstream_operators::{
    IndicatorsConfig, SignalConfig, TimeBarsConfig, indicators_io, signal_io, time_bars_io,
};

use common::{EMA_CROSS, RSI_EXTREMES, rule_tables};

/// The operator nodes, up to the signal node's rules.
const PIPELINE: &str = r#"
[operators.bars]
kind = "time_bars"
inputs = ["binance", "coinbase"]
intervals = ["1m", "1h"]
allowed_lateness = "2s"
composite = true

[operators.indicators]
kind = "indicators"
inputs = ["bars"]

[operators.signals]
kind = "signal"
inputs = ["bars", "indicators", "binance", "coinbase"]
"#;

/// The pipeline: its operator nodes and the signal node's rules.
fn pipeline() -> String {
    let rules = rule_tables("operators.signals.rules", &[EMA_CROSS, RSI_EXTREMES]);
    format!("{PIPELINE}{rules}")
}

fn node(doc: &toml::Table, name: &str) -> toml::Table {
    let mut table = doc["operators"][name].as_table().unwrap().clone();
    table.remove("kind");
    table.remove("inputs");
    table
}

#[test]
fn operator_nodes_read_into_their_configs() {
    let doc: toml::Table = pipeline().parse().unwrap();
    let bars: TimeBarsConfig = node(&doc, "bars").try_into().unwrap();
    bars.validate().unwrap();
    assert!(bars.composite && !bars.fill_empty && bars.intervals.len() == 2);
    let indicators: IndicatorsConfig = node(&doc, "indicators").try_into().unwrap();
    indicators.validate().unwrap();
    assert_eq!(indicators.indicators.len(), 10);
    let signals: SignalConfig = node(&doc, "signals").try_into().unwrap();
    signals.validate().unwrap();
    assert_eq!(
        signals.rules.iter().map(|r| r.name()).collect::<Vec<_>>(),
        ["ema_cross", "rsi_extremes"]
    );

    assert!(
        time_bars_io()
            .emits
            .iter()
            .all(|k| indicators_io().accepts.contains(k))
    );
    assert!(signal_io().accepts.contains(&EventKind::Indicator));
    assert_eq!(signal_io().emits, &[EventKind::Signal]);
}
