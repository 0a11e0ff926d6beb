//! The Parquet sink's rolls on a real filesystem: files committed at each flush are segments of the
//! partition's file, merged into one file at the age or size limit or when the sink closes, with every row
//! once, in time order, the offsets of all of them in the metadata, and a crash in a merge resolved on open.

mod lake_common;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lake_common::*;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tickstream_io::RecordPosition;
use tickstream_io::lake::{ParquetSink, ParquetSinkConfig, file_offsets};
use tickstream_model::{Event, Exchange};

const BTC_DIR: &str = "trades/exchange=binance/symbol=BTC-USDT/date=2026-11-21";
const ETH_DIR: &str = "trades/exchange=binance/symbol=ETH-USDT/date=2026-11-21";

/// Per file of the trades dataset: its (ts_event, trade_id) rows in file order.
fn rows_per_file(root: &Path) -> BTreeMap<PathBuf, Vec<(i64, String)>> {
    let mut out = BTreeMap::new();
    for file in parquet_files(root)
        .into_iter()
        .filter(|f| f.starts_with("trades"))
    {
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(File::open(root.join(&file)).unwrap())
                .unwrap()
                .build()
                .unwrap();
        let mut rows = Vec::new();
        for batch in reader {
            for (id, ts) in trade_ids_and_times(&batch.unwrap()) {
                rows.push((ts, id));
            }
        }
        out.insert(file, rows);
    }
    out
}

