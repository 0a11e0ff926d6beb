//! The lake in an S3 bucket, against a real S3-protocol server (started by `tests/run`, which exports
//! `TICKSTREAM_S3_ENDPOINT` and the standard `AWS_*` credentials): files appear whole under their final
//! keys (one PUT, or a multipart upload for a file larger than a part), a sink reopened after a crash
//! removes its staged files and skips the offsets the bucket already holds (found by listing and reading
//! footers), and pyarrow reads the dataset back from the bucket.

mod lake_common;

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::Command;

use lake_common::*;
use tickstream_io::Error;
use tickstream_io::RecordPosition;
use tickstream_io::lake::{ParquetSink, ParquetSinkConfig, StorageOptions, compact};
use tickstream_model::{Event, Exchange};

const PART_BYTES: usize = 5 * 1024 * 1024;

fn needs(var: &str) -> String {
    std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} is not set: run this test through tests/run"))
}

/// Creates a bucket with a plain `PUT /<bucket>` (the test server accepts unsigned requests).
fn create_bucket(endpoint: &str, bucket: &str) {
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"),
        "creating bucket {bucket}: {response}"
    );
}

/// `n` trades of one symbol whose ids are random hex (so the file does not compress to nothing).
fn noisy_trades(n: usize) -> Vec<Event> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut events = trades(Exchange::Binance, "ETH-USDT", DAY_START, 1_000_000, 0, n);
    for event in &mut events {
        if let Event::Trade(t) = event {
            let mut id = String::with_capacity(48);
            for _ in 0..3 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                id.push_str(&format!("{state:016x}"));
            }
            t.trade_id = id;
        }
    }
    events
}

fn offsets(topic: &str, partition: i32, first: i64, n: usize) -> Vec<RecordPosition> {
    (0..n as i64)
        .map(|i| RecordPosition {
            topic: topic.into(),
            partition,
            offset: first + i,
        })
        .collect()
}

const READ_BUCKET: &str = r#"
import json, os, sys
import pyarrow.dataset as ds
import pyarrow.fs as pafs
endpoint, bucket = sys.argv[1], sys.argv[2]
s3 = pafs.S3FileSystem(endpoint_override=endpoint.split("://", 1)[1], scheme="http",
                       region=os.environ.get("AWS_REGION", "us-east-1"))
keys = s3.get_file_info(pafs.FileSelector(f"{bucket}/lake", recursive=True))
files = [k for k in keys if k.type == pafs.FileType.File]
table = ds.dataset(f"{bucket}/lake/trades", filesystem=s3, format="parquet", partitioning="hive").to_table()
ids = table.column("trade_id").to_pylist()
print(json.dumps({
    "rows": table.num_rows,
    "distinct": len(set(ids)),
    "symbols": sorted(set(table.column("symbol").to_pylist())),
    "hidden": [f.path for f in files if f.base_name.startswith(".") or f.base_name.endswith(".tmp")],
    "largest": max(f.size for f in files),
}))
"#;

#[test]
fn compact_refuses_object_store_roots() {
    match compact(Path::new("s3://bucket/lake"), None, None, 1 << 20) {
        Err(Error::Config { field, message }) => {
            assert_eq!(field, "root");
            assert!(message.contains("local lake directories only"), "{message}");
        }
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
#[ignore = "needs an S3 endpoint: run by tests/run"]
fn s3_lake_commits_whole_files_skips_held_offsets_and_reads_back() {
    let endpoint = needs("TICKSTREAM_S3_ENDPOINT");
    let python = needs("TICKSTREAM_PYTHON");
    needs("AWS_ACCESS_KEY_ID");
    needs("AWS_SECRET_ACCESS_KEY");
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let bucket = format!("lake-{}-{run}", std::process::id());
    create_bucket(&endpoint, &bucket);
    let staging = tempfile::tempdir().unwrap();
    let mut config = ParquetSinkConfig::new(format!("s3://{bucket}/lake"));
    config.storage_options = StorageOptions(
        [
            ("aws_endpoint", endpoint.as_str()),
            ("aws_allow_http", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    );
    config.staging_dir = Some(staging.path().to_path_buf());
    config.upload_part_bytes = PART_BYTES;

    // Partition 0: two symbols on two days; partition 1: one file larger than a part.
    let mut small = trades(
        Exchange::Binance,
        "BTC-USDT",
        DAY_START - 500 * SECOND,
        SECOND,
        0,
        1_000,
    );
    small.extend(trades(
        Exchange::Kraken,
        "BTC-USD",
        DAY_START,
        SECOND,
        5_000,
        500,
    ));
    let big = noisy_trades(300_000);
    let mut sink = ParquetSink::open(config.clone()).unwrap();
    sink.write_batch(&small[..1_000], &offsets("ticks", 0, 0, 1_000))
        .unwrap();
    sink.write_batch(&big, &offsets("ticks", 1, 0, big.len()))
        .unwrap();
    sink.flush().unwrap();
    assert_eq!(
        sink.committable_offsets()
            .iter()
            .map(|p| (p.partition, p.next_offset))
            .collect::<Vec<_>>(),
        vec![(0, 1_000), (1, 300_000)]
    );
    drop(sink);
    // A crash with rows of partition 0 written as row groups into a staged file, never stored.
    let mut small_groups = config.clone();
    small_groups.row_group_rows = 100;
    let mut sink = ParquetSink::open(small_groups).unwrap();
    sink.write_batch(&small[1_000..], &offsets("ticks", 0, 1_000, 500))
        .unwrap();
    let staged = std::fs::read_dir(staging.path())
        .unwrap()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .count();
    assert!(staged > 0, "the unflushed rows are in a staged file");
    drop(sink);

    // The restarted sink reads everything again from Kafka's committed offsets (none here: from 0).
    let mut sink = ParquetSink::open(config).unwrap();
    assert_eq!(sink.stats().temp_files_removed, staged as u64);
    sink.write_batch(&small, &offsets("ticks", 0, 0, small.len()))
        .unwrap();
    sink.write_batch(&big, &offsets("ticks", 1, 0, big.len()))
        .unwrap();
    sink.flush().unwrap();
    let stats = sink.stats();
    assert_eq!(stats.duplicates_skipped, 301_000, "{stats:?}");
    assert_eq!(stats.rows_accepted, 500, "{stats:?}");
    drop(sink);

    let out = Command::new(&python)
        .args(["-c", READ_BUCKET, &endpoint, &bucket])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pyarrow reading the bucket: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found["rows"], 301_500, "{found}");
    assert_eq!(found["distinct"], 301_500, "{found}");
    assert_eq!(
        found["symbols"],
        serde_json::json!(["BTC-USD", "BTC-USDT", "ETH-USDT"])
    );
    assert_eq!(found["hidden"], serde_json::json!([]), "{found}");
    assert!(
        found["largest"].as_u64().unwrap() > PART_BYTES as u64,
        "one file went up as a multipart upload: {found}"
    );
}
