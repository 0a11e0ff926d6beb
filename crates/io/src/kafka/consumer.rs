//! The `kafka` source: a consumer group member that hands out decoded events with their positions and
//! commits only the offsets its caller confirms as durably written downstream.
//!
//! Checkpoint barrier: the caller takes [`KafkaSource::position`] (everything handed out so far), makes
//! every sink flush what it was given, and then calls [`KafkaSource::commit`] with that position. At
//! least once: a crash between flush and commit replays from the last commit.
//!
//! Rebalances: each assignment of a partition gets a new epoch, and positions carry it.
//! - On revoke, the source commits the offsets its caller has confirmed through `commit` for the revoked
//!   partitions (if not committed yet) and forgets them. Events handed out but not yet confirmed are
//!   read again by the next owner: duplicates bounded by one checkpoint, never a loss. librdkafka then
//!   discards fetched messages of the revoked partitions. When a partition comes back to this member, it
//!   continues where this member left off: the offsets it had already handed out are skipped (their
//!   events are downstream already), and only count towards its position.
//! - `commit` ignores offsets of partitions that are no longer assigned, or that were assigned again
//!   since the position was taken (the epoch differs), so a late checkpoint never overwrites the progress
//!   of the partition's next owner.
//! - On assign, consumption resumes from the group's committed offsets (`offset_reset` where none).
//!
//! Checkpoints: a commit may name the checkpoint whose operator state goes with the offsets (commit
//! metadata `tickstream.checkpoint=<id>` on every partition). [`KafkaSource::wait_for_assignment`] reads
//! the committed offsets and the checkpoint they name at start, so the caller can restore that state
//! before any event is handed out; from then on every commit re-commits each assigned partition whose
//! named checkpoint changed, even when its offset did not move.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use tickstream_model::{Event, EventKind};

use super::assignment::{Assignment, Mark, OffsetMap};
use super::changelog::{ChangelogWriter, OnMismatch, changelog_topic};
use super::checkpoint::{CommittedOffset, checkpoint_metadata, parse_checkpoint_metadata};
use super::consumer_context::{SourceContext, lock};
use super::poison::{DeadLetter, DeadLetters, decode_event};
use super::restore::{RestoredPartition, StateKeeping};
use super::topics::partition_counts;
use super::{Cluster, KafkaSourceConfig, Topics, ensure_topics, log_sampled, run_blocking};
use crate::{Error, RecordPosition, TopicPartition};

/// How long a partition whose prefetch is full waits before it is fetched again, in milliseconds.
const FETCH_QUEUE_BACKOFF_MS: &str = "10";

/// An event with the position it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Consumed {
    pub event: Event,
    pub position: RecordPosition,
}

/// Reads events of the configured kinds in a consumer group. See the module documentation for the
/// commit and rebalance protocol.
pub struct KafkaSource {
    consumer: Arc<StreamConsumer<SourceContext>>,
    assignment: Arc<Mutex<Assignment>>,
    topics: Topics,
    cluster: Cluster,
    dead_letters: DeadLetters,
    /// Events read while waiting for the first assignment, handed out first.
    stashed: std::collections::VecDeque<Consumed>,
    poison_total: u64,
    errors_total: u64,
    /// At start, how long an empty assignment is waited out before this member leaves and rejoins.
    rejoin_after: Duration,
    group: String,
    replication: i32,
    idle_timeout: Duration,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource")
            .field("topics", &self.topics)
            .field("assignment", &self.assignment)
            .field("poison_total", &self.poison_total)
            .finish()
    }
}

/// The outcome of reading one message.
enum Read {
    Event(Consumed),
    Poison(DeadLetter),
    Skip,
}

