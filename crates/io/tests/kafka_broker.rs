//! The Kafka transport against a real Kafka-protocol broker (`KAFKA_BROKERS`): resume after commit,
//! per-key order from the idempotent producer, and a 30 s broker outage mid-stream.
//!
//! Environment (exported by `tests/run`):
//! - `KAFKA_BROKERS`: bootstrap servers, such as `127.0.0.1:19092`. Required: the tests fail without it.
//! - `TICKSTREAM_BROKER_STOP` / `TICKSTREAM_BROKER_START`: bash snippets (run with `bash -c`) that stop
//!   the broker and start it again on the same port and storage; the start snippet returns once the
//!   broker accepts connections. Required by the outage test. Stop Tansu with SIGKILL (`kill -9`): after
//!   SIGTERM, Tansu 0.6.0 keeps its listener open but answers produce requests with an unknown error
//!   while its storage shuts down, so the "outage" becomes failed deliveries rather than a broker away.
//! - `TICKSTREAM_BROKER_OUTAGE`: outage length in seconds (default 30).
//!
//! Each run uses fresh topic prefixes and groups, so the broker's storage may be reused between runs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail, ensure};
use tickstream_io::kafka::{Consumed, KafkaSink, KafkaSinkConfig, KafkaSource, KafkaSourceConfig};
use tickstream_model::{AggressorSide, Event, EventKind, Exchange, Symbol, Trade, UnixNanos};

/// The tests take turns: the outage test stops the broker that the others use.
static BROKER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const NEEDS: &str = "needs a Kafka broker: run by tests/run";
const WAIT: Duration = Duration::from_secs(60);
const SYMBOLS: [&str; 6] = [
    "BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD", "ADA-USD", "DOGE-USD",
];

fn brokers() -> anyhow::Result<String> {
    // Client logs in the test output; `RUST_LOG=rdkafka=debug` shows librdkafka's own.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_test_writer()
        .try_init();
    std::env::var("KAFKA_BROKERS")
        .ok()
        .filter(|b| !b.trim().is_empty())
        .context(
            "KAFKA_BROKERS is not set: these tests need a Kafka broker (run them with tests/run)",
        )
}

/// A prefix no earlier run used.
fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("it-{name}-{nanos}")
}

fn trade(symbol: &str, seq: u64) -> Event {
    Event::Trade(Trade {
        exchange: Exchange::Binance,
        symbol: Symbol::parse(symbol).expect("symbol"),
        raw_symbol: symbol.replace('-', "").into(),
        ts_event: UnixNanos(1_700_000_000_000_000_000 + seq as i64),
        ts_recv: UnixNanos(1_700_000_000_002_000_000 + seq as i64),
        trade_id: seq.to_string(),
        price: "64012.17".parse().expect("price"),
        quantity: "0.01250000".parse().expect("quantity"),
        side: AggressorSide::Sell,
    })
}

/// `per_symbol` trades for each symbol, interleaved, numbered from `from`.
fn trades(from: u64, per_symbol: u64) -> Vec<Event> {
    (from..from + per_symbol)
        .flat_map(|seq| SYMBOLS.iter().map(move |s| trade(s, seq)))
        .collect()
}

fn sink_config(prefix: &str) -> anyhow::Result<KafkaSinkConfig> {
    Ok(KafkaSinkConfig {
        brokers: Some(brokers()?),
        topic_prefix: prefix.to_owned(),
        partitions: Some(3),
        flush_timeout: Duration::from_secs(120),
        ..KafkaSinkConfig::default()
    })
}

fn source_config(prefix: &str, group: &str) -> anyhow::Result<KafkaSourceConfig> {
    Ok(KafkaSourceConfig {
        brokers: Some(brokers()?),
        topic_prefix: prefix.to_owned(),
        group_id: group.to_owned(),
        kinds: vec![EventKind::Trade],
        partitions: Some(3),
        session_timeout: Duration::from_secs(6),
        ..KafkaSourceConfig::default()
    })
}

async fn recv_n(source: &mut KafkaSource, n: usize) -> anyhow::Result<Vec<Consumed>> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let next = tokio::time::timeout(WAIT, source.recv())
            .await
            .with_context(|| format!("only {} of {n} events arrived", out.len()))?;
        out.push(next?);
    }
    Ok(out)
}

async fn ensure_nothing_more(source: &mut KafkaSource) -> anyhow::Result<()> {
    if let Ok(more) = tokio::time::timeout(Duration::from_secs(3), source.recv()).await {
        bail!("unexpected extra event: {more:?}");
    }
    Ok(())
}

