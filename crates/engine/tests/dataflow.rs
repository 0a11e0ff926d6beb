//! The dataflow engine run in process over NDJSON files: bars from trades, filters, fan-out and fan-in
//! with checkpoints flowing, shutdown, and errors that name the file, the node and the field.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use tickstream_engine::dataflow::{Notices, RunOptions, RunSummary, run};
use tickstream_engine::pipeline::{Pipeline, parse};
use tokio::sync::watch;

const SEC: i64 = 1_000_000_000;
/// A minute boundary (2023-11-14 22:14:00 UTC).
const T0: i64 = 1_700_000_040 * SEC;
/// How long any run may take before the test gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// The example trade with its time, id, symbol, price, quantity and side replaced.
fn trade(id: u64, symbol: &str, ts: i64, price: &str, quantity: &str, buy: bool) -> Value {
    let mut t: Value =
        serde_json::from_str(include_str!("../../../schemas/examples/trade.v1.json")).unwrap();
    t["symbol"] = symbol.into();
    t["raw_symbol"] = symbol.into();
    t["ts_event"] = ts.into();
    t["ts_recv"] = (ts + 1_000_000).into();
    t["trade_id"] = id.to_string().into();
    t["price"] = price.into();
    t["quantity"] = quantity.into();
    t["side"] = if buy { "buy" } else { "sell" }.into();
    t
}

/// The example quote moved to coinbase, `symbol` and `ts`.
fn quote(symbol: &str, ts: i64) -> Value {
    let mut q: Value =
        serde_json::from_str(include_str!("../../../schemas/examples/quote.v1.json")).unwrap();
    q["exchange"] = "coinbase".into();
    q["symbol"] = symbol.into();
    q["raw_symbol"] = symbol.into();
    q["ts_event"] = ts.into();
    q["ts_recv"] = (ts + 1_000_000).into();
    q
}

/// Trades with the ids in `ids`: BTC-USD for even ids, ETH-USD for odd ones, 100 ms apart.
fn alternating_trades(ids: std::ops::Range<u64>) -> Vec<Value> {
    ids.map(|i| {
        let symbol = if i % 2 == 0 { "BTC-USD" } else { "ETH-USD" };
        trade(
            i,
            symbol,
            T0 + i as i64 * SEC / 10,
            "100.5",
            "0.25",
            i % 3 == 0,
        )
    })
    .collect()
}

fn ndjson(events: &[Value]) -> String {
    events.iter().map(|e| format!("{e}\n")).collect()
}

fn write_ndjson(path: &Path, events: &[Value]) {
    std::fs::write(path, ndjson(events)).unwrap();
}

fn read_ndjson(path: &Path) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The `trade_id` of each event (trades only).
fn trade_ids(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|e| {
            assert_eq!(e["type"], "trade", "{e}");
            e["trade_id"].as_str().unwrap().parse().unwrap()
        })
        .collect()
}

/// A path as a TOML string.
fn toml_path(path: &Path) -> String {
    toml::Value::String(path.display().to_string()).to_string()
}

fn pipeline(text: &str) -> Pipeline {
    parse("test.toml", text, &|_| None).unwrap_or_else(|errors| {
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        panic!("the pipeline does not parse: {errors:#?}\n{text}")
    })
}

fn options(checkpoint_interval: Duration) -> RunOptions {
    RunOptions {
        checkpoint_interval,
        notices: Notices::new(|_| {}),
        ..RunOptions::default()
    }
}

/// Runs until every source has ended (the shutdown sender stays alive: dropping it stops the sources).
async fn run_to_end(pipeline: Pipeline, options: RunOptions) -> RunSummary {
    let (_keep, shutdown) = watch::channel(false);
    tokio::time::timeout(RUN_LIMIT, run(pipeline, options, shutdown))
        .await
        .expect("the run ends")
        .unwrap_or_else(|e| panic!("the run fails: {}", chain(&e)))
}

/// An error and its sources, joined by `: `.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn counts(nodes: &[(&str, u64)]) -> BTreeMap<String, u64> {
    nodes.iter().map(|(n, c)| (n.to_string(), *c)).collect()
}