impl KafkaSource {
    /// Connects (using the embedded cluster when no brokers are configured), creates missing topics
    /// and subscribes to the configured kinds' topics. Validates `config` first.
    pub async fn new(config: &KafkaSourceConfig) -> Result<KafkaSource, Error> {
        config.validate()?;
        let cluster = Cluster::connect(config.brokers.as_deref(), &config.properties)?;
        let topics = Topics::new(&config.topic_prefix);
        let mut names: Vec<&str> = config.kinds.iter().map(|k| topics.topic(*k)).collect();
        names.sort_unstable();
        names.dedup();
        let mut with_dlq = names.clone();
        with_dlq.push(topics.dlq());
        ensure_topics(
            &cluster,
            &with_dlq,
            config.partitions,
            config.replication,
            &[],
        )
        .await?;
        let fetch_wait = config.fetch_wait_on(cluster.embedded().is_some());
        let settings = [
            ("client.id", "tickstream-source".to_owned()),
            ("group.id", config.group_id.clone()),
            ("enable.auto.commit", "false".to_owned()),
            ("enable.auto.offset.store", "false".to_owned()),
            ("enable.partition.eof", "false".to_owned()),
            ("auto.offset.reset", config.offset_reset.as_str().to_owned()),
            (
                "session.timeout.ms",
                config.session_timeout.as_millis().to_string(),
            ),
            (
                "heartbeat.interval.ms",
                (config.session_timeout.as_millis() / 3).to_string(),
            ),
            (
                "statistics.interval.ms",
                config
                    .lag_interval
                    .min(Duration::from_secs(1))
                    .as_millis()
                    .to_string(),
            ),
            // Partitions that stay with their member through a rebalance keep being read (KIP-429).
            (
                "partition.assignment.strategy",
                "cooperative-sticky".to_owned(),
            ),
            ("fetch.wait.max.ms", fetch_wait.as_millis().to_string()),
            (
                "queued.max.messages.kbytes",
                config.prefetch_kbytes.to_string(),
            ),
            // A partition whose prefetched messages reach that limit is fetched again after this long
            // (librdkafka's default is 1 s, a stall of the whole flow whenever the pipeline briefly falls
            // behind its prefetch).
            ("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS.to_owned()),
            // The group leader assigns only partitions its metadata knows; a join that raced a topic's
            // metadata leaves the member with nothing until the next refresh shows the partitions and
            // triggers a rejoin. librdkafka's default refresh is 5 minutes; 10 s bounds that wait.
            ("topic.metadata.refresh.interval.ms", "10000".to_owned()),
        ];
        let assignment = Arc::new(Mutex::new(Assignment::default()));
        let context = SourceContext {
            assignment: assignment.clone(),
            client_errors: AtomicU64::new(0),
            keeping: std::sync::OnceLock::new(),
            stopping: Default::default(),
        };
        let consumer: StreamConsumer<SourceContext> =
            StreamConsumer::from_config_and_context(&cluster.client_config(&settings), context)
                .map_err(|source| Error::Kafka {
                    op: "create consumer",
                    source,
                })?;
        consumer.subscribe(&names).map_err(|source| Error::Kafka {
            op: "subscribe",
            source,
        })?;
        let dead_letters = DeadLetters::new(&cluster, topics.dlq())?;
        Ok(KafkaSource {
            consumer: Arc::new(consumer),
            assignment,
            topics,
            cluster,
            dead_letters,
            stashed: Default::default(),
            poison_total: 0,
            errors_total: 0,
            rejoin_after: config.session_timeout + Duration::from_secs(2),
            group: config.group_id.clone(),
            replication: config.replication,
            idle_timeout: config.idle_timeout,
        })
    }

    /// The next event. Poison messages are counted, logged, copied to the dead-letter topic and
    /// skipped; transient client errors (a broker away) are counted and logged while librdkafka
    /// reconnects. Fails only on a fatal client error. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Consumed, Error> {
        if let Some(consumed) = self.stashed.pop_front() {
            return Ok(consumed);
        }
        loop {
            self.dead_letters.send_pending().await;
            let consumer = self.consumer.clone();
            let read = match consumer.recv().await {
                Ok(message) => self.read(&message),
                Err(error) => {
                    self.client_error(error)?;
                    continue;
                }
            };
            match read {
                Read::Event(consumed) => return Ok(consumed),
                Read::Poison(letter) => self.dead_letters.hold(letter),
                Read::Skip => {}
            }
        }
    }

