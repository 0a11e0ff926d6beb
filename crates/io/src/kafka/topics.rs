//! Topic names (`<prefix>.trades.v1`, ..., `<prefix>.dlq.v1`) and their creation on start.
//!
//! Missing topics are created with the configured partitions and replication. An existing topic with
//! fewer partitions than configured is an error naming the topic and both counts: it is never used
//! silently. To run on such a topic as it is, configure `partitions` to its count. More partitions than
//! configured are fine.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use tickstream_model::EventKind;

use super::{Cluster, run_blocking, topic_partitions};
use crate::Error;

/// How long topic creation and the metadata check may take before start-up fails.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(15);

/// The topic names of one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    by_kind: [String; EventKind::ALL.len()],
    dlq: String,
}

impl Topics {
    pub fn new(prefix: &str) -> Topics {
        Topics {
            by_kind: EventKind::ALL.map(|kind| format!("{prefix}.{}.v1", kind.plural())),
            dlq: format!("{prefix}.dlq.v1"),
        }
    }

    /// The topic of one event kind, such as `tickstream.trades.v1`.
    pub fn topic(&self, kind: EventKind) -> &str {
        &self.by_kind[kind_index(kind)]
    }

    /// The dead-letter topic, such as `tickstream.dlq.v1`.
    pub fn dlq(&self) -> &str {
        &self.dlq
    }

    /// The event kind a topic carries (`None` for the dead-letter topic and foreign topics).
    pub fn kind_of(&self, topic: &str) -> Option<EventKind> {
        EventKind::ALL
            .into_iter()
            .find(|kind| self.by_kind[kind_index(*kind)] == topic)
    }

    /// Every topic of the prefix: one per event kind, then the dead-letter topic.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        self.by_kind
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(self.dlq.as_str()))
    }
}

fn kind_index(kind: EventKind) -> usize {
    EventKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or_default()
}

/// Creates the topics that are missing and checks that every topic has at least the partitions
/// configured (or their default on this cluster, see [`topic_partitions`]). `replication` and the topic
/// `settings` (such as `cleanup.policy`) apply to brokers; the embedded cluster keeps one copy.
pub async fn ensure_topics(
    cluster: &Cluster,
    topics: &[&str],
    configured_partitions: Option<i32>,
    replication: i32,
    settings: &[(&str, &str)],
) -> Result<(), Error> {
    let partitions = topic_partitions(configured_partitions, cluster.embedded().is_some());
    let admin = admin_client(cluster)?;
    match cluster.embedded() {
        Some(embedded) => {
            for topic in topics {
                if embedded.create_topic(topic, partitions)? {
                    tracing::info!(topic, partitions, "created topic on the embedded cluster");
                }
            }
        }
        None => {
            let new_topics: Vec<NewTopic<'_>> = topics
                .iter()
                .map(|topic| {
                    settings.iter().fold(
                        NewTopic::new(topic, partitions, TopicReplication::Fixed(replication)),
                        |new, (key, value)| new.set(key, value),
                    )
                })
                .collect();
            let options = AdminOptions::new()
                .operation_timeout(Some(ADMIN_TIMEOUT))
                .request_timeout(Some(ADMIN_TIMEOUT));
            let results = admin
                .create_topics(&new_topics, &options)
                .await
                .map_err(|source| Error::Kafka {
                    op: "create topics",
                    source,
                })?;
            for result in results {
                match result {
                    Ok(topic) => {
                        tracing::info!(topic, partitions, replication, "created topic")
                    }
                    Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                    Err((topic, code)) => {
                        return Err(Error::KafkaTopic {
                            topic,
                            message: format!("could not be created: {code}"),
                        });
                    }
                }
            }
        }
    }
    let names: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
    run_blocking("read topic metadata", move || {
        check_partitions(&admin, &names, partitions)
    })
    .await
}

fn admin_client(cluster: &Cluster) -> Result<AdminClient<DefaultClientContext>, Error> {
    cluster
        .client_config(&[])
        .create()
        .map_err(|source| Error::Kafka {
            op: "create admin client",
            source,
        })
}

/// The number of partitions of each of `topics` (which must exist), in order.
pub async fn partition_counts(cluster: &Cluster, topics: &[&str]) -> Result<Vec<i32>, Error> {
    let admin = admin_client(cluster)?;
    let names: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
    run_blocking("read topic metadata", move || {
        names
            .iter()
            .map(|topic| {
                let count = available_partitions(&admin, topic)?;
                i32::try_from(count).map_err(|_| Error::KafkaTopic {
                    topic: topic.clone(),
                    message: format!("has {count} partitions"),
                })
            })
            .collect()
    })
    .await
}

/// A topic's partition count from its metadata, waiting briefly for a topic that was just created to
/// appear.
fn available_partitions(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
) -> Result<usize, Error> {
    let deadline = std::time::Instant::now() + ADMIN_TIMEOUT;
    loop {
        let metadata = admin
            .inner()
            .fetch_metadata(Some(topic), ADMIN_TIMEOUT)
            .map_err(|source| Error::Kafka {
                op: "read topic metadata",
                source,
            })?;
        let entry = metadata.topics().iter().find(|t| t.name() == topic);
        let count = entry
            .filter(|t| t.error().is_none())
            .map(|t| t.partitions().len())
            .unwrap_or(0);
        if count > 0 {
            return Ok(count);
        }
        if std::time::Instant::now() >= deadline {
            let reason = entry
                .and_then(|t| t.error())
                .map(|code| RDKafkaErrorCode::from(code).to_string())
                .unwrap_or_else(|| "no partitions".to_owned());
            return Err(Error::KafkaTopic {
                topic: topic.to_owned(),
                message: format!("not available after creation: {reason}"),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Compares each topic's partition count with the configured one.
fn check_partitions(
    admin: &AdminClient<DefaultClientContext>,
    topics: &[String],
    partitions: i32,
) -> Result<(), Error> {
    for topic in topics {
        let found = available_partitions(admin, topic)?;
        if (found as i64) < i64::from(partitions) {
            return Err(Error::KafkaTopic {
                topic: topic.clone(),
                message: format!(
                    "has {found} partitions, fewer than the {partitions} configured; \
                     set `partitions = {found}` to use it as it is"
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_prefix_and_kind() {
        let topics = Topics::new("tickstream");
        let all: Vec<&str> = topics.all().collect();
        assert_eq!(
            all,
            [
                "tickstream.trades.v1",
                "tickstream.quotes.v1",
                "tickstream.book.v1",
                "tickstream.status.v1",
                "tickstream.bars.v1",
                "tickstream.indicators.v1",
                "tickstream.signals.v1",
                "tickstream.dlq.v1",
            ]
        );
        assert_eq!(topics.kind_of("tickstream.bars.v1"), Some(EventKind::Bar));
        assert_eq!(topics.kind_of("tickstream.dlq.v1"), None);
        assert_eq!(topics.topic(EventKind::Quote), "tickstream.quotes.v1");
    }
}
