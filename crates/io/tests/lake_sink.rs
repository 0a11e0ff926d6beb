//! The Parquet sink on a real filesystem: schemas, layout, file settings, rolling, atomic commits and
//! exactly-once recovery after a crash.

mod lake_common;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use lake_common::*;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::reader::{FileReader, SerializedFileReader};
use tickstream_io::lake::{ParquetSink, ParquetSinkConfig, arrow_schema, file_offsets};
use tickstream_io::{PartitionPosition, RecordPosition};
use tickstream_model::{Event, Exchange};

fn read_batches(path: &Path) -> Vec<RecordBatch> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    builder.build().unwrap().map(|b| b.unwrap()).collect()
}

/// Every (file, trade_id, ts_event) of the trades dataset.
fn stored_trades(root: &Path) -> Vec<(String, String, i64)> {
    let mut out = Vec::new();
    for file in parquet_files(root)
        .into_iter()
        .filter(|f| f.starts_with("trades"))
    {
        for batch in read_batches(&root.join(&file)) {
            for (id, ts) in trade_ids_and_times(&batch) {
                out.push((file.display().to_string(), id, ts));
            }
        }
    }
    out
}

fn config(root: &Path) -> ParquetSinkConfig {
    ParquetSinkConfig::new(root)
}

fn offsets(topic: &str, partition: i32, first: i64, n: usize) -> Vec<RecordPosition> {
    (0..n)
        .map(|i| RecordPosition {
            topic: topic.into(),
            partition,
            offset: first + i as i64,
        })
        .collect()
}

#[test]
fn datasets_land_in_hive_partitions_with_the_published_schema() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = ParquetSink::open(config(dir.path())).unwrap();
    sink.write(&one_of_each()).unwrap();
    sink.flush().unwrap();
    let files: Vec<String> = parquet_files(dir.path())
        .iter()
        .map(|f| f.parent().unwrap().display().to_string())
        .collect();
    assert_eq!(
        files,
        [
            "bars/exchange=binance/symbol=BTC-USDT/interval=1m/date=2026-11-21",
            "indicators/exchange=binance/symbol=BTC-USDT/interval=1m/date=2026-11-21",
            "quotes/exchange=coinbase/symbol=ETH-USD/date=2026-11-22",
            "signals/date=2026-11-21",
            "status/date=2026-11-21",
            "trades/exchange=binance/symbol=BTC-USDT/date=2026-11-21",
        ]
    );
    assert_eq!(sink.stats().passed_over, 1, "the book is off by default");
    assert!(temp_files(dir.path()).is_empty());

    for file in parquet_files(dir.path()) {
        let path = dir.path().join(&file);
        let dataset = file.iter().next().unwrap().to_string_lossy().into_owned();
        let table = tickstream_io::lake::lake_table_named(&dataset).unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
        assert_eq!(
            builder.schema().fields(),
            arrow_schema(table).fields(),
            "{dataset} reads back with its schema"
        );

        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let meta = reader.metadata();
        let kv: BTreeMap<String, String> = meta
            .file_metadata()
            .key_value_metadata()
            .unwrap()
            .iter()
            .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
            .collect();
        assert_eq!(kv["tickstream.schema"], table.kind.schema());
        assert_eq!(kv["tickstream.dataset"], dataset);
        assert_eq!(kv["tickstream.version"], env!("CARGO_PKG_VERSION"));
        let group = meta.row_group(0);
        assert!(group.sorting_columns().is_some());
        for column in group.columns() {
            assert_eq!(
                column.compression(),
                Compression::LZ4_RAW,
                "{dataset}'s segment is LZ4"
            );
            assert!(column.statistics().is_some(), "{dataset} has statistics");
        }
    }

    // The roll at the end of the run rewrites each partition's segment as its zstd file.
    sink.close().unwrap();
    let files = parquet_files(dir.path());
    assert_eq!(files.len(), 6);
    for file in files {
        let reader =
            SerializedFileReader::new(File::open(dir.path().join(&file)).unwrap()).unwrap();
        for column in reader.metadata().row_group(0).columns() {
            assert!(
                matches!(column.compression(), Compression::ZSTD(_)),
                "{} is zstd",
                file.display()
            );
        }
    }
    assert!(temp_files(dir.path()).is_empty());
}

