//! Throughput of the Kafka transport for ~200-byte trade ticks with the idempotent producer: produce
//! (write + flush, by `linger`) and consume (decode, in a group), in messages/s and MB/s of JSON
//! payload. Runs against the embedded cluster, and also against `KAFKA_BROKERS` when it is set.
//!
//! `cargo bench -p tickstream-io --bench kafka` (`TICKSTREAM_BENCH_EVENTS` sets the count, default
//! 100,000 on the embedded cluster, whose partitions keep only a few MB each, and 20,000 on a broker).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tickstream_io::kafka::{KafkaSink, KafkaSinkConfig, KafkaSource, KafkaSourceConfig};
use tickstream_model::{AggressorSide, Event, EventKind, Exchange, Symbol, Trade, UnixNanos};

const SYMBOLS: [&str; 8] = [
    "BTC-USDT",
    "ETH-USDT",
    "SOL-USDT",
    "XRP-USDT",
    "DOGE-USDT",
    "ADA-USDT",
    "AVAX-USDT",
    "LINK-USDT",
];
const BATCH: usize = 1_000;

fn tick(seq: u64) -> Event {
    let symbol = SYMBOLS[(seq % SYMBOLS.len() as u64) as usize];
    Event::Trade(Trade {
        exchange: Exchange::Binance,
        symbol: Symbol::parse(symbol).expect("symbol"),
        raw_symbol: symbol.replace('-', "").into(),
        ts_event: UnixNanos(1_763_800_000_000_000_000 + seq as i64 * 1_000),
        ts_recv: UnixNanos(1_763_800_000_000_900_000 + seq as i64 * 1_000),
        trade_id: (4_000_000_000 + seq).to_string(),
        price: "86123.45".parse().expect("price"),
        quantity: "0.00125000".parse().expect("quantity"),
        side: if seq.is_multiple_of(2) {
            AggressorSide::Buy
        } else {
            AggressorSide::Sell
        },
    })
}

fn rate(what: &str, target: &str, count: usize, bytes: usize, took: Duration) {
    let secs = took.as_secs_f64();
    println!(
        "{target:<9} {what:<24} {count:>8} msgs in {secs:>6.2} s: {:>9.0} msgs/s {:>7.1} MB/s",
        count as f64 / secs,
        bytes as f64 / secs / 1e6
    );
}

async fn run(target: &str, brokers: Option<String>, count: usize) -> anyhow::Result<()> {
    let run_id = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let events: Vec<Event> = (0..count as u64).map(tick).collect();
    let bytes: usize = events
        .iter()
        .map(|e| serde_json::to_vec(e).map(|v| v.len()))
        .sum::<Result<usize, _>>()?;
    println!(
        "{target}: {count} trades, {:.0} bytes of JSON each on average",
        bytes as f64 / count as f64
    );
    let mut last_prefix = String::new();
    for linger_ms in [0, 5, 10, 50] {
        let prefix = format!("bench-{run_id}-linger{linger_ms}");
        let config = KafkaSinkConfig {
            brokers: brokers.clone(),
            topic_prefix: prefix.clone(),
            linger: Duration::from_millis(linger_ms),
            flush_timeout: Duration::from_secs(300),
            ..KafkaSinkConfig::default()
        };
        let mut sink = KafkaSink::new(&config).await?;
        let start = Instant::now();
        for batch in events.chunks(BATCH) {
            sink.write(batch).await?;
        }
        sink.flush().await?;
        rate(
            &format!("produce linger={linger_ms}ms"),
            target,
            count,
            bytes,
            start.elapsed(),
        );
        last_prefix = prefix;
    }

    let config = KafkaSourceConfig {
        brokers,
        topic_prefix: last_prefix,
        group_id: format!("bench-{run_id}"),
        kinds: vec![EventKind::Trade],
        session_timeout: Duration::from_secs(6),
        ..KafkaSourceConfig::default()
    };
    let mut source = KafkaSource::new(&config).await?;
    let first = tokio::time::timeout(Duration::from_secs(60), source.recv()).await??;
    let start = Instant::now();
    let mut received = 1;
    while received < count {
        match tokio::time::timeout(Duration::from_secs(10), source.recv()).await {
            Ok(next) => {
                next?;
                received += 1;
            }
            Err(_) => break,
        }
    }
    let took = start.elapsed();
    let position = source.position();
    source.commit(&position, None).await?;
    drop(first);
    rate(
        "consume (after 1st)",
        target,
        received,
        bytes * received / count,
        took,
    );
    if received < count {
        println!("{target}: only {received} of {count} consumed within 10 s of the last one");
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let events = |default: usize| -> anyhow::Result<usize> {
        Ok(match std::env::var("TICKSTREAM_BENCH_EVENTS") {
            Ok(text) => text.parse()?,
            Err(_) => default,
        })
    };
    runtime.block_on(run("embedded", None, events(100_000)?))?;
    if let Some(brokers) = std::env::var("KAFKA_BROKERS")
        .ok()
        .filter(|b| !b.is_empty())
    {
        runtime.block_on(run("broker", Some(brokers), events(20_000)?))?;
    }
    Ok(())
}
