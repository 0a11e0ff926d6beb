//! The same recorded trades through the processing chain two ways: live, through Kafka (produced by one node,
//! consumed by another in a consumer group), and with `tickstream replay`. Bars, indicators and signals must
//! be identical.

mod common;

use std::path::Path;

use common::pipeline::processing_chain;
use common::{START, Tickstream, example, push_line, side_of, test_dir, trade_at, write_file};

/// The pipeline up to its processing chain.
const PIPELINE_HEAD: &str = r#"
[sources.recorded]
kind = "file"
paths = ["trades.ndjson"]
kinds = ["trade"]

[sinks.bus]
kind = "kafka"
inputs = ["recorded"]
topic_prefix = "equivalence"
partitions = 1

[sources.ticks]
kind = "kafka"
topic_prefix = "equivalence"
partitions = 1
group_id = "equivalence"
kinds = ["trade"]

"#;

/// The pipeline after its processing chain.
const PIPELINE_TAIL: &str = r#"
[sinks.out]
kind = "file"
inputs = ["bars", "indicators", "signals"]
path = "out.ndjson"
"#;

/// Six hours of trades on two symbols, every 5 s, on a wandering price.
fn write_trades(path: &Path) {
    let template = example("trade");
    let mut lines = String::new();
    let mut price = 3_700_000i64;
    for i in 0..4320i64 {
        price += ((i * 7919) % 23) - 11 + if (i / 400) % 2 == 0 { 2 } else { -2 };
        for (n, symbol) in ["BTC-USD", "ETH-USD"].iter().enumerate() {
            let ts = START + i * 5_000_000_000 + n as i64;
            let text = format!("{}.{:02}", price / 100 / (n as i64 + 1), price % 100);
            let side = side_of(i + n as i64);
            let mut t = trade_at(&template, ts, format!("{i}-{n}"), text, side);
            t["symbol"] = (*symbol).into();
            push_line(&mut lines, &t);
        }
    }
    std::fs::write(path, lines).unwrap();
}

#[test]
fn live_through_kafka_and_replay_give_the_same_bars_indicators_and_signals() {
    let dir = test_dir("equivalence");
    write_file(
        &dir,
        "pipeline.toml",
        format!(
            "{PIPELINE_HEAD}{}{PIPELINE_TAIL}",
            processing_chain(&["bars", "indicators"])
        ),
    );
    write_trades(&dir.join("trades.ndjson"));

    let run = |args: &[&str]| {
        Tickstream::new(args).current_dir(&dir).success();
    };
    // Live: the recorded trades go into the embedded Kafka cluster and come back through a consumer group.
    run(&[
        "run",
        "--for",
        "12s",
        "--checkpoint-interval",
        "1s",
        "pipeline.toml",
    ]);
    run(&[
        "replay",
        "pipeline.toml",
        "--input",
        "trades.ndjson",
        "--out",
        "replayed",
    ]);

    let live = std::fs::read_to_string(dir.join("out.ndjson")).unwrap();
    let replayed = std::fs::read_to_string(dir.join("replayed/out.ndjson")).unwrap();
    let count = |text: &str, kind: &str| {
        text.lines()
            .filter(|l| l.contains(&format!("\"type\":\"{kind}\"")))
            .count()
    };
    assert!(
        count(&live, "bar") > 800,
        "bars for six hours of two symbols"
    );
    assert!(count(&live, "indicator") > 800);
    assert!(count(&live, "signal") > 0, "some rule fired");
    // A sink with several inputs interleaves them as the tasks run; the rows themselves must be equal.
    let sorted = |text: &str| {
        let mut rows: Vec<&str> = text.lines().collect();
        rows.sort_unstable();
        rows.join("\n")
    };
    assert!(
        sorted(&live) == sorted(&replayed),
        "live through Kafka and replay differ; see {}",
        dir.display()
    );
    std::fs::remove_dir_all(dir).unwrap();
}
