//! Restarting a processor does not change its output: trades go into a real Kafka-protocol broker in four
//! chunks; a processor (kafka source -> time bars -> indicators -> signals -> kafka sink) is stopped after
//! each chunk, by SIGTERM or SIGKILL, and restarted from its checkpointed operator state. Its output,
//! deduplicated by key (the Kafka sink is at least once), must equal that of one uninterrupted run over
//! the same input, row for row. No trade follows the last ones: the last bars close because the input
//! partition goes idle. Run by `tests/run`, which starts the broker.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use common::pipeline::{kafka_sink, kafka_ticks, processing_chain};
use common::{
    MINUTE, Running, START, Tickstream, assert_same_rows, example, needs, processed_rows,
    push_line, rows_by_key, scratch_dir, side_of, sigterm, trade_at, write_file,
};
const SYMBOLS: [&str; 2] = ["BTC-USD", "ETH-USD"];
/// Trades per symbol, one every 5 s: four hours.
const TRADES: i64 = 2880;
/// The input partition is idle after this long without new trades.
const IDLE_TIMEOUT: &str = "15s";

fn trade_time(i: i64, symbol: usize) -> i64 {
    START + i * 5_000_000_000 + symbol as i64
}

/// Trade `i` of every symbol as JSON lines, on a price that wanders in waves (so crossovers and RSI
/// extremes happen), and quotes of BTC-USD on two venues whose mid prices drift apart and back (so the
/// spread rule fires on the quotes, which the signal operator reads straight from the source).
fn trade_lines(range: std::ops::Range<i64>) -> String {
    let template = example("trade");
    let quote = example("quote");
    let mut lines = String::new();
    for i in range {
        let wave = ((i / 150) % 2) * 2 - 1;
        let price = 3_700_000 + (i * 7919 % 23) * 3 + wave * ((i % 150) * 40) + i;
        for (n, symbol) in SYMBOLS.iter().enumerate() {
            let p = price / (n as i64 + 1);
            let text = format!("{}.{:02}", p / 100, p % 100);
            let side = side_of(i + n as i64);
            let mut t = trade_at(&template, trade_time(i, n), format!("{i}-{n}"), text, side);
            t["symbol"] = (*symbol).into();
            t["raw_symbol"] = (*symbol).into();
            push_line(&mut lines, &t);
        }
        let spread_bps = ((i / 37) % 3) * 4;
        for (n, exchange) in ["coinbase", "kraken"].iter().enumerate() {
            let mut q = quote.clone();
            let ts = trade_time(i, 0) + 2_000_000 + n as i64;
            let mid = price * 100 * (10_000 + spread_bps * n as i64) / 10_000;
            q["exchange"] = (*exchange).into();
            q["symbol"] = "BTC-USD".into();
            q["raw_symbol"] = "BTC-USD".into();
            q["ts_event"] = ts.into();
            q["ts_recv"] = (ts + 1_000_000).into();
            q["bid_price"] = format!("{}.{:04}", (mid - 50) / 10_000, (mid - 50) % 10_000).into();
            q["ask_price"] = format!("{}.{:04}", (mid + 50) / 10_000, (mid + 50) % 10_000).into();
            push_line(&mut lines, &q);
        }
    }
    lines
}

/// The pipeline under test; the consumer group and the output prefix come from the environment, so the
/// restarted processor and the uninterrupted one run the same file.
fn processor(brokers: &str, input: &str) -> String {
    // Each part stops within a few seconds of catching up, well before the partition is idle (which
    // would close the open bars of this historical data early, as an uninterrupted run would not).
    let source = kafka_ticks((brokers, input, 1), "${GROUP}", &["trade", "quote"], "6s");
    let source = format!("{source}idle_timeout = \"{IDLE_TIMEOUT}\"\n");
    let sink = kafka_sink(
        "out",
        &["bars", "indicators", "signals"],
        (brokers, "${OUT}", 1),
    );
    let chain = processing_chain(&["bars", "indicators", "ticks"]);
    format!(
        r#"
{source}
{chain}[[operators.signals.rules]]
name = "venue_spread"
kind = "spread"
bps = 6
freshness = "10s"

{sink}"#
    )
}

/// A `tickstream run` process, its standard error in a log file; SIGKILL (`kill`) commits nothing after
/// the last completed checkpoint.
struct Run(Running);

impl Run {
    fn start(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
        let log = dir.join(format!("run-{}.log", env.first().map_or("x", |e| e.1)));
        let log = unique_path(log);
        let running = Tickstream::new(["run"])
            .args(args)
            .envs(env.iter().copied())
            .current_dir(dir)
            .spawn_logged(log);
        Run(running)
    }