#[test]
fn rows_are_sorted_within_files_and_late_rows_start_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.row_group_rows = 100;
    let mut sink = ParquetSink::open(cfg).unwrap();
    // Newest first within a write, as some venues send them.
    let mut batch = trades(Exchange::Coinbase, "BTC-USD", DAY_START, SECOND, 0, 100);
    batch.reverse();
    sink.write(&batch).unwrap();
    // Later rows: same file, next row group.
    sink.write(&trades(
        Exchange::Coinbase,
        "BTC-USD",
        DAY_START + 200 * SECOND,
        SECOND,
        200,
        100,
    ))
    .unwrap();
    // Rows earlier than the file's last row: a new file.
    sink.write(&trades(
        Exchange::Coinbase,
        "BTC-USD",
        DAY_START + 100 * SECOND,
        SECOND,
        100,
        100,
    ))
    .unwrap();
    sink.flush().unwrap();

    let rows = stored_trades(dir.path());
    assert_eq!(rows.len(), 300);
    let mut per_file: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (file, _, ts) in &rows {
        per_file.entry(file).or_default().push(*ts);
    }
    assert_eq!(per_file.len(), 2);
    for ts in per_file.values() {
        assert!(
            ts.windows(2).all(|w| w[0] <= w[1]),
            "sorted within the file"
        );
    }

    // The two files overlap in time: compaction sorts their rows together.
    let report = tickstream_io::lake::compact(dir.path(), None, None, 64 << 20).unwrap();
    assert_eq!((report.files_replaced, report.files_written), (2, 1));
    let rows = stored_trades(dir.path());
    let ids: Vec<u64> = rows.iter().map(|r| r.1.parse().unwrap()).collect();
    assert_eq!(
        ids,
        (0..300).collect::<Vec<u64>>(),
        "one file, in time order"
    );
}

#[test]
fn files_roll_at_the_size_limit_and_the_age_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.row_group_rows = 1_000;
    cfg.max_file_bytes = 20_000;
    let mut sink = ParquetSink::open(cfg).unwrap();
    for i in 0..10 {
        sink.write(&trades(
            Exchange::Binance,
            "BTC-USDT",
            DAY_START + i * 1_000 * SECOND,
            SECOND,
            i as u64 * 1000,
            1_000,
        ))
        .unwrap();
    }
    let rolled = parquet_files(dir.path()).len();
    assert!(
        rolled >= 2,
        "size limit rolled files before any flush: {rolled}"
    );
    sink.flush().unwrap();
    assert_eq!(stored_trades(dir.path()).len(), 10_000);

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_file_age = Duration::from_millis(1);
    let mut sink = ParquetSink::open(cfg).unwrap();
    sink.write(&trades(
        Exchange::Binance,
        "BTC-USDT",
        DAY_START,
        SECOND,
        0,
        10,
    ))
    .unwrap();
    assert!(
        parquet_files(dir.path()).is_empty(),
        "nothing visible before the age limit"
    );
    std::thread::sleep(Duration::from_millis(5));
    sink.roll_expired().unwrap();
    assert_eq!(stored_trades(dir.path()).len(), 10);
    assert_eq!(sink.buffered_rows(), 0);
}

#[test]
fn the_least_recently_written_files_are_committed_past_the_open_file_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.row_group_rows = 10;
    cfg.max_open_files = 2;
    let mut sink = ParquetSink::open(cfg).unwrap();
    for (i, sym) in ["BTC-USDT", "ETH-USDT", "SOL-USDT", "XRP-USDT", "ADA-USDT"]
        .iter()
        .enumerate()
    {
        sink.write(&trades(
            Exchange::Bybit,
            sym,
            DAY_START,
            SECOND,
            i as u64 * 100,
            10,
        ))
        .unwrap();
        assert!(temp_files(dir.path()).len() <= 2, "at most two files open");
    }
    let committed: Vec<String> = parquet_files(dir.path())
        .iter()
        .map(|f| {
            f.parent()
                .unwrap()
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        committed,
        ["symbol=BTC-USDT", "symbol=ETH-USDT", "symbol=SOL-USDT"]
    );
    sink.flush().unwrap();
    assert_eq!(stored_trades(dir.path()).len(), 50);
}

