//! `tickstream run` of a live pipeline: venue connectors against the exchange simulator (a separate
//! process speaking the venues' websocket protocols), through time bars, into a file; stopped by `--for`.

mod common;

use std::path::Path;

use common::pipeline::{one_second_bars, simulated_venue};
use common::{Simulator, Tickstream, read_ndjson, test_dir, write_file};

/// Writes `text` to `dir/file`, runs it there for `duration` with checkpoints every 500 ms, asserts that
/// the run succeeds and returns its standard error.
fn run_pipeline(dir: &Path, file: &str, text: String, duration: &str) -> String {
    let pipeline = write_file(dir, file, text);
    let out = Tickstream::new(["run", "--for", duration, "--checkpoint-interval", "500ms"])
        .arg(&pipeline)
        .current_dir(dir)
        .output();
    let stderr = common::stderr(&out);
    assert!(out.status.success(), "{stderr}");
    stderr
}

#[test]
fn live_pipeline_against_the_simulator() {
    let sim = Simulator::start(&["--tick", "20ms"]);
    let addr = &sim.addr;
    let dir = test_dir("live");
    let binance = simulated_venue(
        "binance",
        &["BTCUSDT", "ETH-USDT"],
        &["trades", "bbo", "book"],
        addr,
    );
    let coinbase = simulated_venue("coinbase", &["BTC-USD"], &["trades", "bbo"], addr);
    let bars = one_second_bars(&["binance", "coinbase"]);
    let stderr = run_pipeline(
        &dir,
        "live.toml",
        format!(
            r#"
{binance}
{coinbase}
{bars}
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
        "4s",
    );
    assert!(stderr.contains("checkpoints"), "{stderr}");

    let events = read_ndjson(&dir.join("ticks.ndjson"));
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
    let sim = Simulator::start(&["--tick", "20ms"]);
    let addr = &sim.addr;
    let dir = test_dir("bus");
    let binance = simulated_venue("binance", &["BTCUSDT"], &["trades"], addr);
    let stderr = run_pipeline(
        &dir,
        "bus.toml",
        format!(
            r#"
{binance}
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
        "6s",
    );
    let ids = |file: &str| -> Vec<String> {
        read_ndjson(&dir.join(file))
            .into_iter()
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
