//! The three roles as separate processes against a real Kafka-protocol broker and Redis: ingestion
//! (simulated venues → Kafka), processing (Kafka → bars and indicators → Kafka, the lake, Redis) and serving
//! (the API over Redis). Run by `tests/run`, which starts the broker and Redis.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::pipeline::{kafka_sink, kafka_ticks, one_second_bars, simulated_venue};
use common::{Running, Simulator, Tickstream, free_port, needs, sigterm, test_dir, write_file};

/// A role's process, killed when the test ends, its output in a log file.
struct Role {
    name: &'static str,
    process: Running,
}

impl Role {
    fn start(name: &'static str, dir: &Path, args: &[&str]) -> Role {
        let process = Tickstream::new(args)
            .current_dir(dir)
            .spawn_logged(dir.join(format!("{name}.log")));
        Role { name, process }
    }

    fn log(&self) -> String {
        self.process.log()
    }

    /// SIGTERM, then the exit status within `deadline`.
    fn stop(&mut self, deadline: Duration) -> std::process::ExitStatus {
        sigterm(&self.process.child);
        let what = format!("{} did not stop", self.name);
        self.process
            .exit_within(deadline, Duration::from_millis(100), &what)
    }
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
    let dir = test_dir("roles");

    // The venues.
    let sim = Simulator::start(&["--tick", "50ms"]);
    let sim_addr = &sim.addr;

    let prefix = format!("roles{run}");
    let venue = simulated_venue("binance", &["BTC-USDT"], &["trades", "bbo"], sim_addr);
    let bus = kafka_sink("bus", &["binance"], (&brokers, &prefix, 2));
    write_file(&dir, "ingest.toml", format!("\n{venue}\n{bus}"));
    let source = kafka_ticks(
        (&brokers, &prefix, 2),
        &format!("{prefix}-analytics"),
        &["trade", "quote", "status"],
        "6s",
    );
    let bars = one_second_bars(&["ticks"]);
    let processed = kafka_sink("processed", &["bars", "indicators"], (&brokers, &prefix, 2));
    write_file(
        &dir,
        "analytics.toml",
        format!(
            r#"
{source}
{bars}
[operators.indicators]
kind = "indicators"
inputs = ["bars"]
indicators = ["sma_3", "ema_3"]

{processed}
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
    );
    let api_port = free_port();
    let api = format!("127.0.0.1:{api_port}");
    write_file(
        &dir,
        "serve.toml",
        format!(
            "[api]\nlisten = \"{api}\"\n[cache]\nredis_url = \"{redis}\"\nkey_prefix = \"{prefix}\"\n"
        ),
    );
    let key = Tickstream::new([
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
    .output();
    assert!(key.status.success(), "{}", common::stderr(&key));
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
