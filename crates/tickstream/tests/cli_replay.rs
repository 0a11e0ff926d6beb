//! `tickstream replay` end to end: recorded events through time bars and indicators into a file sink placed
//! under `--out`, with the same output as a live-style `run` of the same pipeline over the same events,
//! the last bar included, and the same output replay after replay.

mod common;

use std::path::Path;

use common::{START, Tickstream, example, push_line, side_of, test_dir, trade_at, write_file};

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
    let template = example("trade");
    let mut lines = String::new();
    for i in 0..1440i64 {
        let price = format!("{}.{:02}", 37000 + (i * 7) % 50, i % 100);
        let t = trade_at(
            &template,
            START + i * 5_000_000_000,
            i.to_string(),
            price,
            side_of(i),
        );
        push_line(&mut lines, &t);
    }
    std::fs::write(path, lines).unwrap();
}

fn tickstream(args: &[&str], dir: &Path, input: &Path) {
    Tickstream::new(args)
        .current_dir(dir)
        .env("INPUT", input)
        .success();
}

#[test]
fn replay_builds_bars_and_indicators_like_a_run() {
    let dir = test_dir("replay");
    let pipeline = write_file(&dir, "bars.toml", PIPELINE);
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
    tickstream(&["replay", p, "--input", i, "--out", "again"], &dir, &input);

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
    // Replay after replay: the same rows of each kind, in the same order.
    let again = std::fs::read_to_string(dir.join("again/results/bars.ndjson")).unwrap();
    let sorted = |text: &str| {
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort_by_key(|l| l.contains("\"type\":\"indicator\""));
        lines.join("\n")
    };
    assert_eq!(
        sorted(&again),
        sorted(&replayed),
        "two replays of the same input differ"
    );

    let rows: Vec<serde_json::Value> = replayed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let bars: Vec<&serde_json::Value> = rows.iter().filter(|r| r["type"] == "bar").collect();
    let indicators: Vec<&serde_json::Value> =
        rows.iter().filter(|r| r["type"] == "indicator").collect();
    // 120 minutes of trades; the last minute closes because the input is complete.
    assert_eq!(bars.len(), 120);
    assert_eq!(indicators.len(), 120);
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