#[tokio::test]
async fn trades_become_one_minute_bars_in_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (
        dir.path().join("trades.ndjson"),
        dir.path().join("bars.ndjson"),
    );
    // Five minutes of ten trades each, 5 s apart; in minute m the price is 100 + 10 m plus a move, the
    // k-th trade's quantity 0.25 (k + 1), buys and sells alternating.
    const MOVES: [i64; 10] = [0, 3, -2, 5, 1, -4, 2, 0, 6, -1];
    let mut trades = Vec::new();
    for m in 0..5i64 {
        let mut minute: Vec<Value> = (0..10i64)
            .map(|k| {
                let ts = T0 + m * 60 * SEC + k * 5 * SEC + SEC;
                let price = (100 + 10 * m + MOVES[k as usize]).to_string();
                let quantity = (0.25 * (k + 1) as f64).to_string();
                trade(
                    (m * 10 + k) as u64,
                    "BTC-USD",
                    ts,
                    &price,
                    &quantity,
                    k % 2 == 0,
                )
            })
            .collect();
        // The first trade of minute 1 arrives second: the open is the earliest by event time.
        if m == 1 {
            minute.swap(0, 1);
        }
        trades.extend(minute);
    }
    write_ndjson(&input, &trades);
    let p = pipeline(&format!(
        r#"
[sources.trades]
kind = "file"
paths = [{input}]

[operators.bars]
kind = "time_bars"
inputs = ["trades"]
intervals = ["1m"]

[sinks.out]
kind = "file"
inputs = ["bars"]
path = {output}
"#,
        input = toml_path(&input),
        output = toml_path(&output),
    ));
    let summary = run_to_end(p, options(Duration::from_secs(5))).await;

    // The watermark trails the last trade (4:46) by 2 s: minutes 0 to 3 close on it, and minute 4, still
    // open when the input ends, closes because the input is complete.
    assert_eq!(
        summary.events_out,
        counts(&[("trades", 50), ("bars", 5), ("out", 5)])
    );
    let bars = read_ndjson(&output);
    assert_eq!(bars.len(), 5);
    for (m, bar) in bars.iter().enumerate() {
        assert_eq!(bar["type"], "bar");
        assert_eq!(bar["exchange"], "coinbase");
        assert_eq!(bar["symbol"], "BTC-USD");
        assert_eq!(bar["interval"], "1m");
        assert_eq!(bar["open_time"], T0 + m as i64 * 60 * SEC);
        assert_eq!(bar["close_time"], T0 + (m as i64 + 1) * 60 * SEC);
        assert_eq!(bar["trades"], 10);
        assert_eq!(bar["gap"], false);
    }
    // Minute 1 by hand: prices 110 113 108 115 111 106 112 110 116 109, quantities 0.25 .. 2.5.
    let bar = &bars[1];
    assert_eq!(bar["open"], 110.0);
    assert_eq!(bar["high"], 116.0);
    assert_eq!(bar["low"], 106.0);
    assert_eq!(bar["close"], 109.0);
    assert_eq!(bar["volume"], 13.75);
    assert_eq!(bar["quote_volume"], 1527.25);
    assert_eq!(bar["vwap"], 1527.25 / 13.75);
    assert_eq!(bar["buy_volume"], 6.25);
    assert_eq!(bar["sell_volume"], 7.5);
}

#[tokio::test]
async fn a_filter_passes_only_the_listed_kinds_and_symbols() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (
        dir.path().join("ticks.ndjson"),
        dir.path().join("out.ndjson"),
    );
    let mut events = Vec::new();
    for i in 0..20u64 {
        let ts = T0 + i as i64 * SEC;
        events.extend(alternating_trades(i..i + 1));
        events.push(quote(if i % 3 == 0 { "BTC-USD" } else { "ETH-USD" }, ts));
        if i % 5 == 0 {
            let mut status: Value =
                serde_json::from_str(include_str!("../../../schemas/examples/status.v1.json"))
                    .unwrap();
            status["ts_event"] = ts.into();
            events.push(status);
        }
    }
    // A line that is not an event is skipped, not fatal.
    let text =
        ndjson(&events[..10]) + "{\"type\": \"trade\", \"price\": \n" + &ndjson(&events[10..]);
    std::fs::write(&input, text).unwrap();
    let p = pipeline(&format!(
        r#"
[sources.ticks]
kind = "file"
paths = [{input}]
kinds = ["trade", "quote"]

[operators.btc_trades]
kind = "filter"
inputs = ["ticks"]
kinds = ["trade"]
symbols = ["BTC-USD"]

[sinks.out]
kind = "file"
inputs = ["btc_trades"]
path = {output}
"#,
        input = toml_path(&input),
        output = toml_path(&output),
    ));
    let summary = run_to_end(p, options(Duration::from_secs(5))).await;

    // The source drops the 4 statuses (its `kinds`); the filter keeps the 10 BTC-USD trades of 20
    // trades and 20 quotes.
    assert_eq!(
        summary.events_out,
        counts(&[("ticks", 40), ("btc_trades", 10), ("out", 10)])
    );
    let out = read_ndjson(&output);
    assert!(out.iter().all(|e| e["symbol"] == "BTC-USD"), "{out:?}");
    assert_eq!(trade_ids(&out), (0..20).step_by(2).collect::<Vec<u64>>());
}