    /// The next event if one has been fetched already, without waiting for more (as [`KafkaSource::recv`]
    /// otherwise): lets a caller take what is waiting as one batch.
    pub fn try_recv(&mut self) -> Option<Result<Consumed, Error>> {
        let mut ready = std::task::Context::from_waker(std::task::Waker::noop());
        match std::pin::pin!(self.recv()).poll(&mut ready) {
            std::task::Poll::Ready(consumed) => Some(consumed),
            std::task::Poll::Pending => None,
        }
    }

    /// Keeps operator state in the group's changelog (see `changelog`): creates the changelog topics that
    /// are missing (compacted, as many partitions as their input topics), restores each partition's state
    /// when it is assigned, and returns the writer for the checkpoints. Call before the first
    /// [`KafkaSource::wait_for_assignment`] or [`KafkaSource::recv`].
    pub async fn keep_state(&mut self, on_mismatch: OnMismatch) -> Result<ChangelogWriter, Error> {
        let inputs = self.subscribed_topics()?;
        let names: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let counts = partition_counts(&self.cluster, &names).await?;
        for (input, partitions) in inputs.iter().zip(counts) {
            let changelog = changelog_topic(input, &self.group);
            ensure_topics(
                &self.cluster,
                &[changelog.as_str()],
                Some(partitions),
                self.replication,
                &[("cleanup.policy", "compact")],
            )
            .await?;
        }
        let keeping = StateKeeping {
            cluster: self.cluster.clone(),
            group: self.group.clone(),
            on_mismatch,
        };
        let _ = self.consumer.context().keeping.set(keeping);
        ChangelogWriter::new(&self.cluster, &self.group, self.assignment.clone())
    }

    /// With operator state kept: the partitions restored on assignment since the last call, in order,
    /// each to be passed downstream before any of its events. Fails when a restore failed.
    pub fn take_restored(&mut self) -> Result<Vec<RestoredPartition>, Error> {
        let mut assignment = lock(&self.assignment);
        if let Some(error) = assignment.restore_failure.take() {
            return Err(error);
        }
        Ok(std::mem::take(&mut assignment.restored))
    }

    /// With operator state kept: the partitions revoked since the last call, with the generation that
    /// revoked them.
    pub fn take_revoked(&mut self) -> Vec<(TopicPartition, u64)> {
        std::mem::take(&mut lock(&self.assignment).revoked)
    }

    /// The assigned partitions that are idle now: caught up with their end, and no message for
    /// `idle_timeout`.
    pub fn idle_partitions(&self) -> Vec<TopicPartition> {
        lock(&self.assignment).idle(tokio::time::Instant::now(), self.idle_timeout)
    }

