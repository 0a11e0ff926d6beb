//! `tickstream run --metrics-listen`: a running file pipeline serves its operators' counters on
//! `GET /metrics` and answers `GET /healthz`, and the endpoint closes when the run ends.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(unix)]
#[test]
fn a_running_pipeline_serves_its_metrics_until_it_ends() {
    let dir = std::env::temp_dir().join(format!("tickstream-metrics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/examples");
    let trade: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schemas.join("trade.v1.json")).unwrap())
            .unwrap();
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
    let trades = dir.join("trades.ndjson");
    std::fs::write(&trades, lines.join("\n")).unwrap();
    // The second input is a FIFO: the source waits on it, keeping the run alive, until it is closed.
    let fifo = dir.join("more.ndjson");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let pipeline = dir.join("bars.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"
[sources.captured]
kind = "file"
paths = ["{}", "{}"]

[operators.bars]
kind = "time_bars"
inputs = ["captured"]
intervals = ["1s"]
allowed_lateness = "0s"

[sinks.out]
kind = "file"
inputs = ["bars"]
path = "{}"
"#,
            trades.display(),
            fifo.display(),
            dir.join("bars.ndjson").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickstream"))
        .args(["run", "--metrics-listen", "127.0.0.1:0"])
        .arg(&pipeline)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut running = Running(child);
    let mut addr = None;
    let mut line = String::new();
    while addr.is_none() && stderr.read_line(&mut line).unwrap() > 0 {
        addr = line
            .strip_prefix("metrics on http://")
            .and_then(|rest| rest.trim().strip_suffix("/metrics"))
            .map(str::to_owned);
        line.clear();
    }
    let addr = addr.expect("the run prints its metrics address");
    let drain = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        rest
    });

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
    let status = running.0.wait().unwrap();
    let rest = drain.join().unwrap();
    assert!(status.success(), "{rest}");
    assert!(
        TcpStream::connect(&addr).is_err(),
        "the endpoint closes with the run"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