    fn log(&self) -> String {
        self.0.log()
    }

    fn wait(&mut self, deadline: Duration) -> std::process::ExitStatus {
        self.0
            .exit_within(deadline, Duration::from_millis(50), "did not exit")
    }

    /// SIGTERM: drain, flush, write the last checkpoint, commit, exit 0.
    fn terminate(&mut self) {
        sigterm(&self.0.child);
        let status = self.wait(Duration::from_secs(30));
        assert!(status.success(), "{status}:\n{}", self.log());
    }

    /// SIGKILL: nothing after the last completed checkpoint is committed.
    fn kill(&mut self) {
        self.0.kill();
    }
}

fn unique_path(path: PathBuf) -> PathBuf {
    let mut n = 0;
    loop {
        let candidate = path.with_extension(format!("{n}.log"));
        if !candidate.exists() {
            return candidate;
        }
        n += 1;
    }
}

/// Puts trades `range` into the input topic with tickstream's own file source and kafka sink.
fn produce(dir: &Path, brokers: &str, input: &str, name: &str, lines: &str) {
    write_file(dir, &format!("{name}.ndjson"), lines);
    let sink = kafka_sink("bus", &["file"], (brokers, input, 1));
    write_file(
        dir,
        &format!("{name}.toml"),
        format!(
            "[sources.file]\nkind = \"file\"\npaths = [\"{name}.ndjson\"]\nkinds = [\"trade\", \"quote\"]\n{sink}"
        ),
    );
    let mut run = Run::start(dir, &[("GROUP", name)], &[&format!("{name}.toml")]);
    let status = run.wait(Duration::from_secs(60));
    assert!(status.success(), "producing {name}: {}", run.log());
}

/// True once the output holds the 1m bar of every symbol that opens at `open_time`.
fn has_bars(brokers: &str, prefix: &str, open_time: i64) -> bool {
    let rows = processed_rows(brokers, prefix, 1);
    SYMBOLS.iter().all(|symbol| {
        rows.iter().any(|r| {
            r["type"] == "bar"
                && r["symbol"] == *symbol
                && r["interval"] == "1m"
                && r["open_time"].as_i64() == Some(open_time)
        })
    })
}

/// Waits until the 1m bars opening at `open_time` are out.
fn wait_for_bars(brokers: &str, prefix: &str, open_time: i64, run: &Run) {
    let start = Instant::now();
    while !has_bars(brokers, prefix, open_time) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the bars opening at {open_time} never came out:\n{}",
            run.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The 1m bar two minutes before the one trade `i` falls in: closed once trade `i` is processed.
fn closed_by(i: i64) -> i64 {
    let t = trade_time(i, 0);
    t - t % MINUTE - 2 * MINUTE
}

/// The checkpoint ids in the state changelog of `input`'s trades for `group`, in the order written.
fn changelog_checkpoints(brokers: &str, input: &str, group: &str) -> Vec<u64> {
    let topic = format!("{input}.state.{group}.trades.v1");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("{topic}-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let Ok((low, high)) = consumer.fetch_watermarks(&topic, 0, Duration::from_secs(10)) else {
        return Vec::new();
    };
    if high <= low {
        return Vec::new();
    }
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(&topic, 0, Offset::Offset(low))
        .unwrap();
    consumer.assign(&list).unwrap();
    let mut ids = Vec::new();
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < Duration::from_secs(30), "reading {topic}");
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.unwrap();
        let record: serde_json::Value = serde_json::from_slice(message.payload().unwrap()).unwrap();
        assert_eq!(record["format"], "tickstream.state.v1");
        ids.push(record["checkpoint"].as_u64().unwrap());
        if message.offset() + 1 >= high {
            return ids;
        }
    }
}