/// The trade ids stored, sorted, each as often as it is stored.
fn stored_ids(root: &Path) -> Vec<u64> {
    let mut ids: Vec<u64> = rows_per_file(root)
        .values()
        .flatten()
        .map(|r| r.1.parse().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

/// Trades of BTC-USDT (ids 0..500) and ETH-USDT (ids 1000..1500) interleaved, one per source offset of
/// partition 0 of `ticks`, in five chunks; the fourth chunk of each symbol is earlier in event time than
/// the third, so segments overlap.
fn chunks() -> Vec<Vec<Event>> {
    let starts = [0, 100, 300, 200, 400];
    starts
        .iter()
        .map(|&start| {
            let btc = trades(
                Exchange::Binance,
                "BTC-USDT",
                DAY_START + start * SECOND,
                SECOND,
                start as u64,
                100,
            );
            let eth = trades(
                Exchange::Binance,
                "ETH-USDT",
                DAY_START + start * SECOND,
                SECOND,
                1_000 + start as u64,
                100,
            );
            btc.into_iter().zip(eth).flat_map(|(a, b)| [a, b]).collect()
        })
        .collect()
}

fn offsets(first: i64, n: usize) -> Vec<RecordPosition> {
    (0..n)
        .map(|i| RecordPosition {
            topic: "ticks".into(),
            partition: 0,
            offset: first + i as i64,
        })
        .collect()
}

/// Writes the chunks through `sink` with a flush after each; returns the number of offsets used.
fn write_with_flushes(sink: &mut ParquetSink, chunks: &[Vec<Event>]) -> i64 {
    let mut next = 0;
    for chunk in chunks {
        sink.write_batch(chunk, &offsets(next, chunk.len()))
            .unwrap();
        next += chunk.len() as i64;
        sink.flush().unwrap();
    }
    next
}

/// One file in each of the two partitions, every row once, sorted by event time, and offset metadata
/// covering every offset of the partition's rows.
fn assert_one_sorted_file_per_partition(root: &Path, all_offsets: i64) {
    let files = rows_per_file(root);
    let dirs: Vec<&Path> = files.keys().map(|f| f.parent().unwrap()).collect();
    assert_eq!(dirs, [Path::new(BTC_DIR), Path::new(ETH_DIR)], "{files:?}");
    for (file, rows) in &files {
        assert!(
            rows.windows(2).all(|w| w[0].0 <= w[1].0),
            "sorted: {file:?}"
        );
        // BTC-USDT rows have the even offsets, ETH-USDT rows the odd ones.
        let first = i64::from(file.starts_with(ETH_DIR));
        let ranges: Vec<(String, i32, i64, i64)> = file_offsets(&root.join(file))
            .unwrap()
            .into_iter()
            .map(|r| (r.topic, r.partition, r.first, r.last))
            .collect();
        assert_eq!(
            ranges,
            [("ticks".to_owned(), 0, first, all_offsets - 2 + first)]
        );
    }
    let expected: Vec<u64> = (0..500).chain(1_000..1_500).collect();
    assert_eq!(stored_ids(root), expected, "every row exactly once");
}

#[test]
fn flushes_commit_segments_and_the_age_roll_merges_them_into_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ParquetSinkConfig::new(dir.path());
    config.max_file_age = Duration::from_secs(2);
    let mut sink = ParquetSink::open(config).unwrap();
    let all = write_with_flushes(&mut sink, &chunks());
    assert_eq!(all, 1_000);
    assert_eq!(
        parquet_files(dir.path()).len(),
        10,
        "a segment per flush and partition, visible at once"
    );
    assert_eq!(stored_ids(dir.path()).len(), 1_000);
    std::thread::sleep(Duration::from_secs(2));
    sink.roll_expired().unwrap();
    assert_eq!(sink.stats().segments_merged, 2);
    assert_eq!(sink.stats().files_committed, 10);
    assert_one_sorted_file_per_partition(dir.path(), all);

    // Rows after the roll start the next file; a new sink skips every offset the merged files hold.
    drop(sink);
    let mut sink = ParquetSink::open(ParquetSinkConfig::new(dir.path())).unwrap();
    let replay: Vec<Event> = chunks().concat();
    sink.write_batch(&replay, &offsets(0, replay.len()))
        .unwrap();
    sink.close().unwrap();
    assert_eq!(sink.stats().duplicates_skipped, 1_000);
    assert_one_sorted_file_per_partition(dir.path(), all);
}

#[test]
fn the_size_limit_rolls_the_file_over_its_segments_and_close_merges_the_rest() {
    // The size of one flush's segment, measured on a sink of its own.
    let probe = tempfile::tempdir().unwrap();
    let mut sink = ParquetSink::open(ParquetSinkConfig::new(probe.path())).unwrap();
    write_with_flushes(&mut sink, &chunks()[..1]);
    let segment = std::fs::metadata(probe.path().join(&parquet_files(probe.path())[0]))
        .unwrap()
        .len();

    let dir = tempfile::tempdir().unwrap();
    let mut config = ParquetSinkConfig::new(dir.path());
    config.row_group_rows = 100;
    config.max_file_bytes = (3 * segment).max(1024);
    let mut sink = ParquetSink::open(config).unwrap();
    let chunks = chunks();
    write_with_flushes(&mut sink, &chunks[..3]);
    assert_eq!(parquet_files(dir.path()).len(), 6, "three segments each");
    // The fourth chunk's row group brings each partition to its size limit: the file rolls at once.
    sink.write_batch(&chunks[3], &offsets(600, 200)).unwrap();
    assert_eq!(sink.stats().segments_merged, 2);
    assert_eq!(parquet_files(dir.path()).len(), 2);
    assert_eq!(stored_ids(dir.path()).len(), 800);
    sink.write_batch(&chunks[4], &offsets(800, 200)).unwrap();
    sink.flush().unwrap();
    assert_eq!(
        parquet_files(dir.path()).len(),
        4,
        "one segment after the roll"
    );
    // The end of a run: a single segment since the roll stays as it is; several are merged (below).
    sink.close().unwrap();
    assert_eq!(
        parquet_files(dir.path()).len(),
        4,
        "a single segment stays as it is"
    );
    assert_eq!(
        stored_ids(dir.path()),
        (0..500).chain(1_000..1_500).collect::<Vec<u64>>()
    );

    let dir = tempfile::tempdir().unwrap();
    let mut sink = ParquetSink::open(ParquetSinkConfig::new(dir.path())).unwrap();
    let all = write_with_flushes(&mut sink, &chunks);
    sink.close().unwrap();
    assert_one_sorted_file_per_partition(dir.path(), all);
}

#[test]
fn a_flush_in_steps_makes_durable_everything_written_before_it_began() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ParquetSinkConfig::new(dir.path());
    // One partition per step.
    cfg.max_open_files = 1;
    let mut sink = ParquetSink::open(cfg).unwrap();
    let trades_of = |sym: &str, first_id: u64, n: usize| {
        trades(
            Exchange::Binance,
            sym,
            DAY_START + first_id as i64 % 1000 * SECOND,
            SECOND,
            first_id,
            n,
        )
    };
    let before: Vec<Event> = [trades_of("BTC-USDT", 0, 5), trades_of("ETH-USDT", 1000, 5)].concat();
    sink.write_batch(&before, &offsets(0, 10)).unwrap();

    sink.begin_flush();
    assert!(!sink.flush_step().unwrap(), "two partitions, two steps");
    assert!(
        sink.committable_offsets()[0].next_offset < 10,
        "one partition is not durable yet"
    );
    // Written between the steps: the partition still to come takes its rows into this flush.
    let between: Vec<Event> =
        [trades_of("BTC-USDT", 5, 3), trades_of("ETH-USDT", 1005, 3)].concat();
    sink.write_batch(&between, &offsets(10, 6)).unwrap();
    assert!(sink.flush_step().unwrap(), "the flush is complete");

    let stored = stored_ids(dir.path());
    let written_before: Vec<u64> = (0..5).chain(1000..1005).collect();
    assert!(
        written_before.iter().all(|id| stored.contains(id)),
        "{stored:?}"
    );
    assert_eq!(
        stored.len(),
        13,
        "one partition's later rows wait for the next flush"
    );
    let committable = sink.committable_offsets()[0].next_offset;
    assert!((10..16).contains(&committable), "{committable}");

    sink.flush().unwrap();
    assert_eq!(stored_ids(dir.path()).len(), 16);
    assert_eq!(sink.committable_offsets()[0].next_offset, 16);
}