#[tokio::test]
async fn an_input_file_that_cannot_be_read_fails_the_run_naming_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.ndjson");
    let p = pipeline(&format!(
        r#"
[sources.ticks]
kind = "file"
paths = [{input}]

[sinks.out]
kind = "file"
inputs = ["ticks"]
path = {output}
"#,
        input = toml_path(&missing),
        output = toml_path(&dir.path().join("out.ndjson")),
    ));
    let (_keep, shutdown) = watch::channel(false);
    let result = tokio::time::timeout(RUN_LIMIT, run(p, options(Duration::from_secs(5)), shutdown))
        .await
        .expect("the run ends");
    let e = chain(&result.expect_err("a missing input file fails the run"));
    assert!(
        e.starts_with(&format!("sources.ticks: {}: ", missing.display())),
        "{e}"
    );
    assert!(e.contains("No such file"), "{e}");
}

#[test]
fn configuration_errors_are_all_reported_with_file_node_and_field() {
    let errors = |text: &str| -> Vec<String> {
        match parse("pipelines/bad.toml", text, &|_| None) {
            Ok(_) => panic!("expected errors for:\n{text}"),
            Err(errors) => {
                let mut errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
                errors.sort();
                errors
            }
        }
    };
    // Parameters: every node's problems at once.
    let text = r#"
[sources.ticks]
kind = "file"
paths = ["in.ndjson"]
kinds = ["quote"]

[operators.bars]
kind = "time_bars"
inputs = ["ticks"]
intervals = []

[operators.more_bars]
kind = "time_bars"
inputs = ["ticks"]
intervals = ["1m", "5m", "1m"]

[sinks.out]
kind = "file"
inputs = ["bars", "ticker"]
path = ""
"#;
    assert_eq!(
        errors(text),
        [
            "pipelines/bad.toml: operators.bars: intervals: list at least one interval, such as \"1m\"",
            "pipelines/bad.toml: operators.more_bars: intervals[2]: 1m is listed twice",
            "pipelines/bad.toml: sinks.out: path: must not be empty",
        ]
    );
    // Once the parameters are right, the graph: bars need trades, and inputs must exist.
    let text = text
        .replace("intervals = []", "intervals = [\"1m\"]")
        .replace("[\"1m\", \"5m\", \"1m\"]", "[\"5m\"]")
        .replace("path = \"\"", "path = \"out.ndjson\"");
    assert_eq!(
        errors(&text),
        [
            "pipelines/bad.toml: operators.bars: inputs: sources.ticks emits quote but a 'time_bars' node accepts trade, status",
            "pipelines/bad.toml: operators.more_bars: inputs: sources.ticks emits quote but a 'time_bars' node accepts trade, status",
            "pipelines/bad.toml: sinks.out: inputs: unknown input 'ticker'; expected one of: bars, more_bars, ticks",
        ]
    );
}

/// A named pipe that a file source reads as events are written to it, so that a test decides when its
/// input goes quiet and when it ends.
#[cfg(target_os = "linux")]
mod fifo {
    use super::*;