#[test]
fn each_file_records_the_offsets_it_covers_and_commits_never_pass_buffered_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = ParquetSink::open(config(dir.path())).unwrap();
    let btc = trades(Exchange::Binance, "BTC-USDT", DAY_START, SECOND, 0, 5);
    let eth = trades(Exchange::Binance, "ETH-USDT", DAY_START, SECOND, 100, 5);
    let mixed: Vec<Event> = btc
        .iter()
        .zip(&eth)
        .flat_map(|(a, b)| [a.clone(), b.clone()])
        .collect();
    sink.write_batch(&mixed, &offsets("ticks", 2, 40, 10))
        .unwrap();
    let position = |next_offset| PartitionPosition {
        topic: "ticks".into(),
        partition: 2,
        next_offset,
    };
    assert_eq!(
        sink.committable_offsets(),
        vec![position(40)],
        "nothing durable yet"
    );
    sink.flush().unwrap();
    assert_eq!(sink.committable_offsets(), vec![position(50)]);

    let files = parquet_files(dir.path());
    assert_eq!(files.len(), 2);
    let ranges = file_offsets(&dir.path().join(&files[0])).unwrap();
    assert_eq!(
        (
            ranges[0].topic.as_str(),
            ranges[0].partition,
            ranges[0].first,
            ranges[0].last
        ),
        ("ticks", 2, 40, 48)
    );
    let ranges = file_offsets(&dir.path().join(&files[1])).unwrap();
    assert_eq!((ranges[0].first, ranges[0].last), (41, 49));
    assert!(
        sink.write_batch(&mixed, &offsets("ticks", 2, 0, 3))
            .is_err(),
        "lengths must match"
    );
}

#[test]
fn a_crash_then_a_replay_of_the_same_offsets_leaves_every_trade_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.row_group_rows = 50;
    let mut all = trades(
        Exchange::Binance,
        "BTC-USDT",
        DAY_START - 300 * SECOND,
        SECOND,
        0,
        600,
    );
    all.extend(trades(
        Exchange::Kraken,
        "BTC-USD",
        DAY_START - 300 * SECOND,
        SECOND,
        10_000,
        600,
    ));
    all.sort_by_key(|e| e.ts_event());
    let sources = offsets("ticks", 0, 0, all.len());

    // First run: two checkpoints, then more rows written (some already in temporary files) and a crash.
    let mut sink = ParquetSink::open(cfg.clone()).unwrap();
    sink.write_batch(&all[..300], &sources[..300]).unwrap();
    sink.flush().unwrap();
    sink.write_batch(&all[300..500], &sources[300..500])
        .unwrap();
    sink.flush().unwrap();
    let committed = sink.committable_offsets()[0].next_offset;
    sink.write_batch(&all[500..900], &sources[500..900])
        .unwrap();
    assert!(
        !temp_files(dir.path()).is_empty(),
        "row groups were written to temporary files"
    );
    drop(sink);
    let leftover = dir
        .path()
        .join("trades/exchange=binance/symbol=BTC-USDT/date=2026-11-21/.part-x.parquet.tmp");
    std::fs::write(&leftover, b"PAR1 half a file").unwrap();

    // The consumer resumes from an older position than the lake holds (commits lag): offsets 200.. again.
    assert!(committed >= 500);
    let mut sink = ParquetSink::open(cfg.clone()).unwrap();
    assert!(sink.stats().temp_files_removed >= 2);
    assert!(
        temp_files(dir.path()).is_empty(),
        "stray temporary files removed on open"
    );
    sink.write_batch(&all[200..], &sources[200..]).unwrap();
    assert_eq!(
        sink.stats().duplicates_skipped,
        300,
        "offsets 200..500 were already stored"
    );
    sink.flush().unwrap();
    assert_eq!(sink.committable_offsets()[0].next_offset, all.len() as i64);

    let stored = stored_trades(dir.path());
    let mut ids: Vec<String> = stored.iter().map(|r| r.1.clone()).collect();
    ids.sort();
    let mut expected: Vec<String> = all
        .iter()
        .map(|e| match e {
            Event::Trade(t) => t.trade_id.clone(),
            _ => unreachable!(),
        })
        .collect();
    expected.sort();
    assert_eq!(ids, expected, "no loss, no duplicates");
    assert!(temp_files(dir.path()).is_empty());

    // A third run replaying everything writes nothing.
    let mut sink = ParquetSink::open(cfg).unwrap();
    sink.write_batch(&all, &sources).unwrap();
    sink.flush().unwrap();
    assert_eq!(sink.stats().rows_accepted, 0);
    assert_eq!(stored_trades(dir.path()).len(), all.len());
}

