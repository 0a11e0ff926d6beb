//! Exactly-once into the lake across crashes, through the real broker and the real binary: trades with
//! unique ids are produced into Kafka while `tickstream run` (Kafka source → Parquet sink) consumes them; the
//! processor is killed with SIGKILL at random moments several times and restarted each time. At the end the
//! lake, read back by DuckDB, holds every produced trade exactly once and no temporary file. The kill
//! moments come from a seed printed with every failure (`TICKSTREAM_SEED=<n>` repeats a run).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tickstream_io::kafka::{KafkaSink, KafkaSinkConfig};
use tickstream_model::{AggressorSide, Decimal, Event, Exchange, Symbol, Trade, UnixNanos};

use common::pipeline::kafka_ticks;
use common::{Running, Tickstream, all_files, needs, scratch_dir, sigterm};

const TRADES: usize = 24_000;
const BATCH: usize = 400;
const BATCH_EVERY: Duration = Duration::from_millis(400);
const KILLS: usize = 4;
/// 2026-11-21T23:59:52Z: the trades cross midnight, so each symbol gets two `date` partitions.
const FIRST_TS: i64 = 1_795_305_592_000_000_000;
const SYMBOLS: [(&str, &str); 3] = [
    ("BTC-USDT", "BTCUSDT"),
    ("ETH-USDT", "ETHUSDT"),
    ("SOL-USDT", "SOLUSDT"),
];

/// xorshift64: the kill schedule, repeatable from the seed.
struct Schedule(u64);

impl Schedule {
    /// A duration in `lo..hi` milliseconds.
    fn between(&mut self, lo: u64, hi: u64) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(lo + self.0 % (hi - lo))
    }
}

fn trade(i: usize) -> Event {
    let (symbol, raw) = SYMBOLS[i % SYMBOLS.len()];
    let ts = FIRST_TS + i as i64 * 1_000_000;
    Event::Trade(Trade {
        exchange: Exchange::Binance,
        symbol: Symbol::parse(symbol).expect("symbol"),
        raw_symbol: Arc::from(raw),
        ts_event: UnixNanos(ts),
        ts_recv: UnixNanos(ts + 2_000_000),
        trade_id: format!("t{i}"),
        price: Decimal::new(9_000_000 + (i % 977) as i128, 2).expect("price"),
        quantity: Decimal::new(1 + (i % 5_000) as i128, 4).expect("quantity"),
        side: if i.is_multiple_of(3) {
            AggressorSide::Sell
        } else {
            AggressorSide::Buy
        },
    })
}

/// Produces every trade in batches at a steady pace, as a venue would.
fn produce(brokers: String, prefix: String) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let config = KafkaSinkConfig {
            brokers: Some(brokers),
            topic_prefix: prefix,
            partitions: Some(2),
            ..KafkaSinkConfig::default()
        };
        let mut sink = KafkaSink::new(&config).await?;
        for start in (0..TRADES).step_by(BATCH) {
            let batch: Vec<Event> = (start..(start + BATCH).min(TRADES)).map(trade).collect();
            sink.write(&batch).await?;
            sink.flush().await?;
            tokio::time::sleep(BATCH_EVERY).await;
        }
        Ok(())
    })
}

fn start_processor(dir: &Path, run: usize) -> Running {
    Tickstream::new(["run", "--checkpoint-interval", "500ms", "pipeline.toml"])
        .current_dir(dir)
        .spawn_logged(dir.join(format!("run-{run}.log")))
}

/// Rows in the lake's committed trade files, from their footers.
fn lake_rows(lake: &Path) -> i64 {
    all_files(lake)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .filter_map(|p| std::fs::File::open(p).ok())
        .filter_map(|f| parquet::file::reader::SerializedFileReader::new(f).ok())
        .map(|r| {
            use parquet::file::reader::FileReader as _;
            r.metadata().file_metadata().num_rows()
        })
        .sum()
}

const CHECK_LAKE: &str = r#"
import json, sys
import duckdb
lake, expected = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("CREATE TABLE lake AS SELECT trade_id FROM read_parquet(?, hive_partitioning = true)", [lake + "/trades/**/*.parquet"])
con.execute("CREATE TABLE expected AS SELECT column0 AS trade_id FROM read_csv(?, header = false, columns = {'column0': 'VARCHAR'})", [expected])
one = lambda q: con.execute(q).fetchone()[0]
print(json.dumps({
    "rows": one("SELECT count(*) FROM lake"),
    "distinct": one("SELECT count(DISTINCT trade_id) FROM lake"),
    "missing": one("SELECT count(*) FROM (SELECT trade_id FROM expected EXCEPT SELECT trade_id FROM lake)"),
    "unexpected": one("SELECT count(*) FROM (SELECT trade_id FROM lake EXCEPT SELECT trade_id FROM expected)"),
    "duplicated_ids": [r[0] for r in con.execute("SELECT trade_id FROM lake GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 LIMIT 10").fetchall()],
}))
"#;

