//! The `kafka` sink: an idempotent, keyed producer (`acks=all`) with tracked deliveries, a bounded
//! buffer that rides out broker outages, and backpressure to the caller when that buffer is full.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, config::FromClientConfigAndContext};
use tickstream_model::Event;
use tokio::sync::{Notify, watch};

use super::{
    Cluster, HEADER_CONTENT_TYPE, HEADER_EXCHANGE, HEADER_SCHEMA, KafkaSinkConfig, Topics,
    ensure_topics, log_client_error, log_sampled,
};
use crate::Error;

/// How long a sender waits for a delivery report before it tries the full buffer again.
const ROOM_POLL: Duration = Duration::from_millis(100);

/// Writes events to their topics. Call [`KafkaSink::flush`] before dropping it: everything written
/// before a successful flush is acknowledged by all in-sync replicas.
#[derive(Debug)]
pub struct KafkaSink {
    producer: TrackedProducer,
    topics: Topics,
    cluster: Cluster,
    payload: Vec<u8>,
}

impl KafkaSink {
    /// Connects (starting the embedded cluster when no brokers are configured) and creates the topics
    /// that are missing. Validates `config` first.
    pub async fn new(config: &KafkaSinkConfig) -> Result<KafkaSink, Error> {
        config.validate()?;
        let cluster = Cluster::connect(config.brokers.as_deref(), &config.properties)?;
        let topics = Topics::new(&config.topic_prefix);
        let names: Vec<&str> = topics.all().collect();
        ensure_topics(&cluster, &names, config.partitions, config.replication, &[]).await?;
        let settings = [
            ("client.id", "tickstream-sink".to_owned()),
            ("enable.idempotence", "true".to_owned()),
            ("acks", "all".to_owned()),
            ("compression.type", config.compression.as_str().to_owned()),
            ("linger.ms", config.linger.as_millis().to_string()),
            ("batch.size", config.batch_bytes.to_string()),
            (
                "queue.buffering.max.messages",
                config.buffer_max_messages.to_string(),
            ),
            (
                "queue.buffering.max.kbytes",
                config.buffer_max_kbytes.to_string(),
            ),
            (
                "message.timeout.ms",
                config.delivery_timeout.as_millis().to_string(),
            ),
            // The Java client's partitioner: a key lands on the same partition from any client.
            ("partitioner", "murmur2_random".to_owned()),
        ];
        let producer = TrackedProducer::new(&cluster, &settings, config.flush_timeout)?;
        // Delivery failures are exported at zero from the start, so that dashboards and alerts see the
        // series before the first failure.
        for topic in topics.all() {
            metrics::counter!("tickstream_kafka_delivery_failures_total", "topic" => topic.to_owned())
                .absolute(0);
        }
        Ok(KafkaSink {
            producer,
            topics,
            cluster,
            payload: Vec::with_capacity(512),
        })
    }

    /// Queues `events` in order, each to its kind's topic. Waits while the producer's buffer is full
    /// (see [`KafkaSink::backpressure`]). An event that Kafka can never take (larger than
    /// `message.max.bytes`) is counted, logged and skipped. Not cancel-safe: a write dropped halfway
    /// has queued part of `events`.
    pub async fn write(&mut self, events: &[Event]) -> Result<(), Error> {
        let mut bytes = 0u64;
        for event in events {
            self.payload.clear();
            if let Err(error) = serde_json::to_writer(&mut self.payload, event) {
                reject(
                    self.topics.topic(event.kind()),
                    event.key(),
                    &error.to_string(),
                );
                continue;
            }
            let kind = event.kind();
            let headers = OwnedHeaders::new_with_capacity(3)
                .insert(Header {
                    key: HEADER_SCHEMA,
                    value: Some(kind.schema()),
                })
                .insert(Header {
                    key: HEADER_EXCHANGE,
                    value: Some(event.exchange().as_str()),
                })
                .insert(Header {
                    key: HEADER_CONTENT_TYPE,
                    value: Some("application/json"),
                });
            let topic = self.topics.topic(kind);
            bytes += self.payload.len() as u64;
            match self
                .producer
                .send(topic, Some(event.key().as_bytes()), &self.payload, headers)
                .await
            {
                Ok(()) => {}
                Err(KafkaError::MessageProduction(
                    code @ (RDKafkaErrorCode::MessageSizeTooLarge
                    | RDKafkaErrorCode::InvalidArgument),
                )) => reject(topic, event.key(), &code.to_string()),
                Err(source) => {
                    return Err(Error::Kafka {
                        op: "produce",
                        source,
                    });
                }
            }
        }
        metrics::counter!("tickstream_kafka_produced_bytes_total").increment(bytes);
        metrics::gauge!("tickstream_kafka_producer_queue_depth").set(self.in_flight() as f64);
        Ok(())
    }