/// A sink that holds at most 20 rows and writes one partition's file at a time.
fn sink_of_twenty_rows(root: &std::path::Path) -> ParquetSink {
    let mut cfg = ParquetSinkConfig::new(root);
    cfg.max_buffered_rows = 20;
    cfg.row_group_rows = 20;
    cfg.max_open_files = 1;
    ParquetSink::open(cfg).unwrap()
}

#[test]
fn past_the_row_limit_the_largest_partitions_are_committed_a_group_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = sink_of_twenty_rows(dir.path());
    let btc = trades(Exchange::Binance, "BTC-USDT", DAY_START, SECOND, 0, 8);
    let eth = trades(Exchange::Binance, "ETH-USDT", DAY_START, SECOND, 1000, 7);
    let sol = trades(Exchange::Binance, "SOL-USDT", DAY_START, SECOND, 2000, 6);
    sink.write_batch(&[btc, eth].concat(), &offsets(0, 15))
        .unwrap();
    assert_eq!(
        sink.buffered_rows(),
        15,
        "under the limit, nothing is written"
    );
    // 21 rows: getting down to 10 takes the two largest partitions, one per write.
    sink.write_batch(&sol, &offsets(15, 6)).unwrap();
    assert_eq!(
        sink.buffered_rows(),
        13,
        "the largest partition is committed first"
    );
    assert_eq!(stored_ids(dir.path()), (0..8).collect::<Vec<u64>>());
    sink.write_batch(&[], &[]).unwrap();
    assert_eq!(
        sink.buffered_rows(),
        13,
        "a write right after takes rows only"
    );
    // A group waits twice the time the last one took.
    std::thread::sleep(Duration::from_millis(500));
    sink.write_batch(&[], &[]).unwrap();
    assert_eq!(sink.buffered_rows(), 6, "then the next");
    assert_eq!(stored_ids(dir.path()).len(), 15);
    sink.write_batch(&[], &[]).unwrap();
    assert_eq!(sink.buffered_rows(), 6, "half the limit is reached");

    sink.flush().unwrap();
    assert_eq!(stored_ids(dir.path()).len(), 21);
    assert_eq!(sink.committable_offsets()[0].next_offset, 21);
}

#[test]
fn a_stepped_flush_says_when_the_rows_waiting_are_past_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = sink_of_twenty_rows(dir.path());
    let btc = trades(Exchange::Binance, "BTC-USDT", DAY_START, SECOND, 0, 15);
    sink.write_batch(&btc, &offsets(0, 15)).unwrap();
    assert!(!sink.over_row_limit());
    sink.begin_flush();
    // Early commits wait while a flush is under way, so rows pile up past the limit.
    let eth = trades(Exchange::Binance, "ETH-USDT", DAY_START, SECOND, 1000, 10);
    sink.write_batch(&eth, &offsets(15, 10)).unwrap();
    assert_eq!(sink.buffered_rows(), 25);
    assert!(sink.over_row_limit());
    while !sink.flush_step().unwrap() {}
    // The flush took the partitions holding rows when it began.
    assert_eq!(sink.buffered_rows(), 10);
    assert!(!sink.over_row_limit());
    assert_eq!(stored_ids(dir.path()), (0..15).collect::<Vec<u64>>());
}

#[test]
fn an_early_commit_takes_at_most_about_sixteen_thousand_rows_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ParquetSinkConfig::new(dir.path());
    cfg.max_buffered_rows = 40_000;
    let mut sink = ParquetSink::open(cfg).unwrap();
    let n = 20_000;
    let btc = trades(Exchange::Binance, "BTC-USDT", DAY_START, 1_000, 0, n);
    let eth = trades(Exchange::Binance, "ETH-USDT", DAY_START, 1_000, 100_000, n);
    let sol = trades(Exchange::Binance, "SOL-USDT", DAY_START, 1_000, 200_000, n);
    sink.write_batch(&[btc, eth].concat(), &offsets(0, 2 * n))
        .unwrap();
    assert_eq!(sink.buffered_rows(), 40_000);
    // 60,000 rows: getting down to 20,000 takes two partitions, but one write commits only the first.
    sink.write_batch(&sol, &offsets(40_000, n)).unwrap();
    assert_eq!(sink.buffered_rows(), 40_000);
    assert_eq!(stored_ids(dir.path()).len(), 20_000);
    sink.flush().unwrap();
    assert_eq!(stored_ids(dir.path()).len(), 60_000);
}

