//! `tickstream bench` on a small flow (one venue, two symbols, two seconds a phase): the report names
//! every figure and each parses as a number. Nothing here is timed: speed is what the report measures.

mod common;

use common::Tickstream;

/// The number after `label` in `line` (the first word after it, without trailing commas or units).
fn number_after(line: &str, label: &str) -> f64 {
    let rest = &line[line
        .find(label)
        .unwrap_or_else(|| panic!("{label} in {line}"))
        + label.len()..];
    let word = rest.split_whitespace().next().unwrap_or_default();
    word.trim_end_matches(',')
        .parse()
        .unwrap_or_else(|e| panic!("{label} {word:?} in {line}: {e}"))
}

fn line<'a>(report: &'a str, start: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.trim_start().starts_with(start))
        .unwrap_or_else(|| panic!("a line starting with {start:?} in\n{report}"))
}

#[test]
fn a_small_bench_reports_throughput_stages_latency_and_memory() {
    let out = Tickstream::new([
        "bench",
        "--duration",
        "2s",
        "--venues",
        "1",
        "--symbols",
        "2",
        "--rate",
        "500",
    ])
    .without_services()
    .output();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let head = line(&report, "tickstream bench:");
    assert!(
        head.contains("1 venues x 2 symbols; checkpoints every 5s; broker: embedded"),
        "{head}"
    );
    assert!(number_after(line(&report, "sustained:"), "sustained:") > 0.0);
    for stage in [
        "simulator to connectors",
        "connectors",
        "kafka produce",
        "kafka consume",
        "bars",
        "indicators",
        "parquet sink",
        "parquet rows",
        "parquet files",
        "cache sink",
    ] {
        let l = line(&report, &format!("stage {stage}:"));
        number_after(l, &format!("stage {stage}:"));
    }
    assert!(number_after(line(&report, "stage connectors:"), "stage connectors:") > 0.0);
    number_after(
        line(&report, "kafka backlog at end:"),
        "kafka backlog at end:",
    );
    assert!(
        line(&report, "cpu by thread (cores):").contains("tokio"),
        "{report}"
    );
    assert!(number_after(line(&report, "offered:"), "offered:") > 0.0);
    let latency = line(&report, "latency ts_recv to cache write:");
    let p50 = number_after(latency, "p50");
    let p99 = number_after(latency, "p99");
    let max = number_after(latency, "max");
    assert!(0.0 <= p50 && p50 <= p99 && p99 <= max, "{latency}");
    assert!(number_after(line(&report, "peak RSS:"), "peak RSS:") > 0.0);
}
