//! `tickstream normalize` and `tickstream simulate` end to end.

mod common;

use std::io::{Read, Write};
use std::path::Path;

use common::{Simulator, Tickstream, parse_ndjson, repo_path, test_dir, write_file};

fn fixture(dir: &str, name: &str) -> String {
    let path = repo_path("crates/connectors/tests/fixtures")
        .join(dir)
        .join(name);
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    value.to_string()
}

/// `tickstream normalize --exchange binance --input <file>`, which must succeed.
fn normalize_binance_file(file: &Path) -> std::process::Output {
    let out = Tickstream::new(["normalize", "--exchange", "binance", "--input"])
        .arg(file)
        .output();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn normalize_a_file_and_stdin() {
    let input = [
        fixture("binance", "trade.json"),
        "garbage".into(),
        fixture("binance", "depthUpdate.json"),
    ]
    .join("\n");
    let dir = test_dir("normalize");
    let file = write_file(&dir, "frames.txt", &input);
    let out = normalize_binance_file(&file);
    let lines = parse_ndjson(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["type"], "trade");
    assert_eq!(lines[0]["price"], "0.001");
    assert_eq!(lines[1]["type"], "book");
    assert_eq!(lines[1]["synced"], false);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("frames read: 3"), "{stderr}");
    assert!(stderr.contains("rejected: parse_error=1"), "{stderr}");

    let out = Tickstream::new(["normalize", "--exchange", "coinbase-exchange"])
        .output_with_stdin(fixture("coinbase-exchange", "match.json"));
    assert!(out.status.success());
    let event: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (event["type"].as_str(), event["exchange"].as_str()),
        (Some("trade"), Some("coinbase-exchange"))
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn normalize_fails_only_when_the_input_cannot_be_read() {
    let out = Tickstream::new([
        "normalize",
        "--exchange",
        "binance",
        "--input",
        "/nonexistent/frames.txt",
    ])
    .output();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/frames.txt"));
    let out = Tickstream::new(["normalize", "--exchange", "nyse"]).output();
    assert!(!out.status.success());
}

#[test]
fn simulate_serves_the_binance_rest_snapshot() {
    let sim = Simulator::start(&["--seed", "3"]);
    let mut tcp = std::net::TcpStream::connect(&sim.addr).unwrap();
    tcp.write_all(b"GET /binance/api/v3/depth?symbol=BTCUSDT&limit=5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).unwrap();
    drop(sim);
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    let body: serde_json::Value =
        serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert!(body["lastUpdateId"].as_u64().unwrap() >= 1000);
    assert_eq!(body["bids"].as_array().unwrap().len(), 5);
}

#[test]
fn normalize_a_zstd_capture_file() {
    let record = serde_json::json!({
        "ts_recv": 1_700_000_000_000_000_000_i64,
        "connection_id": 4,
        "frame": fixture("binance", "trade.json"),
    });
    let dir = test_dir("capture");
    let compressed = zstd::encode_all(format!("{record}\n").as_bytes(), 3).unwrap();
    let file = write_file(&dir, "binance-2023-11-14T22.jsonl.zst", compressed);
    let out = normalize_binance_file(&file);
    let event: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(event["type"], "trade");
    assert_eq!(event["ts_recv"], 1_700_000_000_000_000_000_i64);
    std::fs::remove_dir_all(dir).unwrap();
}
