//! Tests of the Kafka transport against the embedded cluster. Each test uses its own topic prefix and
//! consumer group, since the cluster is shared by the whole test process.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tickstream_model::{
    AggressorSide, Event, EventKind, Exchange, FeedState, FeedStatus, Symbol, Trade, UnixNanos,
};

use super::*;

const WAIT: Duration = Duration::from_secs(30);

fn trade(symbol: &str, seq: u64) -> Event {
    Event::Trade(Trade {
        exchange: Exchange::Coinbase,
        symbol: Symbol::parse(symbol).unwrap(),
        raw_symbol: symbol.into(),
        ts_event: UnixNanos(1_700_000_000_000_000_000 + seq as i64),
        ts_recv: UnixNanos(1_700_000_000_001_000_000 + seq as i64),
        trade_id: seq.to_string(),
        price: "37412.51".parse().unwrap(),
        quantity: "0.0008123".parse().unwrap(),
        side: AggressorSide::Buy,
    })
}

fn trades(symbols: &[&str], per_symbol: u64) -> Vec<Event> {
    (0..per_symbol)
        .flat_map(|seq| symbols.iter().map(move |s| trade(s, seq)))
        .collect()
}

fn sink_config(prefix: &str, partitions: i32) -> KafkaSinkConfig {
    KafkaSinkConfig {
        topic_prefix: prefix.to_owned(),
        partitions: Some(partitions),
        ..KafkaSinkConfig::default()
    }
}

fn source_config(prefix: &str, group: &str, partitions: i32) -> KafkaSourceConfig {
    KafkaSourceConfig {
        topic_prefix: prefix.to_owned(),
        group_id: group.to_owned(),
        kinds: vec![EventKind::Trade],
        partitions: Some(partitions),
        session_timeout: Duration::from_secs(6),
        ..KafkaSourceConfig::default()
    }
}

async fn recv_n(source: &mut KafkaSource, n: usize) -> Vec<Consumed> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let next = tokio::time::timeout(WAIT, source.recv()).await;
        out.push(next.expect("timed out waiting for events").unwrap());
    }
    out
}

async fn assert_nothing_more(source: &mut KafkaSource) {
    let more = tokio::time::timeout(Duration::from_secs(2), source.recv()).await;
    assert!(more.is_err(), "unexpected extra event: {more:?}");
}

fn trade_seq(consumed: &Consumed) -> (String, u64) {
    match &consumed.event {
        Event::Trade(t) => (t.symbol.as_str().to_owned(), t.trade_id.parse().unwrap()),
        other => panic!("not a trade: {other:?}"),
    }
}

/// Per symbol, the sequence numbers in the order they were received.
fn per_key_order(consumed: &[Consumed]) -> BTreeMap<String, Vec<u64>> {
    let mut order: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for c in consumed {
        let (symbol, seq) = trade_seq(c);
        order.entry(symbol).or_default().push(seq);
    }
    order
}

#[tokio::test]
async fn second_consumer_resumes_exactly_after_the_commit() {
    let symbols = ["BTC-USD", "ETH-USD", "SOL-USD", "DOGE-USD"];
    let events = trades(&symbols, 25);
    let mut sink = KafkaSink::new(&sink_config("resume", 3)).await.unwrap();
    sink.write(&events).await.unwrap();
    sink.flush().await.unwrap();

    let config = source_config("resume", "resume-group", 3);
    let mut first = KafkaSource::new(&config).await.unwrap();
    let first_part = recv_n(&mut first, 40).await;
    let barrier = first.position();
    assert_eq!(barrier.iter().map(|p| p.next_offset).sum::<i64>(), 40);
    first.commit(&barrier, None).await.unwrap();
    drop(first);

    let mut second = KafkaSource::new(&config).await.unwrap();
    let second_part = recv_n(&mut second, 60).await;
    assert_nothing_more(&mut second).await;

    let positions = |part: &[Consumed]| -> BTreeSet<(i32, i64)> {
        part.iter()
            .map(|c| (c.position.partition, c.position.offset))
            .collect()
    };
    let (a, b) = (positions(&first_part), positions(&second_part));
    assert!(a.is_disjoint(&b), "a committed event was read again");
    assert_eq!(a.len() + b.len(), 100);
    for (partition, next) in barrier.iter().map(|p| (p.partition, p.next_offset)) {
        let resumed = b
            .iter()
            .filter(|(p, _)| *p == partition)
            .map(|(_, o)| *o)
            .min();
        assert!(resumed.is_none_or(|first_offset| first_offset == next));
    }
    let all: Vec<Consumed> = first_part.into_iter().chain(second_part).collect();
    for (symbol, seqs) in per_key_order(&all) {
        assert_eq!(seqs, (0..25).collect::<Vec<_>>(), "order of {symbol}");
    }
}