fn merged_with_saved_segments(root: &Path, saved: &Path) -> (Vec<String>, String) {
    let mut sink = ParquetSink::open(ParquetSinkConfig::new(root)).unwrap();
    write_with_flushes(&mut sink, &chunks());
    let leaf = root.join(BTC_DIR);
    let names = |dir: &Path| -> Vec<String> {
        parquet_files(dir)
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    let segments = names(&leaf);
    assert_eq!(segments.len(), 5);
    for name in &segments {
        std::fs::copy(leaf.join(name), saved.join(name)).unwrap();
    }
    sink.close().unwrap();
    let merged = names(&leaf);
    assert_eq!(merged.len(), 1);
    (segments, merged[0].clone())
}

fn write_marker(leaf: &Path, new: &str, replaces: &[String]) {
    let marker = serde_json::json!({ "new": new, "replaces": replaces });
    std::fs::write(
        leaf.join(format!(".compact-{new}.json")),
        marker.to_string(),
    )
    .unwrap();
}

/// Puts the saved segments back into the partition, as they were before the merge removed them.
fn restore_segments(saved: &Path, leaf: &Path, segments: &[String]) {
    for name in segments {
        std::fs::copy(saved.join(name), leaf.join(name)).unwrap();
    }
}

/// Opens a sink, which resolves the one interrupted merge and leaves no temporary file or marker.
fn assert_open_resolves_the_merge(root: &Path) {
    let sink = ParquetSink::open(ParquetSinkConfig::new(root)).unwrap();
    assert_eq!(sink.stats().compactions_resolved, 1);
    drop(sink);
    assert!(temp_files(root).is_empty());
}

/// A new sink sees every offset as stored: a replay of all of them adds nothing.
fn assert_replay_adds_nothing(root: &Path) {
    let mut sink = ParquetSink::open(ParquetSinkConfig::new(root)).unwrap();
    let replay: Vec<Event> = chunks().concat();
    sink.write_batch(&replay, &offsets(0, replay.len()))
        .unwrap();
    sink.close().unwrap();
    assert_eq!(sink.stats().duplicates_skipped, 1_000);
    assert_eq!(sink.stats().rows_accepted, 0);
}

#[test]
fn a_merge_interrupted_after_its_new_file_is_committed_is_finished_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let saved = tempfile::tempdir().unwrap();
    let (segments, merged) = merged_with_saved_segments(dir.path(), saved.path());
    // The crash: the merged file is in place, the segments are not removed yet, the marker is there.
    let leaf = dir.path().join(BTC_DIR);
    restore_segments(saved.path(), &leaf, &segments);
    write_marker(&leaf, &merged, &segments);
    assert_eq!(stored_ids(dir.path()).len(), 1_500, "BTC-USDT rows twice");

    assert_open_resolves_the_merge(dir.path());
    assert_one_sorted_file_per_partition(dir.path(), 1_000);
    assert_replay_adds_nothing(dir.path());
    assert_one_sorted_file_per_partition(dir.path(), 1_000);
}

#[test]
fn a_merge_interrupted_before_its_new_file_is_committed_is_undone_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let saved = tempfile::tempdir().unwrap();
    let (segments, merged) = merged_with_saved_segments(dir.path(), saved.path());
    // The crash: the segments are in place, the merged file only half written under its temporary name.
    let leaf = dir.path().join(BTC_DIR);
    std::fs::remove_file(leaf.join(&merged)).unwrap();
    restore_segments(saved.path(), &leaf, &segments);
    std::fs::write(leaf.join(format!(".{merged}.tmp")), b"PAR1").unwrap();
    write_marker(&leaf, &merged, &segments);

    assert_open_resolves_the_merge(dir.path());
    assert_eq!(parquet_files(&leaf).len(), 5, "the segments stay");
    assert_eq!(
        stored_ids(dir.path()),
        (0..500).chain(1_000..1_500).collect::<Vec<u64>>()
    );
    assert_replay_adds_nothing(dir.path());
    assert_eq!(parquet_files(&leaf).len(), 5);
}
