//! Poison messages on the source side: decoding a message into the event its topic promises, and
//! copying the ones that fail to the dead-letter topic with the reason in an `error` header.

use std::time::Duration;

use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use tickstream_model::{Event, EventKind};

use super::producer::TrackedProducer;
use super::{Cluster, HEADER_ERROR, HEADER_SCHEMA, log_sampled};
use crate::Error;

/// Headers on a dead-letter copy that say where the original was.
pub const HEADER_SOURCE_TOPIC: &str = "source-topic";
pub const HEADER_SOURCE_PARTITION: &str = "source-partition";
pub const HEADER_SOURCE_OFFSET: &str = "source-offset";

/// Reads a message as an event of `expected` kind, or says why it is not one.
pub(crate) fn decode_event(
    expected: EventKind,
    message: &BorrowedMessage<'_>,
) -> Result<Event, String> {
    let schema_header = message.headers().and_then(|headers| {
        headers
            .iter()
            .find(|h| h.key == HEADER_SCHEMA)
            .map(|h| h.value.map(String::from_utf8_lossy).unwrap_or_default())
    });
    if let Some(schema) = schema_header
        && schema != expected.schema()
    {
        return Err(format!(
            "schema header `{schema}` on a {} topic",
            expected.schema()
        ));
    }
    let payload = message
        .payload()
        .ok_or_else(|| "message without a payload".to_owned())?;
    let event: Event = serde_json::from_slice(payload)
        .map_err(|error| format!("not a {} event: {error}", expected.schema()))?;
    if event.kind() != expected {
        return Err(format!(
            "a {} event on a {} topic",
            event.kind().schema(),
            expected.schema()
        ));
    }
    Ok(event)
}

/// A dead-letter copy waiting to be queued.
#[derive(Debug)]
pub(crate) struct DeadLetter {
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    headers: OwnedHeaders,
}

impl DeadLetter {
    /// Counts and logs (sampled) a poison message and prepares its copy: the original key, payload and
    /// headers, plus the reason and the original's position.
    pub(crate) fn new(message: &BorrowedMessage<'_>, error: &str, total: u64) -> DeadLetter {
        let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
        metrics::counter!("tickstream_kafka_poison_total", "topic" => topic.to_owned())
            .increment(1);
        if log_sampled(total) {
            tracing::warn!(
                topic,
                partition,
                offset,
                error,
                poison_total = total,
                "poison message copied to the dead-letter topic and skipped"
            );
        }
        let mut headers = OwnedHeaders::new_with_capacity(8);
        if let Some(original) = message.headers() {
            for header in original.iter() {
                headers = headers.insert(header);
            }
        }
        let partition_text = partition.to_string();
        let offset_text = offset.to_string();
        let headers = headers
            .insert(Header {
                key: HEADER_ERROR,
                value: Some(error),
            })
            .insert(Header {
                key: HEADER_SOURCE_TOPIC,
                value: Some(topic),
            })
            .insert(Header {
                key: HEADER_SOURCE_PARTITION,
                value: Some(partition_text.as_str()),
            })
            .insert(Header {
                key: HEADER_SOURCE_OFFSET,
                value: Some(offset_text.as_str()),
            });
        DeadLetter {
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            headers,
        }
    }
}

/// The dead-letter producer of one source.
#[derive(Debug)]
pub(crate) struct DeadLetters {
    producer: TrackedProducer,
    topic: String,
    /// A copy not yet queued: kept across a cancelled `recv` and queued first on the next call.
    pending: Option<DeadLetter>,
}

impl DeadLetters {
    pub(crate) fn new(cluster: &Cluster, topic: &str) -> Result<DeadLetters, Error> {
        let settings = [
            ("client.id", "tickstream-dead-letters".to_owned()),
            ("enable.idempotence", "true".to_owned()),
            ("acks", "all".to_owned()),
            ("linger.ms", "5".to_owned()),
        ];
        Ok(DeadLetters {
            producer: TrackedProducer::new(cluster, &settings, Duration::from_secs(30))?,
            topic: topic.to_owned(),
            pending: None,
        })
    }

    pub(crate) fn hold(&mut self, letter: DeadLetter) {
        self.pending = Some(letter);
    }

    /// Queues the pending copy, if any. Cancel-safe: the copy stays pending until it is queued. A copy
    /// the producer refuses (such as one larger than its `message.max.bytes`) is counted, logged and
    /// dropped rather than failing every later `recv`; the original stays in its topic at the logged
    /// position.
    pub(crate) async fn send_pending(&mut self) {
        let Some(letter) = self.pending.as_ref() else {
            return;
        };
        let sent = self
            .producer
            .send(
                &self.topic,
                letter.key.as_deref(),
                &letter.payload,
                letter.headers.clone(),
            )
            .await;
        self.pending = None;
        if let Err(error) = sent {
            metrics::counter!("tickstream_kafka_dead_letter_failures_total").increment(1);
            tracing::error!(topic = self.topic, %error, "poison message not copied to the dead-letter topic");
        }
    }

    /// Queues the pending copy and waits until every copy is acknowledged.
    pub(crate) async fn flush(&mut self) -> Result<(), Error> {
        self.send_pending().await;
        self.producer.flush().await
    }
}
