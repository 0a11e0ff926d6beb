//! The embedded Kafka cluster: librdkafka's in-process mock broker, started once per process when no
//! `brokers` are configured, so that producers and consumers run the same rdkafka code path as
//! against a real cluster.
//!
//! It is for trying tickstream and for tests: data lives in memory only, is gone when the process
//! exits, and each partition keeps only its most recent few MB (about 5 MB or 100,000 batches; older
//! data is dropped silently). The admin API's CreateTopics is not implemented by the mock broker, so
//! topics are created through [`EmbeddedKafka::create_topic`].

use std::sync::Mutex;

use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, Producer};

use crate::Error;

/// The process's one embedded cluster (one broker on a loopback port).
pub struct EmbeddedKafka {
    /// The client that owns the mock cluster: the cluster lives as long as this client.
    owner: BaseProducer,
    bootstrap: String,
}

impl std::fmt::Debug for EmbeddedKafka {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedKafka")
            .field("bootstrap", &self.bootstrap)
            .finish()
    }
}

static EMBEDDED: Mutex<Option<&'static EmbeddedKafka>> = Mutex::new(None);

impl EmbeddedKafka {
    /// Starts the cluster on first use and returns it; later calls return the same cluster. It lives
    /// until the process exits.
    pub fn start() -> Result<&'static EmbeddedKafka, Error> {
        let mut slot = EMBEDDED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(cluster) = *slot {
            return Ok(cluster);
        }
        let owner: BaseProducer = ClientConfig::new()
            .set("test.mock.num.brokers", "1")
            .set("client.id", "tickstream-embedded")
            .create()
            .map_err(|source| Error::Kafka {
                op: "start embedded cluster",
                source,
            })?;
        let bootstrap = owner
            .client()
            .mock_cluster()
            .map(|mock| mock.bootstrap_servers())
            .ok_or(Error::Kafka {
                op: "start embedded cluster",
                source: KafkaError::MockCluster(RDKafkaErrorCode::Fail),
            })?;
        disable_initial_rebalance_delay(&owner);
        let cluster: &'static EmbeddedKafka =
            Box::leak(Box::new(EmbeddedKafka { owner, bootstrap }));
        *slot = Some(cluster);
        tracing::info!(
            bootstrap = %cluster.bootstrap,
            "started the embedded in-process Kafka cluster (in memory; each partition keeps only its latest few MB)"
        );
        Ok(cluster)
    }

    /// The `bootstrap.servers` string of the cluster's broker.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// Creates a topic with one replica; `Ok(false)` when it already exists.
    pub fn create_topic(&self, topic: &str, partitions: i32) -> Result<bool, Error> {
        let mock = self.owner.client().mock_cluster().ok_or(Error::Kafka {
            op: "create topic",
            source: KafkaError::MockCluster(RDKafkaErrorCode::Fail),
        })?;
        match mock.create_topic(topic, partitions, 1) {
            Ok(()) => Ok(true),
            Err(KafkaError::MockCluster(RDKafkaErrorCode::TopicAlreadyExists)) => Ok(false),
            Err(source) => Err(Error::Kafka {
                op: "create topic",
                source,
            }),
        }
    }
}

/// A consumer group's first join normally waits 3 s for more members; the embedded cluster serves
/// one process, so it starts at once.
#[allow(unsafe_code)]
fn disable_initial_rebalance_delay(owner: &BaseProducer) {
    // SAFETY: `owner.client().native_ptr()` is a live rd_kafka_t for the duration of this call, and it
    // was created with `test.mock.num.brokers`, so `rd_kafka_handle_mock_cluster` returns the mock
    // cluster it owns (or null, which is checked). The cluster outlives the call because `owner`
    // does; the setter only posts an operation to the cluster's own thread.
    unsafe {
        let mock = rdkafka_sys::rd_kafka_handle_mock_cluster(owner.client().native_ptr());
        if !mock.is_null() {
            rdkafka_sys::rd_kafka_mock_group_initial_rebalance_delay_ms(mock, 0);
        }
    }
}