#[tokio::test]
async fn messages_carry_key_headers_and_json() {
    let status = Event::Status(FeedStatus {
        exchange: Exchange::Kraken,
        symbol: None,
        raw_symbol: None,
        ts_event: UnixNanos(1_700_000_000_400_000_000),
        ts_recv: UnixNanos(1_700_000_000_400_000_000),
        state: FeedState::Disconnected,
        detail: "socket closed".to_owned(),
        reason: None,
        connection_id: Some(2),
        expected_sequence: None,
        received_sequence: None,
    });
    let events = vec![trade("BTC-USDT", 7), status];
    let mut sink = KafkaSink::new(&sink_config("headers", 1)).await.unwrap();
    sink.write(&events).await.unwrap();
    sink.flush().await.unwrap();

    let consumer: StreamConsumer = sink
        .cluster()
        .client_config(&[
            ("group.id", "headers-raw".to_owned()),
            ("auto.offset.reset", "earliest".to_owned()),
        ])
        .create()
        .unwrap();
    consumer
        .subscribe(&["headers.trades.v1", "headers.status.v1"])
        .unwrap();
    let mut seen = BTreeMap::new();
    while seen.len() < 2 {
        let message = tokio::time::timeout(WAIT, consumer.recv())
            .await
            .unwrap()
            .unwrap();
        let headers: BTreeMap<String, String> = message
            .headers()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h.key.to_owned(),
                    String::from_utf8(h.value.unwrap().to_vec()).unwrap(),
                )
            })
            .collect();
        let key = String::from_utf8(message.key().unwrap().to_vec()).unwrap();
        let event: Event = serde_json::from_slice(message.payload().unwrap()).unwrap();
        seen.insert(message.topic().to_owned(), (key, headers, event));
    }
    let (key, headers, event) = &seen["headers.trades.v1"];
    assert_eq!(key, "BTC-USDT");
    assert_eq!(headers[HEADER_SCHEMA], "trade.v1");
    assert_eq!(headers[HEADER_EXCHANGE], "coinbase");
    assert_eq!(headers[HEADER_CONTENT_TYPE], "application/json");
    assert_eq!(event, &events[0]);
    let (key, headers, event) = &seen["headers.status.v1"];
    assert_eq!(
        key, "kraken",
        "status without an instrument is keyed by venue"
    );
    assert_eq!(headers[HEADER_SCHEMA], "status.v1");
    assert_eq!(event, &events[1]);
}

