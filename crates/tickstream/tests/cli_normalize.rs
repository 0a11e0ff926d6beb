//! `tickstream normalize` and `tickstream simulate` end to end.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn tickstream() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tickstream"))
}

fn fixture(dir: &str, name: &str) -> String {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../connectors/tests/fixtures")
        .join(dir)
        .join(name);
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    value.to_string()
}

/// `tickstream normalize --exchange binance --input <file>`, which must succeed.
fn normalize_binance_file(file: &Path) -> std::process::Output {
    let out = tickstream()
        .args(["normalize", "--exchange", "binance", "--input"])
        .arg(file)
        .output()
        .unwrap();
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
    let dir = std::env::temp_dir().join(format!("tickstream-normalize-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("frames.txt");
    std::fs::write(&file, &input).unwrap();
    let out = normalize_binance_file(&file);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["type"], "trade");
    assert_eq!(lines[0]["price"], "0.001");
    assert_eq!(lines[1]["type"], "book");
    assert_eq!(lines[1]["synced"], false);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("frames read: 3"), "{stderr}");
    assert!(stderr.contains("rejected: parse_error=1"), "{stderr}");

    let mut child = tickstream()
        .args(["normalize", "--exchange", "coinbase-exchange"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(fixture("coinbase-exchange", "match.json").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
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
    let out = tickstream()
        .args([
            "normalize",
            "--exchange",
            "binance",
            "--input",
            "/nonexistent/frames.txt",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/frames.txt"));
    let out = tickstream()
        .args(["normalize", "--exchange", "nyse"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn simulate_serves_the_binance_rest_snapshot() {
    let mut child = tickstream()
        .args(["simulate", "--listen", "127.0.0.1:0", "--seed", "3"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let addr = first
        .split_whitespace()
        .nth(2)
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
    tcp.write_all(b"GET /binance/api/v3/depth?symbol=BTCUSDT&limit=5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
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
    let dir = std::env::temp_dir().join(format!("tickstream-capture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("binance-2023-11-14T22.jsonl.zst");
    let compressed = zstd::encode_all(format!("{record}\n").as_bytes(), 3).unwrap();
    std::fs::write(&file, compressed).unwrap();
    let out = normalize_binance_file(&file);
    let event: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(event["type"], "trade");
    assert_eq!(event["ts_recv"], 1_700_000_000_000_000_000_i64);
    std::fs::remove_dir_all(dir).unwrap();
}
