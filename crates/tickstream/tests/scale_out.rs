//! Processing scales out on Kafka's consumer groups. A 6-partition trades topic is fed, at a steady pace,
//! with three hours of seeded trades of 12 instruments. Three `tickstream run pipelines/analytics.toml`
//! replicas share one consumer group; while they run, one is SIGKILLed, one is added and one is stopped
//! with SIGTERM. Their bars, indicators and signals, deduplicated by key, must equal those of a single
//! replica that reads the same topic uninterrupted in a group of its own, value for value; and that
//! replica's bars must equal the bars computed directly from the trades, last bars included (they close
//! when the partitions go idle). The seed is printed; `TICKSTREAM_SEED` repeats a run. Run by `tests/run`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use common::{
    MINUTE, Running, START, Tickstream, assert_same_rows, example, needs, processed_rows,
    repo_path, rows_by_key, scratch_dir, sigterm,
};

const SYMBOLS: [&str; 12] = [
    "BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD", "ADA-USD", "DOGE-USD", "DOT-USD", "LTC-USD",
    "LINK-USD", "AVAX-USD", "UNI-USD", "BCH-USD",
];
const HOUR: i64 = 60 * MINUTE;
/// One trade per instrument every 10 s of event time, for three hours.
const SPACING: i64 = 10_000_000_000;
const TRADES_PER_SYMBOL: i64 = 3 * HOUR / SPACING;
const PARTITIONS: i32 = 6;
/// Messages produced per 100 ms: a steady pace the test broker keeps up with.
const PER_TICK: usize = 40;
/// Longer than any pause of the feed on a busy machine: only the end of the input makes partitions idle.
const IDLE_TIMEOUT: &str = "15s";

/// A small deterministic generator (xorshift64*), so that a seed repeats a run.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// One generated trade: symbol, event time, price in cents, quantity in eighths.
#[derive(Debug, Clone)]
struct Trade {
    symbol: &'static str,
    ts: i64,
    cents: i64,
    eighths: i64,
}

/// Every instrument's trades, in event-time order: prices walk from the seed, quantities are exact in
/// binary (eighths), so that sums compare exactly.
fn trades(seed: u64) -> Vec<Trade> {
    let mut rng = Seeded(seed.max(1));
    let first = START - START % HOUR;
    let mut prices: Vec<i64> = (0..SYMBOLS.len() as i64)
        .map(|n| 10_000 + n * 5_000)
        .collect();
    let mut all = Vec::new();
    for k in 0..TRADES_PER_SYMBOL {
        for (n, symbol) in SYMBOLS.iter().enumerate() {
            let step = (rng.next() % 101) as i64 - 50;
            prices[n] = (prices[n] + step).max(100);
            all.push(Trade {
                symbol,
                ts: first + k * SPACING + n as i64 * 1_000_000,
                cents: prices[n],
                eighths: 1 + (rng.next() % 16) as i64,
            });
        }
    }
    all
}

fn trade_json(template: &serde_json::Value, trade: &Trade, id: usize) -> String {
    let mut t = template.clone();
    t["symbol"] = trade.symbol.into();
    t["raw_symbol"] = trade.symbol.into();
    t["ts_event"] = trade.ts.into();
    t["ts_recv"] = (trade.ts + 1_000_000).into();
    t["trade_id"] = id.to_string().into();
    t["price"] = format!("{}.{:02}", trade.cents / 100, trade.cents % 100).into();
    t["quantity"] = format!("{}", trade.eighths as f64 / 8.0).into();
    t["side"] = if id.is_multiple_of(3) { "sell" } else { "buy" }.into();
    t.to_string()
}

fn create_topics(brokers: &str, prefix: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let names: Vec<String> = ["trades", "quotes", "status"]
        .iter()
        .map(|kind| format!("{prefix}.{kind}.v1"))
        .collect();
    let topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|name| NewTopic::new(name, PARTITIONS, TopicReplication::Fixed(1)))
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let results = runtime
        .block_on(admin.create_topics(&topics, &AdminOptions::new()))
        .unwrap();
    for result in results {
        result.unwrap();
    }
}