/// Per symbol, the trade ids in the order they arrived.
fn per_key(consumed: &[Consumed]) -> anyhow::Result<BTreeMap<String, Vec<u64>>> {
    let mut order: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for c in consumed {
        let Event::Trade(t) = &c.event else {
            bail!("not a trade: {:?}", c.event);
        };
        order
            .entry(t.symbol.as_str().to_owned())
            .or_default()
            .push(t.trade_id.parse()?);
    }
    Ok(order)
}

fn ensure_exact_order(consumed: &[Consumed], per_symbol: u64) -> anyhow::Result<()> {
    let order = per_key(consumed)?;
    ensure!(
        order.len() == SYMBOLS.len(),
        "symbols seen: {:?}",
        order.keys()
    );
    for (symbol, seqs) in order {
        let expected: Vec<u64> = (0..per_symbol).collect();
        if seqs != expected {
            let missing = expected.iter().filter(|s| !seqs.contains(s)).count();
            bail!(
                "{symbol}: {} received, {missing} missing, in order: {}",
                seqs.len(),
                seqs.windows(2).all(|w| w[0] < w[1])
            );
        }
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs a Kafka broker: run by tests/run"]
async fn second_consumer_resumes_exactly_after_the_commit() -> anyhow::Result<()> {
    let _turn = BROKER.lock().await;
    let prefix = unique("resume");
    let mut sink = KafkaSink::new(&sink_config(&prefix)?).await?;
    sink.write(&trades(0, 50)).await?;
    sink.flush().await?;

    let config = source_config(&prefix, &unique("group"))?;
    let mut first = KafkaSource::new(&config).await?;
    let first_part = recv_n(&mut first, 120).await?;
    let barrier = first.position();
    first.commit(&barrier, None).await?;
    drop(first);

    let mut second = KafkaSource::new(&config).await?;
    let second_part = recv_n(&mut second, 180).await?;
    ensure_nothing_more(&mut second).await?;

    let positions = |part: &[Consumed]| -> BTreeSet<(i32, i64)> {
        part.iter()
            .map(|c| (c.position.partition, c.position.offset))
            .collect()
    };
    let (a, b) = (positions(&first_part), positions(&second_part));
    ensure!(a.is_disjoint(&b), "a committed event was delivered again");
    for (partition, next) in barrier.iter().map(|p| (p.partition, p.next_offset)) {
        let resumed = b
            .iter()
            .filter(|(p, _)| *p == partition)
            .map(|(_, o)| *o)
            .min();
        ensure!(
            resumed.is_none_or(|first_offset| first_offset == next),
            "partition {partition} resumed at {resumed:?}, committed {next}"
        );
    }
    let all: Vec<Consumed> = first_part.into_iter().chain(second_part).collect();
    ensure_exact_order(&all, 50)
}

#[tokio::test]
#[ignore = "needs a Kafka broker: run by tests/run"]
async fn commits_name_their_checkpoint_and_a_restart_reads_it_back() -> anyhow::Result<()> {
    let _turn = BROKER.lock().await;
    let prefix = unique("checkpoint");
    let mut sink = KafkaSink::new(&sink_config(&prefix)?).await?;
    sink.write(&trades(0, 20)).await?;
    sink.flush().await?;
    let config = source_config(&prefix, &unique("group"))?;

    let mut first = KafkaSource::new(&config).await?;
    let fresh = first.wait_for_assignment(Duration::from_secs(30)).await?;
    ensure!(!fresh.is_empty(), "no partitions assigned");
    ensure!(
        fresh
            .iter()
            .all(|c| c.next_offset.is_none() && c.checkpoint.is_none()),
        "a new group has nothing committed: {fresh:?}"
    );
    recv_n(&mut first, 40).await?;
    let position = first.position();
    first.commit(&position, Some(7)).await?;
    // Nothing new read: the next checkpoint still re-commits, to name itself.
    first.commit(&first.position(), Some(8)).await?;
    drop(first);

    let mut second = KafkaSource::new(&config).await?;
    let committed = second.wait_for_assignment(Duration::from_secs(30)).await?;
    for (partition, next) in position.iter().map(|p| (p.partition, p.next_offset)) {
        let found = committed
            .iter()
            .find(|c| c.partition == partition)
            .context("partition not assigned")?;
        // Tansu 0.6.0 stores the commit metadata but does not return it on OffsetFetch; brokers that
        // return it must return the newest.
        ensure!(
            found.next_offset == Some(next) && matches!(found.checkpoint, Some(8) | None),
            "partition {partition}: committed {found:?}, expected offset {next} and checkpoint 8"
        );
    }
    sink.write(&trades(20, 5)).await?;
    sink.flush().await?;
    let more = recv_n(&mut second, 10).await?;
    ensure!(
        more.iter().all(|c| c.position.offset
            >= position
                .next_offset(&c.position.topic, c.position.partition)
                .unwrap_or(0)),
        "the restarted source read events before its committed offsets"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs a Kafka broker: run by tests/run"]
async fn idempotent_producer_keeps_per_key_order() -> anyhow::Result<()> {
    let _turn = BROKER.lock().await;
    let prefix = unique("order");
    let mut sink = KafkaSink::new(&sink_config(&prefix)?).await?;
    for batch in 0..20 {
        sink.write(&trades(batch * 100, 100)).await?;
    }
    sink.flush().await?;
    let mut source = KafkaSource::new(&source_config(&prefix, &unique("group"))?).await?;
    let consumed = recv_n(&mut source, 2_000 * SYMBOLS.len()).await?;
    ensure_nothing_more(&mut source).await?;
    ensure_exact_order(&consumed, 2_000)
}

fn shell(variable: &str) -> anyhow::Result<()> {
    let command = std::env::var(variable)
        .with_context(|| format!("{variable} is not set: the outage test needs it ({NEEDS})"))?;
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(&command)
        .status()
        .with_context(|| format!("running {variable}"))?;
    ensure!(status.success(), "{variable} ({command}) failed: {status}");
    Ok(())
}

#[tokio::test]
#[ignore = "needs a Kafka broker: run by tests/run"]
async fn broker_outage_mid_stream_loses_nothing_and_keeps_order() -> anyhow::Result<()> {
    let _turn = BROKER.lock().await;
    let outage: u64 = std::env::var("TICKSTREAM_BROKER_OUTAGE")
        .ok()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(30);
    let prefix = unique("outage");
    let mut sink = KafkaSink::new(&sink_config(&prefix)?).await?;
    let mut source = KafkaSource::new(&source_config(&prefix, &unique("group"))?).await?;
    const PER_TICK: u64 = 20;
    let ticks_before = 20;
    let ticks_during = outage * 10;
    let ticks_after = 20;
    let total_ticks = ticks_before + ticks_during + ticks_after;
    let per_symbol = total_ticks * PER_TICK;

    // The consumer runs through the outage too, committing every second after its sink "flushed".
    let reader = tokio::spawn(async move {
        let mut consumed = Vec::new();
        let mut distinct = BTreeSet::new();
        let mut last_commit = tokio::time::Instant::now();
        while distinct.len() < (per_symbol as usize) * SYMBOLS.len() {
            let next = tokio::time::timeout(Duration::from_secs(outage + 120), source.recv())
                .await
                .context("consumer stalled after the outage")??;
            distinct.insert((next.position.partition, next.position.offset));
            consumed.push(next);
            if last_commit.elapsed() > Duration::from_secs(1) {
                let position = source.position();
                if let Err(error) = source.commit(&position, None).await {
                    eprintln!("commit failed (retried at the next checkpoint): {error}");
                }
                last_commit = tokio::time::Instant::now();
            }
        }
        anyhow::Ok(consumed)
    });

    // Ingest writes 20 events per symbol every 100 ms; the broker is away for `outage` seconds.
    let mut interval = tokio::time::interval(Duration::from_millis(100));
    for tick in 0..total_ticks {
        interval.tick().await;
        if tick == ticks_before {
            shell("TICKSTREAM_BROKER_STOP")?;
        }
        if tick == ticks_before + ticks_during {
            shell("TICKSTREAM_BROKER_START")?;
        }
        sink.write(&trades(tick * PER_TICK, PER_TICK)).await?;
    }
    sink.flush().await?;
    let during = reader.await??;

    // The consumer that lived through the outage may re-read uncommitted events after a rebalance,
    // but never skips one, and per key the first sightings are in order.
    let mut first_seen: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (symbol, seqs) in per_key(&during)? {
        let mut seen = BTreeSet::new();
        let firsts = seqs.into_iter().filter(|s| seen.insert(*s)).collect();
        first_seen.insert(symbol, firsts);
    }
    for (symbol, seqs) in &first_seen {
        ensure!(
            *seqs == (0..per_symbol).collect::<Vec<_>>(),
            "{symbol}: consumer through the outage saw {} distinct events out of {per_symbol}, or out of order",
            seqs.len()
        );
    }

    // The log itself holds every event exactly once, in order per key.
    let mut replay = KafkaSource::new(&source_config(&prefix, &unique("replay"))?).await?;
    let all = recv_n(&mut replay, (per_symbol as usize) * SYMBOLS.len()).await?;
    ensure_nothing_more(&mut replay).await?;
    ensure_exact_order(&all, per_symbol)
}
