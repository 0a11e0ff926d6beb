//! `tickstream replay` end to end: recorded events through time bars and indicators into a file sink placed
//! under `--out`, with the same output as a live-style `run` of the same pipeline over the same events.

use std::path::{Path, PathBuf};
use std::process::Command;

const PIPELINE: &str = r#"
[sources.trades]
kind = "file"
paths = ["${INPUT:-unused.ndjson}"]
kinds = ["trade", "status"]

[operators.bars]
kind = "time_bars"
inputs = ["trades"]
intervals = ["1m"]

[operators.ta]
kind = "indicators"
inputs = ["bars"]

[sinks.out]
kind = "file"
inputs = ["bars", "ta"]
path = "results/bars.ndjson"

[sinks.lake]
kind = "parquet"
inputs = ["trades", "bars", "ta"]
root = "lake"
"#;

/// Two hours of trades, one every 5 s, on a zig-zag price, written as normalized events.
fn write_trades(path: &Path) {
    let template: serde_json::Value =
        serde_json::from_str(include_str!("../../../schemas/examples/trade.v1.json")).unwrap();
    let start: i64 = 1_700_000_000_000_000_000 - 1_700_000_000_000_000_000 % 60_000_000_000;
    let mut lines = String::new();
    for i in 0..1440i64 {
        let mut t = template.clone();
        let ts = start + i * 5_000_000_000;
        t["ts_event"] = ts.into();
        t["ts_recv"] = (ts + 1_000_000).into();
        t["trade_id"] = i.to_string().into();
        t["price"] = format!("{}.{:02}", 37000 + (i * 7) % 50, i % 100).into();
        t["side"] = if i % 3 == 0 { "sell" } else { "buy" }.into();
        lines.push_str(&t.to_string());
        lines.push('\n');
    }
    std::fs::write(path, lines).unwrap();
}

fn tickstream(args: &[&str], dir: &Path, input: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tickstream"))
        .args(args)
        .current_dir(dir)
        .env("INPUT", input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn replay_builds_bars_and_indicators_like_a_run() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("tickstream-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pipeline = dir.join("bars.toml");
    std::fs::write(&pipeline, PIPELINE).unwrap();
    let input = dir.join("trades.ndjson");
    write_trades(&input);

    let p = pipeline.to_str().unwrap();
    let i = input.to_str().unwrap();
    tickstream(
        &["replay", p, "--input", i, "--out", "replayed"],
        &dir,
        &input,
    );
    tickstream(&["run", p], &dir, &input);

    let replayed = std::fs::read_to_string(dir.join("replayed/results/bars.ndjson")).unwrap();
    let run = std::fs::read_to_string(dir.join("results/bars.ndjson")).unwrap();
    // The sink's two inputs (bars and indicator rows) interleave in arrival order; each input's own order
    // and the set of rows are what replay and run must share.
    for kind in ["\"type\":\"bar\"", "\"type\":\"indicator\""] {
        let of_kind = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| l.contains(kind))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(
            of_kind(&replayed),
            of_kind(&run),
            "replay and run must produce the same {kind} rows in the same order"
        );
    }
    assert_eq!(replayed.lines().count(), run.lines().count());

    let rows: Vec<serde_json::Value> = replayed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let bars: Vec<&serde_json::Value> = rows.iter().filter(|r| r["type"] == "bar").collect();
    let indicators: Vec<&serde_json::Value> =
        rows.iter().filter(|r| r["type"] == "indicator").collect();
    // 120 minutes of trades; the last minute is still open when the input ends.
    assert_eq!(bars.len(), 119);
    assert_eq!(indicators.len(), 119);
    assert!(
        bars.iter().all(|b| b["trades"] == 12),
        "twelve trades a minute"
    );
    let last = &indicators.last().unwrap()["values"];
    for column in [
        "sma_20",
        "ema_12",
        "rsi_14",
        "macd_12_26_9_signal",
        "bbands_20_2_upper",
        "atr_14",
        "stoch_14_3_3_d",
        "obv",
        "vwap_daily",
    ] {
        assert!(last[column].is_number(), "{column} missing in {last}");
    }
    assert!(
        indicators[0]["values"].get("sma_20").is_none(),
        "no value before the lookback"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
