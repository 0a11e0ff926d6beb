//! `tickstream run pipelines/demo.toml --for ...`: the demo (simulator ports moved to free ones, run in a
//! directory of its own) prints status lines when standard error is not a terminal and ends with a summary
//! naming events by node and kind (signals included, within the first minute), the lake, the topics, the
//! API and a DuckDB query; the query runs on the lake the run wrote. A clean start logs no warning.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Tickstream, free_port, fresh_test_dir, repo_path};

/// Runs the demo for `run_for` in a fresh directory; returns the directory, the API port and stderr.
fn run_demo(name: &str, run_for: &str) -> (PathBuf, u16, String) {
    let dir = fresh_test_dir(name);
    let demo = repo_path("pipelines/demo.toml");
    let (sim_port, api_port) = (free_port(), free_port());
    let text = std::fs::read_to_string(demo)
        .unwrap()
        .replace("127.0.0.1:9900", &format!("127.0.0.1:{sim_port}"))
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{api_port}"));
    std::fs::write(dir.join("demo.toml"), text).unwrap();
    let out = Tickstream::new([
        "run",
        "demo.toml",
        "--for",
        run_for,
        "--checkpoint-interval",
        "1s",
    ])
    .current_dir(&dir)
    .without_services()
    .output();
    let stderr = common::stderr(&out);
    assert!(out.status.success(), "{stderr}");
    (dir, api_port, stderr)
}

/// The query printed after the summary's DuckDB line.
fn printed_query(stderr: &str) -> String {
    let mut lines = stderr.lines();
    lines
        .find(|l| l.starts_with("try the lake in DuckDB"))
        .expect("the summary offers a DuckDB query");
    lines.next().expect("the query follows").to_owned()
}

#[test]
fn the_demo_shows_status_lines_and_ends_with_a_summary() {
    // Long enough for the first signals: the demo's rule on 5 s bars fires within its first minute.
    let (dir, api_port, stderr) = run_demo("demo", "50s");
    // A clean start (up to the first status line) warns of nothing, and logs to a pipe carry no colour
    // escapes.
    let start = stderr.split("\nstatus 0:00:").next().unwrap_or_default();
    let warnings: Vec<&str> = start.lines().filter(|l| l.contains(" WARN ")).collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
    assert!(!stderr.contains('\x1b'), "colour escapes in: {stderr}");
    // Standard error is a pipe here: one plain status line every 10 s, not a redrawn panel.
    let status = stderr
        .lines()
        .find(|l| l.starts_with("status 0:00:1"))
        .unwrap_or_else(|| panic!("a status line: {stderr}"));
    assert!(status.contains("sinks wrote"), "{status}");
    for venue in ["binance", "coinbase", "kraken", "okx", "bitstamp", "bybit"] {
        assert!(status.contains(&format!("{venue} ")), "{venue} in {status}");
    }
    assert!(status.contains("reconnects"), "{status}");
    assert!(status.contains("kafka lag"), "{status}");
    assert!(status.contains("parquet files"), "{status}");
    assert!(
        status.ends_with(&format!("API http://127.0.0.1:{api_port}")),
        "{status}"
    );

    let summary = &stderr[stderr.find("\nran for ").expect("the summary") + 1..];
    assert!(summary.contains("events by node and kind:"), "{summary}");
    assert!(
        summary
            .lines()
            .any(|l| l.trim_start().starts_with("signals ") && l.contains(" signal ")),
        "signals fired: {summary}"
    );
    for node in ["binance", "ticks", "bars", "indicators", "signals"] {
        assert!(
            summary
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{node} "))),
            "{node} in {summary}"
        );
    }
    assert!(summary.contains("trade "), "{summary}");
    assert!(summary.contains("\nlake: data/lake ("), "{summary}");
    assert!(
        summary.contains("topics on the embedded cluster, gone with the process: ")
            && summary.contains("tickstream.trades.v1")
            && summary.contains("tickstream.bars.v1"),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("API was on http://127.0.0.1:{api_port}")),
        "{summary}"
    );
    let query = printed_query(summary);
    assert!(query.contains("read_parquet('data/lake/"), "{query}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
#[ignore = "needs the Python venv: run by tests/run"]
fn the_printed_duckdb_query_runs_on_the_written_lake() {
    let python = std::env::var("TICKSTREAM_PYTHON")
        .expect("TICKSTREAM_PYTHON must name the Python of the venv with duckdb");
    let (dir, _, stderr) = run_demo("demo-query", "8s");
    let query = printed_query(&stderr);
    let out = Command::new(python)
        .args([
            "-c",
            "import duckdb, sys\nrows = duckdb.sql(sys.argv[1]).fetchall()\nassert rows, 'no rows'\nprint(len(rows))",
            &query,
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{query}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(rows > 0);
    std::fs::remove_dir_all(dir).unwrap();
}
