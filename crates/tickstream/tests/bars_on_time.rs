//! Bars close on time when no trade follows: trades made at the wall clock go into a real Kafka-protocol
//! broker, then nothing more. The open 1-minute bar must reach the bars topic and the serving cache's API
//! within `allowed_lateness + idle_timeout + 2 s` of its end, closed by the idle partition's watermark.
//! Run by `tests/run`, which starts the broker.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use common::{MINUTE, Tickstream, example, free_port, needs, scratch_dir, write_file};

/// The defaults: `allowed_lateness` of `time_bars`, `idle_timeout` of the `kafka` source.
const ALLOWED_LATENESS: Duration = Duration::from_secs(2);
const IDLE_TIMEOUT: Duration = Duration::from_secs(5);

fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn http_get(addr: &str, path: &str, key: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

/// True once the bars topic holds the bar opening at `open_time`.
fn on_topic(consumer: &BaseConsumer, open_time: i64) -> bool {
    while let Some(message) = consumer.poll(Duration::from_millis(100)) {
        let message = message.unwrap();
        let bar: serde_json::Value = serde_json::from_slice(message.payload().unwrap()).unwrap();
        if bar["open_time"].as_i64() == Some(open_time) {
            return true;
        }
    }
    false
}

#[test]
#[ignore = "needs Kafka: run by tests/run"]
fn the_open_bar_closes_when_the_partition_goes_idle() {
    let brokers = needs("KAFKA_BROKERS");
    let tag = format!("ontime{}x{}", std::process::id(), now_nanos() % 1_000_000);
    let dir = scratch_dir(&tag);
    let api = format!("127.0.0.1:{}", free_port());
    let pipeline = write_file(
        &dir,
        "bars.toml",
        format!(
            r#"
[sources.ticks]
kind = "kafka"
brokers = "{brokers}"
topic_prefix = "{tag}"
partitions = 1
group_id = "{tag}"
kinds = ["trade"]
session_timeout = "6s"

[operators.bars]
kind = "time_bars"
inputs = ["ticks"]
intervals = ["1m"]

[sinks.out]
kind = "kafka"
inputs = ["bars"]
brokers = "{brokers}"
topic_prefix = "{tag}-out"
partitions = 1

[sinks.serving]
kind = "cache"
inputs = ["bars"]

[sinks.serving.api]
listen = "{api}"
keys = {{ kind = "file", path = "keys.json" }}
"#
        ),
    );
    let key = Tickstream::new([
        "keys",
        "--keys",
        "keys.json",
        "create",
        "--name",
        "t",
        "--scopes",
        "read",
    ])
    .current_dir(&dir)
    .output();
    assert!(key.status.success(), "{}", common::stderr(&key));
    let key = String::from_utf8_lossy(&key.stdout).trim().to_owned();

    let run = Tickstream::new(["run", "--checkpoint-interval", "1s"])
        .arg(&pipeline)
        .current_dir(&dir)
        .spawn_logged(dir.join("run.log"));
    let started = Instant::now();
    while http_get(&api, "/v1/bars", &key).is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no API:\n{}",
            run.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Give the source time to join its group before trading starts.
    std::thread::sleep(Duration::from_secs(8));

    // Trades in the first seconds of the last quarter of a minute, then silence.
    while !(40..45).contains(&((now_nanos() % MINUTE) / 1_000_000_000)) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    let template = example("trade");
    let first = now_nanos();
    let open_time = first - first % MINUTE;
    for i in 0..5 {
        let ts = now_nanos();
        let mut trade = template.clone();
        trade["ts_event"] = ts.into();
        trade["ts_recv"] = ts.into();
        trade["trade_id"] = format!("{tag}-{i}").into();
        let payload = trade.to_string();
        producer
            .send(
                BaseRecord::to(&format!("{tag}.trades.v1"))
                    .key("BTC-USD")
                    .payload(&payload),
            )
            .map_err(|(e, _)| e)
            .unwrap();
        producer.flush(Duration::from_secs(10)).unwrap();
        std::thread::sleep(Duration::from_millis(400));
    }
    let end = open_time + MINUTE;
    let deadline =
        end + (ALLOWED_LATENESS + IDLE_TIMEOUT + Duration::from_secs(2)).as_nanos() as i64;

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", format!("{tag}-reader"))
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(&format!("{tag}-out.bars.v1"), 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&list).unwrap();
    let path = "/v1/bars?exchange=coinbase&symbol=BTC-USD&interval=1m";
    let (mut topic_at, mut cache_at) = (None, None);
    while (topic_at.is_none() || cache_at.is_none()) && now_nanos() < deadline + 20 * 1_000_000_000
    {
        if topic_at.is_none() && on_topic(&consumer, open_time) {
            topic_at = Some(now_nanos());
        }
        if cache_at.is_none()
            && http_get(&api, path, &key).is_some_and(|r| r.contains(&open_time.to_string()))
        {
            cache_at = Some(now_nanos());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let after_end = |at: Option<i64>| at.map(|t| Duration::from_nanos((t - end).max(0) as u64));
    eprintln!(
        "bar end to the topic: {:?}, to the cache: {:?}",
        after_end(topic_at),
        after_end(cache_at)
    );
    for (place, at) in [("bars topic", topic_at), ("cache", cache_at)] {
        let at = at.unwrap_or_else(|| panic!("the bar never reached the {place}:\n{}", run.log()));
        assert!(
            at <= deadline,
            "the bar reached the {place} {:?} after its end, later than lateness + idle timeout + 2 s:\n{}",
            Duration::from_nanos((at - end) as u64),
            run.log()
        );
    }
    drop(run);
    std::fs::remove_dir_all(dir).unwrap();
}