    /// Waits until everything written so far is acknowledged (or `flush_timeout` passes). Fails when any
    /// delivery failed since the previous flush, so that a caller committing source offsets after this
    /// flush never commits past a lost message.
    pub async fn flush(&mut self) -> Result<(), Error> {
        self.producer.flush().await
    }

    /// `true` while a `write` waits for room in the full producer buffer.
    pub fn backpressure(&self) -> watch::Receiver<bool> {
        self.producer.backpressure.subscribe()
    }

    /// Messages queued or sent but not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        usize::try_from(self.producer.inner.in_flight_count()).unwrap_or_default()
    }

    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// The brokers this sink writes to.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }
}

impl Drop for KafkaSink {
    fn drop(&mut self) {
        let in_flight = self.in_flight();
        if in_flight > 0 {
            tracing::warn!(
                in_flight,
                "kafka sink dropped without a flush: messages may be lost"
            );
        }
    }
}

/// How often a flush checks whether everything in flight has been acknowledged.
const FLUSH_POLL: Duration = Duration::from_millis(1);

fn reject(topic: &str, key: &str, error: &str) {
    metrics::counter!("tickstream_kafka_rejected_total", "topic" => topic.to_owned()).increment(1);
    tracing::error!(
        topic,
        key,
        error,
        "event rejected by the kafka producer; skipped"
    );
}

/// Counts delivery outcomes and wakes senders waiting for room in the buffer.
#[derive(Debug, Default)]
struct DeliveryTracker {
    /// Failures since the last flush.
    failed: AtomicU64,
    /// Failures since start, for log sampling.
    failed_total: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// Client-level errors (such as brokers down) since start, for log sampling.
    client_errors: AtomicU64,
    room: Notify,
    waiting: AtomicBool,
}

/// Producer context that records every delivery report.
#[derive(Debug)]
struct TrackingContext {
    tracker: Arc<DeliveryTracker>,
}

impl ClientContext for TrackingContext {
    fn error(&self, error: KafkaError, reason: &str) {
        log_client_error("producer", &self.tracker.client_errors, &error, reason);
    }
}

impl ProducerContext for TrackingContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, message)) = result {
            let tracker = &self.tracker;
            tracker.failed.fetch_add(1, Ordering::AcqRel);
            let total = tracker.failed_total.fetch_add(1, Ordering::Relaxed) + 1;
            let topic = message.topic();
            metrics::counter!("tickstream_kafka_delivery_failures_total", "topic" => topic.to_owned())
                .increment(1);
            if log_sampled(total) {
                let key = message
                    .key()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                tracing::error!(topic, %key, %error, failures = total, "kafka delivery failed");
            }
            let mut last = tracker.last_error.lock().unwrap_or_else(|p| p.into_inner());
            *last = Some(format!("{topic}: {error}"));
        }
        if self.tracker.waiting.swap(false, Ordering::AcqRel) {
            self.tracker.room.notify_waiters();
        }
    }
}

/// A threaded librdkafka producer with delivery tracking and backpressure; the sink and the source's
/// dead-letter copies use it.
pub(crate) struct TrackedProducer {
    inner: ThreadedProducer<TrackingContext>,
    tracker: Arc<DeliveryTracker>,
    backpressure: watch::Sender<bool>,
    flush_timeout: Duration,
}

