//! The same recorded trades through the processing chain two ways: live, through Kafka (produced by one node,
//! consumed by another in a consumer group), and with `tickstream replay`. Bars, indicators and signals must
//! be identical.

use std::path::Path;
use std::process::Command;

const PIPELINE: &str = r#"
[sources.recorded]
kind = "file"
paths = ["trades.ndjson"]
kinds = ["trade"]

[sinks.bus]
kind = "kafka"
inputs = ["recorded"]
topic_prefix = "equivalence"
partitions = 1

[sources.ticks]
kind = "kafka"
topic_prefix = "equivalence"
partitions = 1
group_id = "equivalence"
kinds = ["trade"]

[operators.bars]
kind = "time_bars"
inputs = ["ticks"]
intervals = ["1m", "5m"]

[operators.indicators]
kind = "indicators"
inputs = ["bars"]

[operators.signals]
kind = "signal"
inputs = ["bars", "indicators"]
[[operators.signals.rules]]
name = "ema_12_cross_26"
kind = "crossover"
fast = "ema_12"
slow = "ema_26"
[[operators.signals.rules]]
name = "rsi_extreme"
kind = "threshold"
value = "rsi_14"
above = 70
below = 30

[sinks.out]
kind = "file"
inputs = ["bars", "indicators", "signals"]
path = "out.ndjson"
"#;

/// Six hours of trades on two symbols, every 5 s, on a wandering price.
fn write_trades(path: &Path) {
    let template: serde_json::Value =
        serde_json::from_str(include_str!("../../../schemas/examples/trade.v1.json")).unwrap();
    let start: i64 = 1_700_000_000_000_000_000 - 1_700_000_000_000_000_000 % 60_000_000_000;
    let mut lines = String::new();
    let mut price = 3_700_000i64;
    for i in 0..4320i64 {
        price += ((i * 7919) % 23) - 11 + if (i / 400) % 2 == 0 { 2 } else { -2 };
        for (n, symbol) in ["BTC-USD", "ETH-USD"].iter().enumerate() {
            let mut t = template.clone();
            let ts = start + i * 5_000_000_000 + n as i64;
            t["symbol"] = (*symbol).into();
            t["ts_event"] = ts.into();
            t["ts_recv"] = (ts + 1_000_000).into();
            t["trade_id"] = format!("{i}-{n}").into();
            t["price"] = format!("{}.{:02}", price / 100 / (n as i64 + 1), price % 100).into();
            t["side"] = if (i + n as i64) % 3 == 0 {
                "sell"
            } else {
                "buy"
            }
            .into();
            lines.push_str(&t.to_string());
            lines.push('\n');
        }
    }
    std::fs::write(path, lines).unwrap();
}

#[test]
fn live_through_kafka_and_replay_give_the_same_bars_indicators_and_signals() {
    let dir = std::env::temp_dir().join(format!("tickstream-equivalence-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("pipeline.toml"), PIPELINE).unwrap();
    write_trades(&dir.join("trades.ndjson"));

    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tickstream"))
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // Live: the recorded trades go into the embedded Kafka cluster and come back through a consumer group.
    run(&[
        "run",
        "--for",
        "12s",
        "--checkpoint-interval",
        "1s",
        "pipeline.toml",
    ]);
    run(&[
        "replay",
        "pipeline.toml",
        "--input",
        "trades.ndjson",
        "--out",
        "replayed",
    ]);

    let live = std::fs::read_to_string(dir.join("out.ndjson")).unwrap();
    let replayed = std::fs::read_to_string(dir.join("replayed/out.ndjson")).unwrap();
    let count = |text: &str, kind: &str| {
        text.lines()
            .filter(|l| l.contains(&format!("\"type\":\"{kind}\"")))
            .count()
    };
    assert!(
        count(&live, "bar") > 800,
        "bars for six hours of two symbols"
    );
    assert!(count(&live, "indicator") > 800);
    assert!(count(&live, "signal") > 0, "some rule fired");
    // A sink with several inputs interleaves them as the tasks run; the rows themselves must be equal.
    let sorted = |text: &str| {
        let mut rows: Vec<&str> = text.lines().collect();
        rows.sort_unstable();
        rows.join("\n")
    };
    assert!(
        sorted(&live) == sorted(&replayed),
        "live through Kafka and replay differ; see {}",
        dir.display()
    );
    std::fs::remove_dir_all(dir).unwrap();
}
