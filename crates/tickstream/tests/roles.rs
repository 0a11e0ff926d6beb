//! The three roles as separate processes against a real Kafka-protocol broker and Redis: ingestion
//! (simulated venues → Kafka), processing (Kafka → bars and indicators → Kafka, the lake, Redis) and serving
//! (the API over Redis). Run by `tests/run`, which starts the broker and Redis.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn needs(var: &str) -> String {
    std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} is not set: run this test through tests/run"))
}

/// A child process killed when the test ends, its output in a log file.
struct Role {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Role {
    fn start(name: &'static str, dir: &Path, args: &[&str]) -> Role {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_tickstream"))
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Role { name, child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit status within `deadline`.
    fn stop(&mut self, deadline: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < deadline,
                "{} did not stop within {deadline:?}:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(addr: &str, path: &str, key: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
#[ignore = "needs a Kafka broker and Redis: run by tests/run"]
fn ingest_analytics_and_serve_as_separate_processes() {
    let brokers = needs("KAFKA_BROKERS");
    let redis = needs("REDIS_URL");
    let run = std::process::id();
    let dir = std::env::temp_dir().join(format!("tickstream-roles-{run}"));
    std::fs::create_dir_all(&dir).unwrap();

    // The venues.
    let mut sim = Command::new(env!("CARGO_BIN_EXE_tickstream"))
        .args(["simulate", "--listen", "127.0.0.1:0", "--tick", "50ms"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(sim.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let sim_addr = first.split_whitespace().nth(2).unwrap().to_owned();
    // Keep reading: a simulator whose stderr is closed fails on its next log line.
    std::thread::spawn(move || for _ in stderr.lines() {});
    let _sim = Role {
        name: "simulator",
        child: sim,
        log: dir.join("simulator.log"),
    };

    let prefix = format!("roles{run}");
    std::fs::write(
        dir.join("ingest.toml"),
        format!(
            r#"
[sources.binance]
kind = "exchange"
exchange = "binance"
symbols = ["BTC-USDT"]
channels = ["trades", "bbo"]
url = "ws://{sim_addr}/binance"
rest_url = "http://{sim_addr}/binance"

[sinks.bus]
kind = "kafka"
inputs = ["binance"]
brokers = "{brokers}"
topic_prefix = "{prefix}"
partitions = 2
"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("analytics.toml"),
        format!(
            r#"
[sources.ticks]
kind = "kafka"
brokers = "{brokers}"
topic_prefix = "{prefix}"
partitions = 2
group_id = "{prefix}-analytics"
kinds = ["trade", "quote", "status"]
session_timeout = "6s"

[operators.bars]
kind = "time_bars"
inputs = ["ticks"]
intervals = ["1s"]
allowed_lateness = "0s"

[operators.indicators]
kind = "indicators"
inputs = ["bars"]
indicators = ["sma_3", "ema_3"]

[sinks.processed]
kind = "kafka"
inputs = ["bars", "indicators"]
brokers = "{brokers}"
topic_prefix = "{prefix}"
partitions = 2

[sinks.lake]
kind = "parquet"
inputs = ["ticks", "bars", "indicators"]
root = "lake"

[sinks.serving]
kind = "cache"
inputs = ["ticks", "bars", "indicators"]
redis_url = "{redis}"
[sinks.serving.cache]
key_prefix = "{prefix}"
"#
        ),
    )
    .unwrap();
    let api_port = free_port();
    let api = format!("127.0.0.1:{api_port}");
    std::fs::write(dir.join("serve.toml"), format!("[api]\nlisten = \"{api}\"\n[cache]\nredis_url = \"{redis}\"\nkey_prefix = \"{prefix}\"\n")).unwrap();
    let key = Command::new(env!("CARGO_BIN_EXE_tickstream"))
        .args([
            "keys",
            "--keys",
            "keys.json",
            "create",
            "--name",
            "roles",
            "--scopes",
            "read",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        key.status.success(),
        "{}",
        String::from_utf8_lossy(&key.stderr)
    );
    let key = String::from_utf8_lossy(&key.stdout).trim().to_owned();

    let mut ingest = Role::start(
        "ingest",
        &dir,
        &["run", "--checkpoint-interval", "1s", "ingest.toml"],
    );
    let mut analytics = Role::start(
        "analytics",
        &dir,
        &["run", "--checkpoint-interval", "1s", "analytics.toml"],
    );
    let mut serve = Role::start(
        "serve",
        &dir,
        &["serve", "--config", "serve.toml", "--keys", "keys.json"],
    );

    // The API sees trades and one-second bars that went venue → ingest → Kafka → analytics → Redis.
    let start = Instant::now();
    let latest = loop {
        let (status, body) = if std::net::TcpStream::connect(&api).is_ok() {
            http_get(&api, "/v1/latest?exchange=binance&symbol=BTC-USDT", &key)
        } else {
            (0, String::new())
        };
        if status == 200 && body.contains("\"trade\"") && body.contains("\"1s\"") {
            break body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no trade and bar through the three roles after 60 s (last answer {status}: {body})\ningest:\n{}\nanalytics:\n{}\nserve:\n{}",
            ingest.log(),
            analytics.log(),
            serve.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let latest: serde_json::Value = serde_json::from_str(&latest).unwrap();
    assert_eq!(latest["trade"]["exchange"], "binance");
    assert_eq!(latest["intervals"]["1s"]["bar"]["interval"], "1s");
    let (status, _) = http_get(
        &api,
        "/v1/latest?exchange=binance&symbol=BTC-USDT",
        "tsk_wrong",
    );
    assert_eq!(status, 401);

    // Each role stops cleanly on SIGTERM: drained, flushed, committed.
    for role in [&mut ingest, &mut analytics, &mut serve] {
        let status = role.stop(Duration::from_secs(40));
        assert!(
            status.success(),
            "{} exited with {status}:\n{}",
            role.name,
            role.log()
        );
    }
    let trades = dir.join("lake/trades/exchange=binance/symbol=BTC-USDT");
    assert!(
        trades.is_dir(),
        "the lake holds the trades:\n{}",
        analytics.log()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
