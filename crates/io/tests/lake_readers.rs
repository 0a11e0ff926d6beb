//! The lake read back by the clients analysts use: DuckDB, pyarrow and Polars from the project's venv, run
//! by `tests/python/read_lake.py` against what the sink wrote.

mod lake_common;

use std::process::Command;

use lake_common::*;
use serde_json::json;
use tickstream_io::RecordPosition;
use tickstream_io::lake::{ParquetSink, ParquetSinkConfig};
use tickstream_model::{Direction, Event, Exchange, FeedState, Interval};

#[test]
#[ignore = "needs the Python venv: run by tests/run"]
fn duckdb_pyarrow_and_polars_read_every_dataset() {
    let python = std::env::var("TICKSTREAM_PYTHON").expect(
        "TICKSTREAM_PYTHON must name the Python of the venv with duckdb, pyarrow and polars",
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lake");

    let mut events = trades(
        Exchange::Binance,
        "BTC-USDT",
        DAY_START - 3_600 * SECOND,
        37 * SECOND,
        1_000,
        3_000,
    );
    events.extend(trades(
        Exchange::Kraken,
        "BTC-USD",
        DAY_START,
        11 * SECOND,
        500,
        400,
    ));
    events.extend(quotes(
        Exchange::Coinbase,
        "ETH-USD",
        DAY_START,
        3 * SECOND,
        250,
    ));
    let bar_count = 2_000;
    events.extend(bars_and_indicators(
        Exchange::Binance,
        "BTC-USDT",
        Interval::M1,
        DAY_START,
        bar_count,
    ));
    events.extend(bars_and_indicators(
        Exchange::Binance,
        "BTC-USDT",
        Interval::M5,
        DAY_START,
        300,
    ));
    events.push(signal(
        DAY_START + 30 * MINUTE,
        "rsi_overbought",
        Direction::Up,
    ));
    events.push(signal(
        DAY_START + 86_400 * SECOND,
        "rsi_oversold",
        Direction::Down,
    ));
    events.push(status(DAY_START + SECOND, FeedState::Connected, None));
    events.push(status(
        DAY_START + 2 * SECOND,
        FeedState::Gap,
        Some("BTC-USD"),
    ));
    events.push(status(
        DAY_START + 3 * SECOND,
        FeedState::Rejected,
        Some("BTC-USD"),
    ));

    // Half from Kafka (with offsets), half without, in several writes and files.
    let mut config = ParquetSinkConfig::new(&root);
    config.row_group_rows = 500;
    let mut sink = ParquetSink::open(config).unwrap();
    let (kafka, direct) = events.split_at(events.len() / 2);
    let positions: Vec<RecordPosition> = (0..kafka.len())
        .map(|i| RecordPosition {
            topic: "ticks".into(),
            partition: 0,
            offset: i as i64,
        })
        .collect();
    sink.write_batch(kafka, &positions).unwrap();
    sink.flush().unwrap();
    sink.write(direct).unwrap();
    sink.flush().unwrap();
    assert!(temp_files(&root).is_empty());

    let count = |pick: fn(&Event) -> bool| events.iter().filter(|e| pick(e)).count();
    let mut trade_ids = Vec::new();
    for event in &events {
        if let Event::Trade(t) = event {
            trade_ids.push(json!([t.exchange.as_str(), t.symbol.as_str(), t.trade_id]));
        }
    }
    let Some(Event::Trade(first)) = events.first() else {
        panic!("the first event is a trade")
    };
    let m1 = |i: usize| DAY_START + i as i64 * MINUTE;
    let expected = json!({
        "root": root.display().to_string(),
        "counts": {
            "trades": count(|e| matches!(e, Event::Trade(_))),
            "quotes": count(|e| matches!(e, Event::Quote(_))),
            "bars": count(|e| matches!(e, Event::Bar(_))),
            "indicators": count(|e| matches!(e, Event::Indicator(_))),
            "signals": count(|e| matches!(e, Event::Signal(_))),
            "status": count(|e| matches!(e, Event::Status(_))),
        },
        "trade_ids": trade_ids,
        "first_trade": {
            "exchange": "binance",
            "symbol": "BTC-USDT",
            "trade_id": first.trade_id,
            "ts_event_ns": first.ts_event.0,
            "ts_event_text": "2026-11-20T23:00:00.000000Z",
            "price": first.price.to_f64(),
            "quantity": first.quantity.to_f64(),
            "side": "sell",
            "raw_symbol": "BTCUSDT",
        },
        "analyst": {
            "rows": 1_440,
            "first": [m1(bar_count - 1_440), bar_close(bar_count - 1_440), bar_rsi(bar_count - 1_440)],
            "last": [m1(bar_count - 1), bar_close(bar_count - 1), bar_rsi(bar_count - 1)],
        },
    });
    let expected_path = dir.path().join("expected.json");
    std::fs::write(&expected_path, expected.to_string()).unwrap();

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/read_lake.py");
    let output = Command::new(&python)
        .arg(script)
        .arg(&expected_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "readers failed:\n{stdout}\n{stderr}"
    );
    assert_eq!(
        stdout.lines().filter(|l| l.ends_with(": ok")).count(),
        3,
        "{stdout}"
    );
}