#[test]
#[ignore = "needs Kafka: run by tests/run"]
fn a_processor_stopped_and_restarted_mid_stream_gives_the_output_of_an_uninterrupted_run() {
    let brokers = needs("KAFKA_BROKERS");
    let tag = format!(
        "restart{}x{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            % 1_000_000
    );
    let dir = scratch_dir(&tag);
    let input = format!("{tag}-in");
    let restarted = format!("{tag}-restarted");
    let whole = format!("{tag}-whole");
    write_file(&dir, "processor.toml", processor(&brokers, &input));
    let group = format!("{tag}-group");
    let env = [("GROUP", group.as_str()), ("OUT", restarted.as_str())];
    let cuts = [0, TRADES * 2 / 5, TRADES * 3 / 5, TRADES * 4 / 5, TRADES];

    // Puts `lines` into the input topic, starts the processor with checkpoints every `interval` and
    // waits until the 1m bars opening at `open_time` are out.
    let part = |name: &str, lines: &str, interval: &str, open_time: i64| {
        produce(&dir, &brokers, &input, name, lines);
        let args = ["--checkpoint-interval", interval, "processor.toml"];
        let run = Run::start(&dir, &env, &args);
        wait_for_bars(&brokers, &restarted, open_time, &run);
        run
    };
    let restored = |run: &Run| {
        let log = run.log();
        assert!(log.contains("operator state restored"), "{log}");
    };

    // First part; stopped by SIGTERM: it drains, writes its last checkpoint and commits.
    let chunk = trade_lines(cuts[0]..cuts[1]);
    let mut first = part("chunk0", &chunk, "500ms", closed_by(cuts[1] - 1));
    first.terminate();
    let after_first = changelog_checkpoints(&brokers, &input, &group);
    assert!(!after_first.is_empty(), "no checkpoint:\n{}", first.log());

    // Second part, with no checkpoint at all before SIGKILL: everything it read and wrote is read and
    // written again by the next run, from the first run's last checkpoint.
    let chunk = trade_lines(cuts[1]..cuts[2]);
    let mut second = part("chunk1", &chunk, "1h", closed_by(cuts[2] - 1));
    second.kill();
    restored(&second);
    assert_eq!(
        changelog_checkpoints(&brokers, &input, &group),
        after_first,
        "no checkpoint in the second run"
    );

    // Third part; SIGKILL after several barrier checkpoints.
    let chunk = trade_lines(cuts[2]..cuts[3]);
    let mut third = part("chunk2", &chunk, "300ms", closed_by(cuts[3] - 1));
    std::thread::sleep(Duration::from_millis(1500));
    third.kill();
    restored(&third);
    let after_third = changelog_checkpoints(&brokers, &input, &group);
    assert!(after_third.last() > after_first.last(), "{after_third:?}");

    // The rest; the last bars close once the partition is idle. Then SIGTERM.
    let chunk = trade_lines(cuts[3]..cuts[4]);
    let final_bar = closed_by(TRADES - 1) + 2 * MINUTE;
    let mut fourth = part("chunk3", &chunk, "500ms", final_bar);
    fourth.terminate();
    restored(&fourth);

    // One uninterrupted run over the same input, in a group of its own.
    let whole_group = format!("{tag}-whole");
    let whole_env = [("GROUP", whole_group.as_str()), ("OUT", whole.as_str())];
    let mut uninterrupted = Run::start(&dir, &whole_env, &["processor.toml"]);
    wait_for_bars(&brokers, &whole, final_bar, &uninterrupted);
    uninterrupted.terminate();

    let (expected, whole_repeats) = rows_by_key(processed_rows(&brokers, &whole, 1));
    let (got, repeats) = rows_by_key(processed_rows(&brokers, &restarted, 1));
    assert_eq!(
        whole_repeats, 0,
        "an uninterrupted run writes each row once"
    );
    assert!(
        repeats > 0,
        "the killed run's output was written again after the restart"
    );
    let count = |rows: &BTreeMap<String, serde_json::Value>, kind: &str| {
        rows.values().filter(|r| r["type"] == kind).count()
    };
    eprintln!(
        "uninterrupted: {} bars, {} indicator rows, {} signals; restarted: {} rows, {repeats} written twice",
        count(&expected, "bar"),
        count(&expected, "indicator"),
        count(&expected, "signal"),
        got.len()
    );
    // Four hours of two symbols: every minute and five minutes that holds a trade, the last ones included.
    let windows = |length: i64| {
        let opens: std::collections::BTreeSet<i64> =
            (0..TRADES).map(|i| trade_time(i, 0) / length).collect();
        opens.len()
    };
    assert_eq!(
        count(&expected, "bar"),
        SYMBOLS.len() * (windows(MINUTE) + windows(5 * MINUTE)),
        "bars of four hours, two symbols, 1m and 5m"
    );
    assert!(count(&expected, "indicator") >= 570);
    for rule in ["ema_12_cross_26", "rsi_extreme", "venue_spread"] {
        assert!(
            expected.values().any(|r| r["rule"] == rule),
            "{rule} never fired"
        );
    }
    assert_same_rows(&expected, &got, "after the restarts");
    std::fs::remove_dir_all(dir).unwrap();
}
