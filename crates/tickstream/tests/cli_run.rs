//! `tickstream run` end to end on files: a source, an operator and a sink as separate tasks, bad lines
//! counted and skipped, everything flushed at the end.

mod common;

use common::{Tickstream, example, repo_path, test_dir, write_file};

#[test]
fn extract_pipeline_copies_one_instrument_and_skips_bad_lines() {
    let dir = test_dir("run");
    let btc = example("trade");
    let mut eth = btc.clone();
    eth["symbol"] = "ETH-USD".into();
    eth["raw_symbol"] = "ETH-USD".into();
    let quote = example("quote");
    let mut lines = Vec::new();
    for i in 0..5000 {
        let mut t = if i % 2 == 0 { btc.clone() } else { eth.clone() };
        t["trade_id"] = i.to_string().into();
        lines.push(t.to_string());
        if i % 1000 == 0 {
            lines.push("{\"type\":\"trade\",\"price\":\"NaN\"}".into());
            lines.push(quote.to_string());
        }
    }
    let input = write_file(&dir, "in.ndjson", lines.join("\n"));
    let output = dir.join("out.ndjson");
    let out = Tickstream::new(["run", "--checkpoint-interval", "10ms"])
        .arg(repo_path("pipelines/extract.toml"))
        .env("INPUT", &input)
        .env("OUTPUT", &output)
        .output();
    let stderr = common::stderr(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("skipping a line that is not an event"),
        "{stderr}"
    );
    let written = std::fs::read_to_string(&output).unwrap();
    let ids: Vec<String> = written
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["symbol"], "BTC-USD");
            assert_eq!(v["type"], "trade");
            v["trade_id"].as_str().unwrap().to_owned()
        })
        .collect();
    let expected: Vec<String> = (0..5000).step_by(2).map(|i: i32| i.to_string()).collect();
    assert_eq!(ids, expected, "every BTC-USD trade, once, in order");
    std::fs::remove_dir_all(dir).unwrap();
}
