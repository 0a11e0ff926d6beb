//! Exactly-once across real process kills: a child process consumes a deterministic offset stream (as from
//! two Kafka partitions) into the lake, checkpointing by flush-then-commit, and is killed with SIGKILL at
//! random moments and restarted from its last committed offsets. Files roll at a small size, so kills also
//! land in the merges of a partition's segments. The lake must end up holding every record exactly once,
//! with no temporary files or merge markers.

mod lake_common;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use lake_common::*;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tickstream_io::RecordPosition;
use tickstream_io::lake::{ParquetSink, ParquetSinkConfig};
use tickstream_model::{Event, Exchange};

const CHILD_ENV: &str = "TICKSTREAM_LAKE_CRASH_CHILD";
const PARTITIONS: i32 = 2;
const RECORDS_PER_PARTITION: i64 = 40_000;
const SYMBOLS: [&str; 3] = ["BTC-USDT", "ETH-USDT", "SOL-USDT"];

/// The record at `offset` of `partition`: a trade whose id names both, spread over symbols and two days.
fn record(partition: i32, offset: i64) -> Event {
    let sym = SYMBOLS[(offset % 3) as usize];
    let ts = DAY_START - 3_600 * SECOND + offset * 150_000_000 + i64::from(partition);
    let mut events = trades(Exchange::Binance, sym, ts, 1, 0, 1);
    if let Some(Event::Trade(t)) = events.first_mut() {
        t.trade_id = format!("{partition}-{offset}");
    }
    events.remove(0)
}

fn committed_path(root: &Path) -> PathBuf {
    root.with_extension("committed.json")
}

fn read_committed(root: &Path) -> BTreeMap<i32, i64> {
    std::fs::read(committed_path(root))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// The consumer's commit: atomic replace of a small file, as a broker's offset commit is atomic.
fn write_committed(root: &Path, committed: &BTreeMap<i32, i64>) {
    let path = committed_path(root);
    let temp = path.with_extension("next");
    std::fs::write(&temp, serde_json::to_vec(committed).unwrap()).unwrap();
    File::open(&temp).unwrap().sync_all().unwrap();
    std::fs::rename(&temp, &path).unwrap();
}

/// The child: resume from the committed offsets, write batches alternating between partitions, checkpoint
/// every few batches (flush, then commit what the sink says is committable), exit when everything is in.
fn run_child(root: &Path, seed: u64) {
    let mut config = ParquetSinkConfig::new(root);
    config.row_group_rows = 2_000;
    config.max_file_bytes = 48 * 1024;
    let mut sink = ParquetSink::open(config).unwrap();
    let mut next = read_committed(root);
    let mut rng = seed | 1;
    let mut batches = 0;
    loop {
        let mut done = true;
        for partition in 0..PARTITIONS {
            let start = *next.entry(partition).or_insert(0);
            if start >= RECORDS_PER_PARTITION {
                continue;
            }
            done = false;
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let end = (start + 1 + (rng % 1_500) as i64).min(RECORDS_PER_PARTITION);
            let events: Vec<Event> = (start..end).map(|o| record(partition, o)).collect();
            let positions: Vec<RecordPosition> = (start..end)
                .map(|offset| RecordPosition {
                    topic: "ticks".into(),
                    partition,
                    offset,
                })
                .collect();
            sink.write_batch(&events, &positions).unwrap();
            next.insert(partition, end);
        }
        batches += 1;
        if done || batches % 4 == 0 {
            if done {
                sink.close().unwrap();
            } else {
                sink.flush().unwrap();
            }
            let committed: BTreeMap<i32, i64> = sink
                .committable_offsets()
                .into_iter()
                .map(|p| (p.partition, p.next_offset))
                .collect();
            write_committed(root, &committed);
        }
        if done {
            return;
        }
    }
}

#[test]
fn lake_crash_child() {
    // Runs only as the child process of the test below.
    if let Ok(root) = std::env::var(CHILD_ENV) {
        let seed = std::env::var("TICKSTREAM_LAKE_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(7);
        run_child(Path::new(&root), seed);
    }
}

#[test]
fn sigkill_at_random_moments_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lake");
    let exe = std::env::current_exe().unwrap();
    let spawn = |seed: u64| {
        Command::new(&exe)
            .args(["--exact", "lake_crash_child", "--test-threads", "1"])
            .env(CHILD_ENV, &root)
            .env("TICKSTREAM_LAKE_CRASH_SEED", seed.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap()
    };
    let mut kills = 0;
    for round in 0..6u64 {
        let mut child = spawn(round * 7_919 + 11);
        let wait = Duration::from_millis(150 + (round * 113) % 400);
        let started = Instant::now();
        while started.elapsed() < wait {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
    }
    let status = spawn(99).wait().unwrap();
    assert!(status.success(), "the last run finishes the stream");
    assert!(kills >= 3, "the child was killed mid-run {kills} times");

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for file in parquet_files(&root) {
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(File::open(root.join(&file)).unwrap())
                .unwrap();
        for batch in reader.build().unwrap() {
            let batch = batch.unwrap();
            let ids = batch.column_by_name("trade_id").unwrap().as_string::<i32>();
            for id in ids.iter().flatten() {
                *counts.entry(id.to_owned()).or_default() += 1;
            }
        }
    }
    let duplicates: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(duplicates.is_empty(), "duplicated records: {duplicates:?}");
    assert_eq!(
        counts.len() as i64,
        i64::from(PARTITIONS) * RECORDS_PER_PARTITION,
        "no record lost"
    );
    assert!(
        temp_files(&root).is_empty(),
        "temporary files left: {:?}",
        temp_files(&root)
    );
}