#[test]
fn compaction_merges_small_files_and_keeps_offsets_for_deduplication() {
    let dir = tempfile::tempdir().unwrap();
    let all = trades(Exchange::Okx, "BTC-USDT-PERP", DAY_START, SECOND, 0, 1_000);
    let sources = offsets("ticks", 1, 0, all.len());
    let mut sink = ParquetSink::open(config(dir.path())).unwrap();
    for chunk in 0..10 {
        let range = chunk * 100..(chunk + 1) * 100;
        sink.write_batch(&all[range.clone()], &sources[range])
            .unwrap();
        sink.flush().unwrap();
    }
    drop(sink);
    assert_eq!(parquet_files(dir.path()).len(), 10);

    let report =
        tickstream_io::lake::compact(dir.path(), Some("trades"), Some("2026-11-21"), 64 << 20)
            .unwrap();
    assert_eq!((report.files_replaced, report.files_written), (10, 1));
    let files = parquet_files(dir.path());
    assert_eq!(files.len(), 1);
    let stored = stored_trades(dir.path());
    assert_eq!(stored.len(), 1_000);
    assert!(stored.windows(2).all(|w| w[0].2 <= w[1].2));
    let ranges = file_offsets(&dir.path().join(&files[0])).unwrap();
    assert_eq!((ranges[0].first, ranges[0].last), (0, 999));

    let mut sink = ParquetSink::open(config(dir.path())).unwrap();
    sink.write_batch(&all, &sources).unwrap();
    assert_eq!(sink.stats().duplicates_skipped, 1_000);
    let bad = tickstream_io::lake::compact(dir.path(), Some("trade"), None, 64 << 20);
    assert!(matches!(bad, Err(tickstream_io::Error::Config { field, .. }) if field == "dataset"));
    let bad = tickstream_io::lake::compact(dir.path(), None, Some("2026-13-01"), 64 << 20);
    assert!(matches!(bad, Err(tickstream_io::Error::Config { field, .. }) if field == "date"));
}