#[test]
#[ignore = "needs Kafka: run by tests/run"]
fn sigkilled_processor_leaves_every_trade_in_the_lake_exactly_once() {
    let brokers = needs("KAFKA_BROKERS");
    let python = needs("TICKSTREAM_PYTHON");
    let seed: u64 = std::env::var("TICKSTREAM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64 | 1)
        });
    eprintln!("kill schedule seed: {seed} (TICKSTREAM_SEED={seed} repeats it)");
    let mut schedule = Schedule(seed);
    let id = format!("{}{}", std::process::id(), seed % 1_000_000);
    let dir = scratch_dir(&format!("sigkill-{id}"));
    let prefix = format!("sigkill{id}");
    let source = kafka_ticks(
        (&brokers, &prefix, 2),
        &format!("{prefix}-lake"),
        &["trade"],
        "2s",
    );
    std::fs::write(
        dir.join("pipeline.toml"),
        format!(
            r#"
{source}
[sinks.lake]
kind = "parquet"
inputs = ["ticks"]
root = "lake"
datasets = ["trades"]
"#
        ),
    )
    .unwrap();
    let lake = dir.join("lake");
    let logs = |runs: usize| -> String {
        (0..runs)
            .map(|r| {
                let log = std::fs::read_to_string(dir.join(format!("run-{r}.log")));
                format!("--- run {r}:\n{}", log.unwrap_or_default())
            })
            .collect()
    };

    let test_start = Instant::now();
    let producer = {
        let (brokers, prefix) = (brokers.clone(), prefix.clone());
        std::thread::spawn(move || produce(brokers, prefix))
    };
    let mut kills = Vec::new();
    for run in 0..KILLS {
        // Each run is killed at a random moment after it has committed files of its own, so that it
        // dies while consuming and writing rather than while joining the group.
        let before = lake_rows(&lake);
        let mut child = start_processor(&dir, run);
        let started = Instant::now();
        while lake_rows(&lake) == before && started.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let progress = started.elapsed();
        let after = schedule.between(0, 1_500);
        std::thread::sleep(after);
        child.kill();
        kills.push(format!(
            "run {run}: first commit after {progress:?}, killed {after:?} later at {:?} of the test, lake rows {before} -> {}",
            test_start.elapsed(),
            lake_rows(&lake)
        ));
    }
    let producing_at_last_kill = !producer.is_finished();
    producer
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("producing failed (seed {seed}): {e:#}"));
    let context = |runs: usize| {
        format!(
            "seed {seed} (TICKSTREAM_SEED={seed} repeats it), lake {}\n{}\n{}",
            lake.display(),
            kills.join("\n"),
            logs(runs)
        )
    };
    assert!(
        producing_at_last_kill,
        "the last kill came after the producer had finished; {}",
        context(KILLS)
    );

    // The last run drains the topic and stops cleanly.
    let mut child = start_processor(&dir, KILLS);
    let deadline = Instant::now() + Duration::from_secs(60);
    while lake_rows(&lake) < TRADES as i64 {
        assert!(
            Instant::now() < deadline,
            "the lake holds {} of {TRADES} trades 60 s after the last restart; {}",
            lake_rows(&lake),
            context(KILLS + 1)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    sigterm(&child.child);
    let status = child.child.wait().unwrap();
    assert!(
        status.success(),
        "the last run exited with {status}; {}",
        context(KILLS + 1)
    );

    let expected = dir.join("expected.csv");
    let ids: Vec<String> = (0..TRADES).map(|i| format!("t{i}\n")).collect();
    std::fs::write(&expected, ids.concat()).unwrap();
    let out = Command::new(&python)
        .args(["-c", CHECK_LAKE])
        .arg(&lake)
        .arg(&expected)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "reading the lake with DuckDB failed: {}; {}",
        String::from_utf8_lossy(&out.stderr),
        context(KILLS + 1)
    );
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = serde_json::json!({
        "rows": TRADES, "distinct": TRADES, "missing": 0, "unexpected": 0, "duplicated_ids": [],
    });
    assert_eq!(
        found,
        want,
        "the lake against the produced trades; {}",
        context(KILLS + 1)
    );

    let leftovers: Vec<PathBuf> = all_files(&lake)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with('.') || name.ends_with(".tmp")
        })
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left in the lake: {leftovers:?}; {}",
        context(KILLS + 1)
    );
    eprintln!("{}", kills.join("\n"));
    eprintln!("done in {:?}", test_start.elapsed());
    std::fs::remove_dir_all(&dir).unwrap();
}