impl std::fmt::Debug for TrackedProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackedProducer")
            .field("in_flight", &self.inner.in_flight_count())
            .field("tracker", &self.tracker)
            .finish()
    }
}

impl TrackedProducer {
    pub(crate) fn new(
        cluster: &Cluster,
        settings: &[(&str, String)],
        flush_timeout: Duration,
    ) -> Result<TrackedProducer, Error> {
        let tracker = Arc::new(DeliveryTracker::default());
        let context = TrackingContext {
            tracker: tracker.clone(),
        };
        let inner =
            ThreadedProducer::from_config_and_context(&cluster.client_config(settings), context)
                .map_err(|source| Error::Kafka {
                    op: "create producer",
                    source,
                })?;
        Ok(TrackedProducer {
            inner,
            tracker,
            backpressure: watch::Sender::new(false),
            flush_timeout,
        })
    }

    /// Queues one message, waiting while the buffer is full.
    pub(crate) async fn send(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        payload: &[u8],
        headers: OwnedHeaders,
    ) -> Result<(), KafkaError> {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic)
            .payload(payload)
            .headers(headers);
        if let Some(key) = key {
            record = record.key(key);
        }
        let mut waiting_since = None;
        let result = loop {
            match self.inner.send(record) {
                Ok(()) => break Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    if waiting_since.is_none() {
                        waiting_since = Some(Instant::now());
                        self.backpressure_began(topic);
                    }
                    let room = self.tracker.room.notified();
                    tokio::pin!(room);
                    room.as_mut().enable();
                    self.tracker.waiting.store(true, Ordering::Release);
                    // A report that came between the failed send and `enable` is caught by the timeout.
                    let _ = tokio::time::timeout(ROOM_POLL, room).await;
                }
                Err((error, _)) => break Err(error),
            }
        };
        if let Some(since) = waiting_since {
            self.backpressure_ended(since.elapsed());
        }
        result
    }

    fn backpressure_began(&self, topic: &str) {
        self.backpressure.send_replace(true);
        metrics::counter!("tickstream_kafka_backpressure_total").increment(1);
        metrics::gauge!("tickstream_kafka_backpressure").set(1.0);
        tracing::warn!(
            topic,
            in_flight = self.inner.in_flight_count(),
            "kafka producer buffer full: waiting for the brokers (backpressure)"
        );
    }

    fn backpressure_ended(&self, waited: Duration) {
        self.backpressure.send_replace(false);
        metrics::gauge!("tickstream_kafka_backpressure").set(0.0);
        tracing::info!(
            waited_ms = waited.as_millis() as u64,
            "kafka producer buffer has room again"
        );
    }

    /// Waits until nothing is in flight; fails on a timeout, a fatal producer error, or when any
    /// delivery failed since the previous flush.
    ///
    /// rdkafka's own blocking flush waits in polls of up to 100 ms for delivery reports that the
    /// producer's thread already takes, so it lasts at least 100 ms whenever anything is in flight (and
    /// the sink writes nothing meanwhile). Here each round asks librdkafka to send what is queued
    /// without lingering and returns at once; the task sleeps [`FLUSH_POLL`] between rounds.
    pub(crate) async fn flush(&self) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + self.flush_timeout;
        let flushed = loop {
            match self.inner.flush(Duration::ZERO) {
                Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut))
                    if tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(FLUSH_POLL).await
                }
                done => break done,
            }
        };
        if let Some((code, reason)) = self.inner.client().fatal_error() {
            return Err(Error::Kafka {
                op: "produce",
                source: KafkaError::MessageProduction(code),
            })
            .inspect_err(|_| tracing::error!(%code, reason, "kafka producer failed fatally"));
        }
        flushed.map_err(|source| Error::Kafka {
            op: "flush",
            source,
        })?;
        let failed = self.tracker.failed.swap(0, Ordering::AcqRel);
        if failed > 0 {
            let last = self
                .tracker
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .unwrap_or_default();
            return Err(Error::KafkaDelivery { failed, last });
        }
        Ok(())
    }
}