    /// The source reads no more: partitions assigned from now on are not restored (nothing of them will
    /// be processed here).
    pub fn stop_reading(&self) {
        self.consumer
            .context()
            .stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The source's `idle_timeout`.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// The topics subscribed to, sorted, each once.
    fn subscribed_topics(&self) -> Result<Vec<String>, Error> {
        let subscription = self
            .consumer
            .subscription()
            .map_err(|source| Error::Kafka {
                op: "read the subscription",
                source,
            })?;
        let mut names: Vec<String> = subscription
            .elements()
            .iter()
            .map(|e| e.topic().to_owned())
            .collect();
        names.sort_unstable();
        names.dedup();
        Ok(names)
    }

    /// Leaves the group and joins it again with the same subscription.
    fn rejoin(&self) -> Result<(), Error> {
        let names = self.subscribed_topics()?;
        tracing::warn!(
            after = ?self.rejoin_after,
            "kafka group gave this member no partitions; leaving and joining again"
        );
        self.consumer.unsubscribe();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        self.consumer
            .subscribe(&names)
            .map_err(|source| Error::Kafka {
                op: "subscribe",
                source,
            })
    }

    /// Joins the group and waits (up to `timeout`) for the first assignment, then reads the group's
    /// committed offsets on the assigned partitions and the checkpoint each commit named. Consumption
    /// continues from those offsets, and later commits name their own checkpoint on every assigned
    /// partition. Events that arrive meanwhile are kept for [`KafkaSource::recv`].
    pub async fn wait_for_assignment(
        &mut self,
        timeout: Duration,
    ) -> Result<Vec<CommittedOffset>, Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        // An empty first assignment may only mean the leader did not know the topics yet; wait for
        // partitions until the deadline, and start with none only if the group still gives none then
        // (more members than partitions).
        // A member left without partitions longer than a session (a member the coordinator still counts
        // but that is gone, as seen with some brokers, is expired by then) leaves and rejoins the group.
        let mut empty_since = None;
        loop {
            {
                let assignment = lock(&self.assignment);
                if assignment.assigned && !assignment.partitions.is_empty() {
                    break;
                }
                if assignment.assigned {
                    empty_since.get_or_insert_with(tokio::time::Instant::now);
                }
            }
            if empty_since.is_some_and(|since| since.elapsed() > self.rejoin_after) {
                self.rejoin()?;
                empty_since = None;
            }
            let consumer = self.consumer.clone();
            tokio::select! {
                received = consumer.recv() => match received {
                    Ok(message) => match self.read(&message) {
                        Read::Event(consumed) => self.stashed.push_back(consumed),
                        Read::Poison(letter) => self.dead_letters.hold(letter),
                        Read::Skip => {}
                    },
                    Err(error) => self.client_error(error)?,
                },
                _ = tokio::time::sleep_until(deadline) => {
                    if lock(&self.assignment).assigned {
                        break;
                    }
                    return Err(Error::Kafka { op: "wait for a partition assignment", source: KafkaError::Canceled });
                }
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
        let mut list = TopicPartitionList::new();
        for (topic, partitions) in &lock(&self.assignment).partitions {
            for partition in partitions.keys() {
                list.add_partition(topic, *partition);
            }
        }
        let consumer = self.consumer.clone();
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let committed = run_blocking("read committed offsets", move || {
            consumer
                .committed_offsets(list, left.max(Duration::from_secs(5)))
                .map_err(|source| Error::Kafka {
                    op: "read committed offsets",
                    source,
                })
        })
        .await?;
        let mut assignment = lock(&self.assignment);
        assignment.started = true;
        let mut found = Vec::new();
        for element in committed.elements() {
            let next_offset = match element.offset() {
                Offset::Offset(offset) => Some(offset),
                _ => None,
            };
            let checkpoint = parse_checkpoint_metadata(element.metadata());
            if let Some(state) = assignment.get_mut(element.topic(), element.partition())
                && let Some(offset) = next_offset
            {
                state.handed_out.get_or_insert(offset);
                (state.committed, state.committed_checkpoint) = (Some(offset), checkpoint);
                (state.confirmed, state.confirmed_checkpoint) = (Some(offset), checkpoint);
            }
            found.push(CommittedOffset {
                topic: Arc::from(element.topic()),
                partition: element.partition(),
                next_offset,
                checkpoint,
            });
        }
        Ok(found)
    }

    fn read(&mut self, message: &BorrowedMessage<'_>) -> Read {
        let (topic, partition, offset) = (message.topic(), message.partition(), message.offset());
        let mut assignment = lock(&self.assignment);
        let Some(state) = assignment.get_mut(topic, partition) else {
            // A message of a partition revoked meanwhile: its next owner reads it.
            return Read::Skip;
        };
        state.handed_out = Some(offset + 1);
        state.last_activity = tokio::time::Instant::now();
        if state.seen_below.is_some_and(|seen| offset < seen) {
            // Handed out before this member lost the partition and got it back.
            return Read::Skip;
        }
        drop(assignment);
        let Some(kind) = self.topics.kind_of(topic) else {
            return Read::Skip;
        };
        match decode_event(kind, message) {
            Ok(event) => Read::Event(Consumed {
                event,
                position: RecordPosition {
                    topic: self.topic_name(kind),
                    partition,
                    offset,
                },
            }),
            Err(error) => {
                self.poison_total += 1;
                Read::Poison(DeadLetter::new(message, &error, self.poison_total))
            }
        }
    }

    fn topic_name(&self, kind: EventKind) -> Arc<str> {
        let topic = self.topics.topic(kind);
        lock(&self.assignment)
            .partitions
            .get_key_value(topic)
            .map(|(name, _)| name.clone())
            .unwrap_or_else(|| Arc::from(topic))
    }

    fn client_error(&mut self, error: KafkaError) -> Result<(), Error> {
        if let Some((code, reason)) = self.consumer.client().fatal_error() {
            tracing::error!(%code, reason, "kafka consumer failed fatally");
            return Err(Error::Kafka {
                op: "consume",
                source: error,
            });
        }
        self.errors_total += 1;
        metrics::counter!("tickstream_kafka_consume_errors_total").increment(1);
        if log_sampled(self.errors_total) {
            tracing::warn!(%error, errors = self.errors_total, "kafka consume error; retrying");
        }
        Ok(())
    }

    /// Everything handed out so far: one past the last offset per assigned partition.
    pub fn position(&self) -> OffsetMap {
        let assignment = lock(&self.assignment);
        let mut map = OffsetMap::default();
        for (topic, partitions) in &assignment.partitions {
            let marks: BTreeMap<i32, Mark> = partitions
                .iter()
                .filter_map(|(partition, state)| {
                    state.handed_out.map(|next_offset| {
                        let mark = Mark {
                            next_offset,
                            epoch: state.epoch,
                        };
                        (*partition, mark)
                    })
                })
                .collect();
            if !marks.is_empty() {
                map.partitions.insert(topic.clone(), marks);
            }
        }
        map
    }

    /// Commits `offsets`, which the caller confirms are durably written by every sink downstream
    /// (take them with [`KafkaSource::position`] before flushing the sinks), naming `checkpoint` in the
    /// commit metadata when given. Dead-letter copies are flushed first. Offsets of partitions no longer
    /// assigned under the same epoch are ignored. On an error nothing is lost: the confirmed offsets are
    /// committed again on the next commit or on revoke.
    pub async fn commit(
        &mut self,
        offsets: &OffsetMap,
        checkpoint: Option<u64>,
    ) -> Result<(), Error> {
        self.dead_letters.flush().await?;
        let mut list = TopicPartitionList::new();
        let mut marked = Vec::new();
        {
            let mut assignment = lock(&self.assignment);
            for (topic, partitions) in &offsets.partitions {
                for (partition, mark) in partitions {
                    let Some(state) = assignment.get_mut(topic, *partition) else {
                        continue;
                    };
                    if state.epoch != mark.epoch {
                        continue;
                    }
                    if state.confirmed <= Some(mark.next_offset) {
                        state.confirmed = Some(mark.next_offset);
                        state.confirmed_checkpoint = checkpoint;
                    }
                    if state.committed < Some(mark.next_offset)
                        || (state.committed == Some(mark.next_offset)
                            && state.committed_checkpoint != checkpoint)
                    {
                        let mut entry = list.add_partition(topic, *partition);
                        entry
                            .set_offset(Offset::Offset(mark.next_offset))
                            .map_err(|source| Error::Kafka {
                                op: "commit",
                                source,
                            })?;
                        if let Some(id) = checkpoint {
                            entry.set_metadata(checkpoint_metadata(id));
                        }
                        marked.push((topic.clone(), *partition, *mark));
                    }
                }
            }
        }
        if marked.is_empty() {
            return Ok(());
        }
        let consumer = self.consumer.clone();
        run_blocking("commit", move || {
            consumer
                .commit(&list, CommitMode::Sync)
                .map_err(|source| Error::Kafka {
                    op: "commit",
                    source,
                })
        })
        .await?;
        let mut assignment = lock(&self.assignment);
        for (topic, partition, mark) in marked {
            if let Some(state) = assignment.get_mut(&topic, partition)
                && state.epoch == mark.epoch
                && state.committed <= Some(mark.next_offset)
            {
                (state.committed, state.committed_checkpoint) =
                    (Some(mark.next_offset), checkpoint);
            }
        }
        metrics::counter!("tickstream_kafka_commits_total").increment(1);
        Ok(())
    }

    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// The brokers this source reads from.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }
}

#[cfg(test)]
#[path = "consumer_tests.rs"]
mod tests;
