//! `tickstream run --metrics-listen`: a running file pipeline serves its operators' counters on
//! `GET /metrics` and answers `GET /healthz`, and the endpoint closes when the run ends; a live pipeline
//! (simulated venues with faults, embedded Kafka, bars, lake, cache and API) exports every stage's
//! metrics.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::pipeline::{one_second_bars, simulated_venue};
use common::{Running, Tickstream, example, free_port, fresh_test_dir, write_file};

/// `GET path` over plain HTTP/1.0; the status line and body.
fn http_get(addr: &str, path: &str) -> std::io::Result<(String, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.lines().next().unwrap_or_default().to_owned();
    Ok((status, body.to_owned()))
}

/// Reads stderr lines until the metrics address is printed; keeps draining the rest on a thread, whose
/// handle returns it.
fn metrics_address(child: &mut Child) -> (String, std::thread::JoinHandle<String>) {
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut addr = None;
    let mut seen = String::new();
    let mut line = String::new();
    while addr.is_none() && stderr.read_line(&mut line).unwrap() > 0 {
        addr = line
            .strip_prefix("metrics on http://")
            .and_then(|rest| rest.trim().strip_suffix("/metrics"))
            .map(str::to_owned);
        seen.push_str(&line);
        line.clear();
    }
    let addr = addr.unwrap_or_else(|| panic!("the run prints its metrics address: {seen}"));
    let drain = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        rest
    });
    (addr, drain)
}