/// Produces the trades keyed by instrument (the Java client's partitioner, as tickstream's sink), a few
/// dozen every 100 ms.
fn feed(brokers: &str, topic: &str, trades: &[Trade]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let template = example("trade");
    let mut next = Instant::now();
    for (chunk_no, chunk) in trades.chunks(PER_TICK).enumerate() {
        for (i, trade) in chunk.iter().enumerate() {
            let payload = trade_json(&template, trade, chunk_no * PER_TICK + i);
            let record = BaseRecord::to(topic).key(trade.symbol).payload(&payload);
            producer.send(record).map_err(|(e, _)| e).unwrap();
        }
        producer.poll(Duration::ZERO);
        next += Duration::from_millis(100);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// A `tickstream run pipelines/analytics.toml` replica.
fn replica(dir: &Path, brokers: &str, input: &str, group: &str, name: &str) -> Running {
    let pipeline = repo_path("pipelines/analytics.toml");
    let lake = dir.join(format!("lake-{name}"));
    Tickstream::new(["run", "--checkpoint-interval", "1s"])
        .arg(pipeline)
        .envs([
            ("KAFKA_BROKERS", brokers.to_owned()),
            ("TOPIC_PREFIX", input.to_owned()),
            ("GROUP_ID", group.to_owned()),
            ("OUTPUT_PREFIX", group.to_owned()),
            ("IDLE_TIMEOUT", IDLE_TIMEOUT.to_owned()),
            ("LAKE_ROOT", lake.display().to_string()),
            ("REDIS_URL", String::new()),
        ])
        .current_dir(dir)
        .spawn_logged(dir.join(format!("{name}.log")))
}

fn stop(replica: &mut Running, name: &str) {
    sigterm(&replica.child);
    let status = replica.exit_within(Duration::from_secs(60), Duration::from_millis(100), name);
    assert!(status.success(), "{name}: {status}\n{}", replica.log());
}

/// True once `prefix`'s output holds every instrument's last 1-hour bar.
fn has_last_bars(brokers: &str, prefix: &str, last_hour: i64) -> bool {
    let rows = processed_rows(brokers, prefix, PARTITIONS);
    SYMBOLS.iter().all(|symbol| {
        rows.iter().any(|r| {
            r["type"] == "bar"
                && r["symbol"] == *symbol
                && r["interval"] == "1h"
                && r["open_time"].as_i64() == Some(last_hour)
        })
    })
}

/// The bars of the trades computed directly: (symbol, interval, open time) -> (open, high, low, close,
/// volume, trades).
fn direct_bars(trades: &[Trade]) -> BTreeMap<(String, &'static str, i64), [f64; 6]> {
    let mut bars: BTreeMap<(String, &'static str, i64), [f64; 6]> = BTreeMap::new();
    for (interval, length) in [("1m", MINUTE), ("1h", HOUR)] {
        for t in trades {
            let price = t.cents as f64 / 100.0;
            let quantity = t.eighths as f64 / 8.0;
            let open_time = t.ts - t.ts.rem_euclid(length);
            bars.entry((t.symbol.to_owned(), interval, open_time))
                .and_modify(|b| {
                    b[1] = b[1].max(price);
                    b[2] = b[2].min(price);
                    b[3] = price;
                    b[4] += quantity;
                    b[5] += 1.0;
                })
                .or_insert([price, price, price, price, quantity, 1.0]);
        }
    }
    bars
}

#[test]
#[ignore = "needs Kafka: run by tests/run"]
fn replicas_that_come_and_go_give_the_output_of_one_uninterrupted_replica() {
    let brokers = needs("KAFKA_BROKERS");
    let seed: u64 = std::env::var("TICKSTREAM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("TICKSTREAM_SEED={seed}");
    let tag = format!("scale{}x{}", std::process::id(), seed % 1_000_000);
    let dir = scratch_dir(&tag);
    let input = format!("{tag}-in");
    create_topics(&brokers, &input);
    let trades = trades(seed);
    let last_hour = trades.iter().map(|t| t.ts).max().unwrap() / HOUR * HOUR;

    let (single_group, group) = (format!("{tag}-single"), format!("{tag}-group"));
    let mut single = replica(&dir, &brokers, &input, &single_group, "single");
    let mut a = replica(&dir, &brokers, &input, &group, "a");
    let mut b = replica(&dir, &brokers, &input, &group, "b");
    let mut c = replica(&dir, &brokers, &input, &group, "c");

    let started = Instant::now();
    let feeder = {
        let (brokers, topic, trades) = (
            brokers.clone(),
            format!("{input}.trades.v1"),
            trades.clone(),
        );
        std::thread::spawn(move || feed(&brokers, &topic, &trades))
    };
    let at = |seconds: u64| {
        std::thread::sleep(Duration::from_secs(seconds).saturating_sub(started.elapsed()));
    };
    at(8);
    a.kill();
    at(14);
    let mut d = replica(&dir, &brokers, &input, &group, "d");
    at(20);
    stop(&mut b, "b");
    feeder.join().unwrap();
    eprintln!("fed {} trades in {:?}", trades.len(), started.elapsed());

    let deadline = Instant::now() + Duration::from_secs(150);
    for (prefix, running) in [(&single_group, &single), (&group, &c)] {
        while !has_last_bars(&brokers, prefix, last_hour) {
            assert!(
                Instant::now() < deadline,
                "the last 1h bars of {prefix} never came out:\n{}\n{}",
                running.log(),
                d.log()
            );
            std::thread::sleep(Duration::from_secs(2));
        }
    }
    // The indicators and signals of the last bars follow them within moments.
    std::thread::sleep(Duration::from_secs(3));
    for (replica, name) in [(&mut single, "single"), (&mut c, "c"), (&mut d, "d")] {
        stop(replica, name);
    }

    let (expected, _) = rows_by_key(processed_rows(&brokers, &single_group, PARTITIONS));
    let (got, _) = rows_by_key(processed_rows(&brokers, &group, PARTITIONS));
    let count = |rows: &BTreeMap<String, serde_json::Value>, kind: &str| {
        rows.values().filter(|r| r["type"] == kind).count()
    };
    eprintln!(
        "single replica: {} bars, {} indicator rows, {} signals; the group: {} rows",
        count(&expected, "bar"),
        count(&expected, "indicator"),
        count(&expected, "signal"),
        got.len()
    );

    // The single replica's bars are the trades' bars, every one of them.
    let direct = direct_bars(&trades);
    let bars: BTreeMap<(String, &'static str, i64), [f64; 6]> = expected
        .values()
        .filter(|r| r["type"] == "bar")
        .map(|r| {
            let interval = if r["interval"] == "1m" { "1m" } else { "1h" };
            let field = |name: &str| r[name].as_f64().unwrap();
            let key = (
                r["symbol"].as_str().unwrap().to_owned(),
                interval,
                r["open_time"].as_i64().unwrap(),
            );
            (
                key,
                ["open", "high", "low", "close", "volume", "trades"].map(field),
            )
        })
        .collect();
    assert_eq!(
        bars.len(),
        direct.len(),
        "bars of every minute and hour of every instrument"
    );
    for (k, want) in &direct {
        let have = bars.get(k).unwrap_or_else(|| panic!("no bar {k:?}"));
        for (h, w) in have.iter().zip(want) {
            assert!(
                (h - w).abs() <= 1e-9 * w.abs().max(1.0),
                "bar {k:?}: {have:?}, computed {want:?}"
            );
        }
    }
    assert!(count(&expected, "indicator") > 0 && count(&expected, "signal") > 0);

    // The group's output, deduplicated, is the single replica's, value for value.
    assert_same_rows(&expected, &got, "the group's output");
    let logs = [&single, &c, &d].map(|r| r.log());
    assert!(logs.iter().any(|l| l.contains("operator state restored")));
    std::fs::remove_dir_all(dir).unwrap();
}