    /// Writes `chunks` into a new named pipe at `path` once a reader has opened it, waiting `pause` after
    /// each, then keeps the pipe open until the returned sender is dropped (the source's input ends).
    pub fn feed(
        path: &Path,
        chunks: Vec<Vec<Value>>,
        pause: Duration,
    ) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            path,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();
        let path: PathBuf = path.to_owned();
        let (close, closed) = std::sync::mpsc::channel::<()>();
        let writer = std::thread::spawn(move || {
            // Opening for writing waits for the source to open it for reading.
            let mut pipe = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            for chunk in chunks {
                pipe.write_all(ndjson(&chunk).as_bytes()).unwrap();
                pipe.flush().unwrap();
                std::thread::sleep(pause);
            }
            let _ = closed.recv();
        });
        (close, writer)
    }
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_and_fan_in_lose_and_duplicate_nothing_while_checkpoints_flow() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("ticks.pipe");
    let out = |name: &str| dir.path().join(format!("{name}.ndjson"));
    // Three full batches with pauses between them, in which barriers flow every 10 ms.
    let chunks: Vec<Vec<Value>> = (0..3u64)
        .map(|c| alternating_trades(c * 1024..(c + 1) * 1024))
        .collect();
    let (close, writer) = fifo::feed(&input, chunks, Duration::from_millis(150));
    drop(close);
    let p = pipeline(&format!(
        r#"
[sources.ticks]
kind = "file"
paths = [{input}]

[operators.btc]
kind = "filter"
inputs = ["ticks"]
symbols = ["BTC-USD"]

[sinks.copy_a]
kind = "file"
inputs = ["ticks"]
path = {a}

[sinks.copy_b]
kind = "file"
inputs = ["ticks"]
path = {b}

[sinks.merged]
kind = "file"
inputs = ["ticks", "btc"]
path = {merged}
"#,
        input = toml_path(&input),
        a = toml_path(&out("copy_a")),
        b = toml_path(&out("copy_b")),
        merged = toml_path(&out("merged")),
    ));
    let summary = run_to_end(p, options(Duration::from_millis(10))).await;
    writer.join().unwrap();

    assert_eq!(
        summary.events_out,
        counts(&[
            ("ticks", 3072),
            ("btc", 1536),
            ("copy_a", 3072),
            ("copy_b", 3072),
            ("merged", 4608),
        ])
    );
    assert!(summary.checkpoints >= 1, "{summary:?}");
    // Each copy holds every event once, in order.
    let every: Vec<u64> = (0..3072).collect();
    assert_eq!(trade_ids(&read_ndjson(&out("copy_a"))), every);
    assert_eq!(trade_ids(&read_ndjson(&out("copy_b"))), every);
    // The merged sink holds every tick once and every BTC-USD tick once more, from the filter.
    let mut seen: BTreeMap<u64, u32> = BTreeMap::new();
    for id in trade_ids(&read_ndjson(&out("merged"))) {
        *seen.entry(id).or_default() += 1;
    }
    let wrong: Vec<(u64, u32)> = (0..3072)
        .map(|id| (id, seen.remove(&id).unwrap_or(0)))
        .filter(|&(id, n)| n != 2 - (id % 2) as u32)
        .collect();
    assert!(wrong.is_empty(), "(trade id, times written): {wrong:?}");
    assert!(seen.is_empty(), "unexpected trade ids: {seen:?}");
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_a_run_whose_input_has_not_ended_and_flushes_what_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("ticks.pipe"), dir.path().join("out.ndjson"));
    // A full batch reaches the pipeline; the 476 events after it wait in the reader for a batch to fill
    // or the input to end, which it does not before the shutdown.
    let (close, writer) = fifo::feed(&input, vec![alternating_trades(0..1500)], Duration::ZERO);
    let p = pipeline(&format!(
        r#"
[sources.ticks]
kind = "file"
paths = [{input}]

[sinks.out]
kind = "file"
inputs = ["ticks"]
path = {output}
"#,
        input = toml_path(&input),
        output = toml_path(&output),
    ));
    let options = options(Duration::from_secs(60));
    let read = options.events_read.clone();
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(run(p, options, shutdown));
    let waiting = tokio::time::timeout(RUN_LIMIT, async {
        while read.load(Ordering::Relaxed) < 1024 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    waiting.await.expect("the first batch is read");
    assert!(!running.is_finished(), "the run ended before its input did");

    stop.send(true).unwrap();
    let summary = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the run ends soon after the shutdown")
        .unwrap()
        .unwrap_or_else(|e| panic!("the run fails: {}", chain(&e)));
    assert_eq!(
        summary.events_out,
        counts(&[("ticks", 1024), ("out", 1024)])
    );
    assert_eq!(
        trade_ids(&read_ndjson(&output)),
        (0..1024).collect::<Vec<u64>>()
    );
    drop(close);
    writer.join().unwrap();
}
