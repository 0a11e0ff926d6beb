//! `tickstream run` of a live pipeline: venue connectors against the exchange simulator (a separate
//! process speaking the venues' websocket protocols), through time bars, into a file; stopped by `--for`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Simulator(Child);

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tickstream simulate` on a free port and returns it with its address.
fn simulator() -> (Simulator, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickstream"))
        .args(["simulate", "--listen", "127.0.0.1:0", "--tick", "20ms"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let addr = first.split_whitespace().nth(2).unwrap().to_owned();
    // Keep reading: a simulator whose stderr is closed fails on its next log line.
    std::thread::spawn(move || for _ in stderr.lines() {});
    (Simulator(child), addr)
}

#[test]
fn live_pipeline_against_the_simulator() {
    let (_sim, addr) = simulator();
    let dir = std::env::temp_dir().join(format!("tickstream-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pipeline = dir.join("live.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"
[sources.binance]
kind = "exchange"
exchange = "binance"
symbols = ["BTCUSDT", "ETH-USDT"]
channels = ["trades", "bbo", "book"]
url = "ws://{addr}/binance"
rest_url = "http://{addr}/binance"

[sources.coinbase]
kind = "exchange"
exchange = "coinbase"
symbols = ["BTC-USD"]
channels = ["trades", "bbo"]
url = "ws://{addr}/coinbase"
rest_url = "http://{addr}/coinbase"

[operators.bars]
kind = "time_bars"
inputs = ["binance", "coinbase"]
intervals = ["1s"]
allowed_lateness = "0s"

[sinks.ticks]
kind = "file"
inputs = ["binance", "coinbase"]
path = "ticks.ndjson"

[sinks.bar_file]
kind = "file"
inputs = ["bars"]
path = "bars.ndjson"
"#
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tickstream"))
        .args(["run", "--for", "4s", "--checkpoint-interval", "500ms"])
        .arg(&pipeline)
        .current_dir(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("checkpoints"), "{stderr}");

    let ticks = std::fs::read_to_string(dir.join("ticks.ndjson")).unwrap();
    let events: Vec<serde_json::Value> = ticks
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let count = |kind: &str, exchange: &str| {
        events
            .iter()
            .filter(|e| e["type"] == kind && e["exchange"] == exchange)
            .count()
    };
    assert!(
        count("trade", "binance") > 0 && count("trade", "coinbase") > 0,
        "trades from both venues"
    );
    assert!(
        count("quote", "binance") > 0 && count("book", "binance") > 0,
        "quotes and books"
    );
    for venue in ["binance", "coinbase"] {
        let subscribed = events
            .iter()
            .any(|e| e["type"] == "status" && e["exchange"] == venue && e["state"] == "subscribed");
        assert!(subscribed, "a subscribed status from {venue}");
    }
    assert!(
        events
            .iter()
            .filter(|e| e["type"] == "trade")
            .all(|e| e["symbol"] == "BTC-USDT"
                || e["symbol"] == "ETH-USDT"
                || e["symbol"] == "BTC-USD"),
        "canonical symbols only"
    );
    let bars = std::fs::read_to_string(dir.join("bars.ndjson")).unwrap();
    assert!(
        bars.lines().count() >= 2,
        "one-second bars while trades flow:\n{bars}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn ingest_and_processing_through_the_embedded_kafka_cluster() {
    let (_sim, addr) = simulator();
    let dir = std::env::temp_dir().join(format!("tickstream-bus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pipeline = dir.join("bus.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"
[sources.binance]
kind = "exchange"
exchange = "binance"
symbols = ["BTCUSDT"]
channels = ["trades"]
url = "ws://{addr}/binance"
rest_url = "http://{addr}/binance"

[sinks.bus]
kind = "kafka"
inputs = ["binance"]

[sources.ticks]
kind = "kafka"
group_id = "bus-test"
kinds = ["trade"]
offset_reset = "earliest"

[sinks.ticks_file]
kind = "file"
inputs = ["ticks"]
path = "from_kafka.ndjson"

[sinks.direct_file]
kind = "file"
inputs = ["binance"]
path = "direct.ndjson"
"#
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tickstream"))
        .args(["run", "--for", "6s", "--checkpoint-interval", "500ms"])
        .arg(&pipeline)
        .current_dir(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let ids = |file: &str| -> Vec<String> {
        std::fs::read_to_string(dir.join(file))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|e| e["type"] == "trade")
            .map(|e| e["trade_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let direct = ids("direct.ndjson");
    let through_kafka = ids("from_kafka.ndjson");
    assert!(
        through_kafka.len() > 10,
        "trades came back through Kafka: {}\n{stderr}",
        through_kafka.len()
    );
    // What came back is an in-order prefix of what was produced: one partition key, no loss, no duplicates.
    assert_eq!(through_kafka[..], direct[..through_kafka.len()]);
    std::fs::remove_dir_all(dir).unwrap();
}
