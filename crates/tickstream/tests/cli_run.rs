//! `tickstream run` end to end on files: a source, an operator and a sink as separate tasks, bad lines
//! counted and skipped, everything flushed at the end.

use std::path::Path;
use std::process::Command;

#[test]
fn extract_pipeline_copies_one_instrument_and_skips_bad_lines() {
    let dir = std::env::temp_dir().join(format!("tickstream-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/examples");
    let trade = std::fs::read_to_string(schemas.join("trade.v1.json")).unwrap();
    let btc: serde_json::Value = serde_json::from_str(&trade).unwrap();
    let mut eth = btc.clone();
    eth["symbol"] = "ETH-USD".into();
    eth["raw_symbol"] = "ETH-USD".into();
    let quote = std::fs::read_to_string(schemas.join("quote.v1.json")).unwrap();
    let quote: serde_json::Value = serde_json::from_str(&quote).unwrap();
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
    let input = dir.join("in.ndjson");
    let output = dir.join("out.ndjson");
    std::fs::write(&input, lines.join("\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tickstream"))
        .args(["run", "--checkpoint-interval", "10ms"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines/extract.toml"))
        .env("INPUT", &input)
        .env("OUTPUT", &output)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
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