#[tokio::test]
async fn poison_messages_go_to_the_dead_letter_topic_and_are_skipped() {
    let config = source_config("poison", "poison-group", 1);
    let mut source = KafkaSource::new(&config).await.unwrap();
    let producer: FutureProducer = source.cluster().client_config(&[]).create().unwrap();
    let quote = include_str!("../../../../schemas/examples/quote.v1.json");
    let good = serde_json::to_string(&trade("BTC-USD", 1)).unwrap();
    let wrong_schema = OwnedHeaders::new().insert(Header {
        key: HEADER_SCHEMA,
        value: Some("trade.v2"),
    });
    let records = [
        ("{not json", None),
        (quote, None),
        (good.as_str(), Some(wrong_schema)),
        (good.as_str(), None),
    ];
    for (payload, headers) in records {
        let mut record = FutureRecord::to("poison.trades.v1")
            .key("BTC-USD")
            .payload(payload);
        if let Some(headers) = headers {
            record = record.headers(headers);
        }
        producer.send(record, WAIT).await.unwrap();
    }

    let consumed = recv_n(&mut source, 1).await;
    assert_eq!(consumed[0].position.offset, 3);
    assert_eq!(consumed[0].event, trade("BTC-USD", 1));
    let position = source.position();
    assert_eq!(position.next_offset("poison.trades.v1", 0), Some(4));
    source.commit(&position, None).await.unwrap();

    let dlq: StreamConsumer = source
        .cluster()
        .client_config(&[
            ("group.id", "poison-dlq-reader".to_owned()),
            ("auto.offset.reset", "earliest".to_owned()),
        ])
        .create()
        .unwrap();
    dlq.subscribe(&["poison.dlq.v1"]).unwrap();
    let mut copies = Vec::new();
    while copies.len() < 3 {
        let message = tokio::time::timeout(WAIT, dlq.recv())
            .await
            .unwrap()
            .unwrap();
        let header = |name: &str| {
            message
                .headers()
                .and_then(|h| h.iter().find(|h| h.key == name))
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        assert_eq!(
            header(HEADER_SOURCE_TOPIC).as_deref(),
            Some("poison.trades.v1")
        );
        assert_eq!(message.key(), Some(&b"BTC-USD"[..]));
        copies.push((
            header(HEADER_SOURCE_OFFSET).unwrap(),
            header(HEADER_ERROR).unwrap(),
        ));
    }
    copies.sort();
    assert_eq!(copies[0].0, "0");
    assert!(
        copies[0].1.starts_with("not a trade.v1 event"),
        "{}",
        copies[0].1
    );
    assert_eq!(copies[1].1, "a quote.v1 event on a trade.v1 topic");
    assert_eq!(copies[2].1, "schema header `trade.v2` on a trade.v1 topic");
}

#[tokio::test]
async fn a_full_buffer_makes_write_wait_and_loses_nothing() {
    let config = KafkaSinkConfig {
        buffer_max_messages: 1_000,
        linger: Duration::from_millis(300),
        ..sink_config("backpressure", 2)
    };
    let mut sink = KafkaSink::new(&config).await.unwrap();
    let backpressure = sink.backpressure();
    let events = trades(&["BTC-USD", "ETH-USD"], 2_500);
    sink.write(&events).await.unwrap();
    assert!(backpressure.has_changed().unwrap(), "write never waited");
    assert!(
        !*backpressure.borrow(),
        "backpressure must end when the write returns"
    );
    sink.flush().await.unwrap();
    assert_eq!(sink.in_flight(), 0);

    let mut source = KafkaSource::new(&source_config("backpressure", "bp-group", 2))
        .await
        .unwrap();
    let consumed = recv_n(&mut source, 5_000).await;
    for (symbol, seqs) in per_key_order(&consumed) {
        assert_eq!(seqs, (0..2_500).collect::<Vec<_>>(), "order of {symbol}");
    }
}

#[tokio::test]
async fn existing_topics_with_fewer_partitions_are_reported() {
    KafkaSink::new(&sink_config("narrow", 2)).await.unwrap();
    let error = KafkaSink::new(&sink_config("narrow", 4)).await.unwrap_err();
    match error {
        Error::KafkaTopic { topic, message } => {
            assert_eq!(topic, "narrow.trades.v1");
            assert!(
                message.contains("has 2 partitions, fewer than the 4 configured"),
                "{message}"
            );
        }
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test]
async fn a_member_joining_mid_stream_loses_nothing_and_rereads_only_unconfirmed_events() {
    let symbols = [
        "BTC-USD", "ETH-USD", "SOL-USD", "DOGE-USD", "XRP-USD", "ADA-USD", "DOT-USD", "LTC-USD",
        "BCH-USD", "LINK-USD", "AVAX-USD", "UNI-USD",
    ];
    let (rounds, total) = (80, 80 * symbols.len());
    let mut sink = KafkaSink::new(&sink_config("rebalance", 4)).await.unwrap();
    sink.write(&trades(&symbols, 3)).await.unwrap();
    sink.flush().await.unwrap();

    let config = source_config("rebalance", "rebalance-group", 4);
    let mut first = KafkaSource::new(&config).await.unwrap();
    let mut distinct: BTreeSet<(i32, i64)> = recv_n(&mut first, 24)
        .await
        .iter()
        .map(|c| (c.position.partition, c.position.offset))
        .collect();
    let barrier = first.position();
    first.commit(&barrier, None).await.unwrap();
    let unconfirmed: BTreeSet<(i32, i64)> = recv_n(&mut first, 12)
        .await
        .iter()
        .map(|c| (c.position.partition, c.position.offset))
        .collect();
    distinct.extend(unconfirmed.iter().copied());

    // Both members run on; the second joins while events keep arriving.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(u8, Consumed)>(1024);
    let member =
        |id: u8, mut source: KafkaSource, tx: tokio::sync::mpsc::Sender<(u8, Consumed)>| {
            tokio::spawn(async move {
                while let Ok(consumed) = source.recv().await {
                    if tx.send((id, consumed)).await.is_err() {
                        break;
                    }
                }
            })
        };
    let second = KafkaSource::new(&config).await.unwrap();
    let members = [member(1, first, tx.clone()), member(2, second, tx)];
    let writer = tokio::spawn(async move {
        for seq in 3..rounds {
            let batch: Vec<Event> = symbols.iter().map(|s| trade(s, seq)).collect();
            sink.write(&batch).await.unwrap();
            sink.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut second_part = Vec::new();
    while distinct.len() < total {
        let (id, consumed) = tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap();
        distinct.insert((consumed.position.partition, consumed.position.offset));
        if id == 2 {
            second_part.push(consumed);
        }
    }
    writer.await.unwrap();
    members.iter().for_each(|m| m.abort());

    assert!(!second_part.is_empty(), "the joining member got no events");
    for c in &second_part {
        let committed = barrier
            .next_offset(&c.position.topic, c.position.partition)
            .unwrap_or(0);
        assert!(
            c.position.offset >= committed
                || unconfirmed.contains(&(c.position.partition, c.position.offset)),
            "partition {} offset {} was committed before the rebalance",
            c.position.partition,
            c.position.offset
        );
    }
}

#[tokio::test]
async fn try_recv_takes_only_what_is_fetched_and_loses_nothing_between_receives() {
    let symbols = ["BTC-USD", "ETH-USD"];
    let events = trades(&symbols, 50);
    let mut source = KafkaSource::new(&source_config("try-recv", "try-recv-group", 1))
        .await
        .unwrap();
    assert!(source.try_recv().is_none(), "nothing was produced yet");
    let mut sink = KafkaSink::new(&sink_config("try-recv", 1)).await.unwrap();
    sink.write(&events).await.unwrap();
    sink.flush().await.unwrap();

    // As a caller batching what is waiting: one receive, then whatever is fetched already.
    let mut consumed = Vec::new();
    while consumed.len() < events.len() {
        let first = tokio::time::timeout(WAIT, source.recv()).await;
        consumed.push(first.expect("timed out waiting for events").unwrap());
        while let Some(next) = source.try_recv() {
            consumed.push(next.unwrap());
        }
    }
    assert_nothing_more(&mut source).await;
    let offsets: Vec<i64> = consumed.iter().map(|c| c.position.offset).collect();
    assert_eq!(offsets, (0..100).collect::<Vec<i64>>());
    for (symbol, seqs) in per_key_order(&consumed) {
        assert_eq!(seqs, (0..50).collect::<Vec<_>>(), "order of {symbol}");
    }
}