#[test]
fn a_compaction_interrupted_after_its_rename_is_finished_and_one_before_it_is_undone() {
    let dir = tempfile::tempdir().unwrap();
    let leaf = dir
        .path()
        .join("trades/exchange=okx/symbol=BTC-USDT-PERP/date=2026-11-21");
    let mut sink = ParquetSink::open(config(dir.path())).unwrap();
    for chunk in 0..3 {
        sink.write(&trades(
            Exchange::Okx,
            "BTC-USDT-PERP",
            DAY_START + chunk * 100 * SECOND,
            SECOND,
            chunk as u64 * 100,
            100,
        ))
        .unwrap();
        sink.flush().unwrap();
    }
    drop(sink);
    let old: Vec<String> = parquet_files(&leaf)
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(old.len(), 3);

    // Interrupted before the rename: a marker and a half-written temporary file; the old files stay.
    std::fs::write(
        leaf.join(".compact-part-new.parquet.json"),
        br#"{"new":"part-new.parquet","replaces":[]}"#,
    )
    .unwrap();
    std::fs::write(leaf.join(".part-new.parquet.tmp"), b"PAR1").unwrap();
    let sink = ParquetSink::open(config(dir.path())).unwrap();
    assert_eq!(sink.stats().compactions_resolved, 1);
    assert_eq!(parquet_files(&leaf).len(), 3);
    assert!(temp_files(dir.path()).is_empty());
    drop(sink);

    // Interrupted after the rename: the merged copy of the first file exists beside that file.
    std::fs::copy(leaf.join(&old[0]), leaf.join("part-merged.parquet")).unwrap();
    let marker = serde_json::json!({ "new": "part-merged.parquet", "replaces": [old[0]] });
    std::fs::write(
        leaf.join(".compact-part-merged.parquet.json"),
        marker.to_string(),
    )
    .unwrap();
    let report = tickstream_io::lake::compact(dir.path(), None, None, 1 << 30).unwrap();
    assert_eq!(report.interrupted_resolved, 1);
    assert_eq!(
        (report.files_replaced, report.files_written),
        (3, 1),
        "then the three files were merged"
    );
    assert!(temp_files(dir.path()).is_empty());
    assert_eq!(parquet_files(&leaf).len(), 1);
    let ids: Vec<i64> = stored_trades(dir.path())
        .iter()
        .map(|r| r.1.parse().unwrap())
        .collect();
    assert_eq!(
        ids,
        (0..300).collect::<Vec<i64>>(),
        "every row once, in time order"
    );
}

#[test]
fn the_book_dataset_is_written_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.datasets = vec!["book".into()];
    let mut sink = ParquetSink::open(cfg).unwrap();
    sink.write(&one_of_each()).unwrap();
    sink.flush().unwrap();
    let files = parquet_files(dir.path());
    assert_eq!(files.len(), 1);
    let batches = read_batches(&dir.path().join(&files[0]));
    let bids = batches[0].column_by_name("bids").unwrap().as_list::<i32>();
    let level = bids.value(0);
    let prices = level
        .as_struct()
        .column(0)
        .as_primitive::<arrow::datatypes::Float64Type>();
    assert_eq!(prices.values().to_vec(), vec![90000.1, 90000.0]);
    let seq = batches[0].column_by_name("first_sequence").unwrap();
    assert_eq!(seq.null_count(), 1);
}

#[test]
fn the_sink_can_move_to_a_writer_thread() {
    fn movable<T: Send + 'static>() {}
    movable::<ParquetSink>();
    let dir = tempfile::tempdir().unwrap();
    let mut sink = ParquetSink::open(config(dir.path())).unwrap();
    let handle = std::thread::spawn(move || {
        sink.write(&trades(
            Exchange::Bitstamp,
            "BTC-USD",
            DAY_START,
            SECOND,
            0,
            3,
        ))
        .unwrap();
        sink.flush().unwrap();
        sink.stats().files_committed
    });
    assert_eq!(handle.join().unwrap(), 1);
}

#[test]
fn a_flush_over_more_partitions_than_open_files_commits_them_all_group_by_group() {
    // Groups of 2 (each file fsynced) and of 10 (one filesystem sync a group on Linux).
    for max_open_files in [2, 10] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        cfg.max_open_files = max_open_files;
        let mut sink = ParquetSink::open(cfg).unwrap();
        let symbols: Vec<String> = (0..25).map(|i| format!("S{i:02}-USDT")).collect();
        for (i, sym) in symbols.iter().enumerate() {
            sink.write(&trades(
                Exchange::Binance,
                sym,
                DAY_START,
                SECOND,
                i as u64 * 10,
                10,
            ))
            .unwrap();
        }
        sink.flush().unwrap();
        assert_eq!(
            sink.stats().files_committed,
            25,
            "{max_open_files} at a time"
        );
        assert_eq!(parquet_files(dir.path()).len(), 25);
        assert!(temp_files(dir.path()).is_empty());
        assert_eq!(stored_trades(dir.path()).len(), 250);
    }
}