#[cfg(unix)]
#[test]
fn a_running_pipeline_serves_its_metrics_until_it_ends() {
    let dir = fresh_test_dir("metrics");
    let trade = example("trade");
    // Trades at +0 s and +10 s close the first 1 s bar; the third, back at +0 s, is late.
    let base = trade["ts_event"].as_i64().unwrap();
    let lines: Vec<String> = [0i64, 10, 0]
        .iter()
        .enumerate()
        .map(|(i, offset)| {
            let mut t = trade.clone();
            t["trade_id"] = i.to_string().into();
            t["ts_event"] = (base + offset * 1_000_000_000).into();
            t["ts_recv"] = (base + offset * 1_000_000_000 + 1_000_000).into();
            t.to_string()
        })
        .collect();
    let trades = write_file(&dir, "trades.ndjson", lines.join("\n"));
    // The second input is a FIFO: the source waits on it, keeping the run alive, until it is closed.
    let fifo = dir.join("more.ndjson");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let pipeline = write_file(
        &dir,
        "bars.toml",
        format!(
            r#"
[sources.captured]
kind = "file"
paths = ["{}", "{}"]

{}
[sinks.out]
kind = "file"
inputs = ["bars"]
path = "{}"
"#,
            trades.display(),
            fifo.display(),
            one_second_bars(&["captured"]),
            dir.join("bars.ndjson").display()
        ),
    );
    let mut child = Tickstream::new(["run", "--metrics-listen", "127.0.0.1:0"])
        .arg(&pipeline)
        .spawn_reading_stderr();
    let (addr, drain) = metrics_address(&mut child);
    let mut running = Running::new(child);

    let (status, body) = http_get(&addr, "/healthz").unwrap();
    assert!(status.contains("200"), "{status}");
    assert_eq!(body, r#"{"status":"ok"}"#);
    let wanted = r#"tickstream_late_trades_total{exchange="coinbase"} 1"#;
    let started = Instant::now();
    let text = loop {
        let (status, body) = http_get(&addr, "/metrics").unwrap();
        assert!(status.contains("200"), "{status}");
        if body.contains(wanted) || started.elapsed() > Duration::from_secs(60) {
            break body;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(text.contains(wanted), "{text}");

    // Closing the FIFO ends the source, and with it the run and the endpoint.
    drop(std::fs::OpenOptions::new().write(true).open(&fifo).unwrap());
    let status = running.child.wait().unwrap();
    let rest = drain.join().unwrap();
    assert!(status.success(), "{rest}");
    assert!(
        TcpStream::connect(&addr).is_err(),
        "the endpoint closes with the run"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

type Series = (&'static str, &'static [&'static str]);

/// Every stage's series on the run's endpoint, each as a name and labels its line must carry.
const STAGE_SERIES: [Series; 20] = [
    (
        "tickstream_connector_frames_total",
        &["exchange=\"binance\""],
    ),
    (
        "tickstream_connector_events_total",
        &["exchange=\"kraken\"", "kind=\"book\""],
    ),
    ("tickstream_connector_rejected_total", &["reason=\""]),
    ("tickstream_connector_reconnects_total", &["exchange=\""]),
    ("tickstream_connector_gaps_total", &["exchange=\""]),
    ("tickstream_connector_resyncs_total", &["exchange=\""]),
    ("tickstream_connector_stale_total", &["exchange=\""]),
    (
        "tickstream_node_events_total",
        &["node=\"bars\"", "kind=\"bar\""],
    ),
    ("tickstream_kafka_producer_queue_depth", &[]),
    ("tickstream_kafka_delivery_failures_total", &["topic=\""]),
    ("tickstream_kafka_produced_bytes_total", &[]),
    (
        "tickstream_kafka_consumer_lag",
        &["topic=\"", "partition=\""],
    ),
    ("tickstream_sink_events_total", &["sink=\"lake\""]),
    (
        "tickstream_sink_flush_seconds",
        &["sink=\"lake\"", "quantile=\"0.99\""],
    ),
    (
        "tickstream_lake_rows_written_total",
        &["dataset=\"trades\""],
    ),
    ("tickstream_lake_files_committed_total", &["dataset=\""]),
    ("tickstream_lake_buffered_rows", &["sink=\"lake\""]),
    ("tickstream_lake_bytes_written_total", &["dataset=\""]),
    (
        "tickstream_end_to_end_latency_seconds",
        &["quantile=\"0.5\""],
    ),
    ("tickstream_end_to_end_latency_seconds_count", &[]),
];

/// The API's series, on the API's own `/metrics` (its own registry, as under `tickstream serve`).
const API_SERIES: [Series; 2] = [
    ("tickstream_api_requests_total", &["status=\"401\""]),
    ("tickstream_api_request_duration_seconds", &["quantile=\""]),
];

fn missing_series(text: &str, wanted: &[Series]) -> Vec<&'static str> {
    wanted
        .iter()
        .filter(|(name, labels)| {
            !text.lines().any(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
                    && labels.iter().all(|label| l.contains(label))
            })
        })
        .map(|(name, _)| *name)
        .collect()
}

#[cfg(unix)]
#[test]
fn a_live_pipeline_exports_every_stage_metric() {
    let dir = fresh_test_dir("stage-metrics");
    let (sim, api) = (free_port(), free_port());
    let pipeline = write_file(
        &dir,
        "live.toml",
        format!(
            r#"

[simulator]
listen = "127.0.0.1:{sim}"
tick = "20ms"
fault_every = "1500ms"

{binance}staleness = "500ms"

[sources.kraken]
kind = "exchange"
exchange = "kraken"
symbols = ["BTC-USD"]
channels = ["trades", "bbo", "book"]
url = "ws://127.0.0.1:{sim}/kraken"
staleness = "500ms"

[sinks.bus]
kind = "kafka"
inputs = ["binance", "kraken"]
brokers = ""
topic_prefix = "stages"

[sources.ticks]
kind = "kafka"
brokers = ""
topic_prefix = "stages"
group_id = "stages"
kinds = ["trade", "quote", "book", "status"]
lag_interval = "1s"

[operators.bars]
kind = "time_bars"
inputs = ["ticks"]
intervals = ["1s"]

[sinks.lake]
kind = "parquet"
inputs = ["ticks", "bars"]
root = "{lake}"

[sinks.serving]
kind = "cache"
inputs = ["ticks", "bars"]

[sinks.serving.api]
listen = "127.0.0.1:{api}"
keys = {{ kind = "file", path = "{keys}" }}
"#,
            lake = dir.join("lake").display(),
            keys = dir.join("keys.json").display(),
            binance = simulated_venue(
                "binance",
                &["BTC-USDT"],
                &["trades", "bbo", "book"],
                &format!("127.0.0.1:{sim}")
            ),
        ),
    );
    let mut child = Tickstream::new([
        "run",
        "--quiet",
        "--metrics-listen",
        "127.0.0.1:0",
        "--checkpoint-interval",
        "500ms",
    ])
    .args(["--for", "90s"])
    .arg(&pipeline)
    .without_services()
    .spawn_reading_stderr();
    let (addr, drain) = metrics_address(&mut child);
    let running = Running::new(child);
    let api_addr = format!("127.0.0.1:{api}");
    let started = Instant::now();
    let (text, api_text) = loop {
        // Any answer of the API (here a refusal without a key) counts as a request.
        let _ = http_get(&api_addr, "/v1/latest?exchange=binance&symbol=BTC-USDT");
        let (_, body) = http_get(&addr, "/metrics").unwrap();
        let (_, api_body) = http_get(&api_addr, "/metrics").unwrap_or_default();
        let done = missing_series(&body, &STAGE_SERIES).is_empty()
            && missing_series(&api_body, &API_SERIES).is_empty();
        if done || started.elapsed() > Duration::from_secs(60) {
            break (body, api_body);
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    drop(running);
    let missing = missing_series(&text, &STAGE_SERIES);
    let api_missing = missing_series(&api_text, &API_SERIES);
    assert!(
        missing.is_empty() && api_missing.is_empty(),
        "missing {missing:?} in\n{text}\nmissing {api_missing:?} in\n{api_text}\n{}",
        drain.join().unwrap()
    );
    std::fs::remove_dir_all(dir).unwrap();
}
