//! What a processor wrote to Kafka, as the tests compare it: every row of the bars, indicators and signals
//! topics of a prefix, and those rows by key (the Kafka sink is at least once, so a key may come twice).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde_json::Value;

/// Everything on the output topics of `prefix` (partitions `0..partitions`), from the beginning to the end.
pub fn processed_rows(brokers: &str, prefix: &str, partitions: i32) -> Vec<Value> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("{prefix}-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for kind in ["bars", "indicators", "signals"] {
        let topic = format!("{prefix}.{kind}.v1");
        for partition in 0..partitions {
            if let Ok((_, high)) =
                consumer.fetch_watermarks(&topic, partition, Duration::from_secs(10))
                && high > 0
            {
                list.add_partition_offset(&topic, partition, Offset::Beginning)
                    .unwrap();
                ends.insert((topic.clone(), partition), high);
            }
        }
    }
    let mut rows = Vec::new();
    if ends.is_empty() {
        return rows;
    }
    consumer.assign(&list).unwrap();
    let start = Instant::now();
    while !ends.is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "reading {prefix}: {} partitions left",
            ends.len()
        );
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.unwrap();
        let slot = (message.topic().to_owned(), message.partition());
        rows.push(serde_json::from_slice(message.payload().unwrap()).unwrap());
        if ends
            .get(&slot)
            .is_some_and(|end| message.offset() + 1 >= *end)
        {
            ends.remove(&slot);
        }
    }
    rows
}

/// What identifies a row: a signal's id, or the row's (kind, exchange, symbol, interval, open time).
pub fn row_key(row: &Value) -> String {
    match row["type"].as_str() {
        Some("signal") => format!("signal {}", row["id"]),
        kind => format!(
            "{kind:?} {} {} {} {}",
            row["exchange"], row["symbol"], row["interval"], row["open_time"]
        ),
    }
}

/// Rows by key; a key delivered twice must carry the same row. Returns the rows and how many repeats.
pub fn rows_by_key(rows: Vec<Value>) -> (BTreeMap<String, Value>, usize) {
    let mut map = BTreeMap::new();
    let mut repeats = 0;
    for row in rows {
        if let Some(earlier) = map.insert(row_key(&row), row.clone()) {
            assert_eq!(
                earlier, row,
                "a repeated row differs from its first delivery"
            );
            repeats += 1;
        }
    }
    (map, repeats)
}

/// Asserts that `got` holds exactly the rows of `expected`, key for key and value for value.
pub fn assert_same_rows(
    expected: &BTreeMap<String, Value>,
    got: &BTreeMap<String, Value>,
    what: &str,
) {
    let missing: Vec<&String> = expected.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<&String> = got.keys().filter(|k| !expected.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: {} missing {:?}, {} extra {:?}",
        missing.len(),
        &missing[..missing.len().min(10)],
        extra.len(),
        &extra[..extra.len().min(10)]
    );
    for (k, row) in expected {
        assert_eq!(&got[k], row, "{what}: {k} differs");
    }
}
