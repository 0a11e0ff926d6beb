//! `ParquetSink`: buffers events per lake partition, writes sorted row groups into a temporary file per
//! partition, commits files atomically on `flush` (as segments) and merges a partition's segments into one
//! file when it reaches its size or age limit or the sink closes, and skips records whose source offsets
//! the lake already holds.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tickstream_model::{Event, EventKind};

use super::arrow_schema::lake_table;
use super::compact::merge_files;
use super::config::{COMMIT_SPACING, EARLY_GROUP_ROWS, ParquetSinkConfig};
use super::offsets::RangeSet;
use super::open_file::{OpenFile, OpenPartition, next_group};
use super::partition::PartitionKey;
use super::pending::PendingRows;
use super::stats::SinkStats;
use super::store::LakeRoot;
use crate::{Error, PartitionPosition, RecordPosition, TopicPartition};

/// Time a call spends merging the segments of partitions that reached their age limit.
const ROLL_BUDGET: Duration = Duration::from_millis(200);

/// Writes events into the lake. See the module docs of `lake` for the guarantees.
#[derive(Debug)]
pub struct ParquetSink {
    config: ParquetSinkConfig,
    root: LakeRoot,
    kinds: Vec<EventKind>,
    partitions: HashMap<PartitionKey, OpenPartition>,
    /// Per lake partition and source: the highest offset accepted (committed or not). Loaded from the files'
    /// metadata the first time a partition is touched.
    accepted: HashMap<PartitionKey, HashMap<TopicPartition, i64>>,
    /// Highest offset seen per source, whatever became of the record.
    seen: HashMap<TopicPartition, i64>,
    buffered_rows: usize,
    /// Partitions the flush under way has yet to commit, the next group last.
    flushing: Vec<PartitionKey>,
    /// Partitions to commit early (`commit_early`), the next group last, and when the next group may go.
    early: Vec<PartitionKey>,
    next_early: Instant,
    /// Counts row groups written, to find the least recently written open file.
    row_groups_written: u64,
    last_age_check: Instant,
    stats: SinkStats,
    failed: bool,
}

impl ParquetSink {
    /// Validates the configuration, connects to the root (creating a local one), and removes what a crash
    /// left in the datasets this sink writes: temporary files, and compactions interrupted between their
    /// steps (local roots), or staged files (object store roots).
    pub fn open(config: ParquetSinkConfig) -> Result<ParquetSink, Error> {
        config.validate()?;
        let root = LakeRoot::parse(
            &config.root,
            &config.storage_options.0,
            &config.staging_dir(),
            config.upload_part_bytes,
        )?;
        let (temps, compactions) = root.clean_after_crash(&config.datasets)?;
        let stats = SinkStats {
            temp_files_removed: temps as u64,
            compactions_resolved: compactions as u64,
            ..SinkStats::default()
        };
        metrics::counter!("tickstream_lake_temp_files_removed_total")
            .increment(stats.temp_files_removed);
        Ok(ParquetSink {
            kinds: config.kinds(),
            config,
            root,
            partitions: HashMap::new(),
            accepted: HashMap::new(),
            seen: HashMap::new(),
            buffered_rows: 0,
            flushing: Vec::new(),
            early: Vec::new(),
            next_early: Instant::now(),
            row_groups_written: 0,
            last_age_check: Instant::now(),
            stats,
            failed: false,
        })
    }

    pub fn config(&self) -> &ParquetSinkConfig {
        &self.config
    }

    pub fn stats(&self) -> SinkStats {
        self.stats
    }

    /// Writes events that carry no source offsets (replay of files, in-process pipelines).
    pub fn write(&mut self, events: &[Event]) -> Result<(), Error> {
        self.guarded(|sink| {
            for event in events {
                sink.accept(event, None)?;
            }
            sink.after_write()
        })
    }

    /// Writes events read from Kafka; `positions[i]` is where `events[i]` was read. Records at or below the
    /// offset the lake already holds for their partition and topic partition are skipped.
    pub fn write_batch(
        &mut self,
        events: &[Event],
        positions: &[RecordPosition],
    ) -> Result<(), Error> {
        if events.len() != positions.len() {
            return Err(Error::Lake {
                path: self.root.display(),
                message: format!(
                    "{} events but {} source offsets",
                    events.len(),
                    positions.len()
                ),
            });
        }
        self.guarded(|sink| {
            for (event, position) in events.iter().zip(positions) {
                sink.accept(event, Some(position))?;
            }
            sink.after_write()
        })
    }

    /// Commits every open file (on a local root, as a segment of its partition's current file), in groups
    /// made durable together (`write_and_commit`): everything written so far is durable and visible when
    /// this returns, and `committable_offsets` covers every record seen.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.begin_flush();
        while !self.flush_step()? {}
        Ok(())
    }

    /// Starts a flush of every partition holding rows now, which `flush_step` carries out one group of
    /// `max_open_files` partitions at a time, so that the caller can go on writing between the steps
    /// instead of leaving its input waiting for the whole flush. Rows written meanwhile go to their
    /// partition's next file, or into this flush when their partition's turn has not come yet. A flush
    /// begun while another is under way takes over the partitions the first had left.
    pub fn begin_flush(&mut self) {
        self.flushing = self.partitions.keys().cloned().collect();
    }

    /// One step of the flush begun by `begin_flush`: commits the next group's files together. Returns
    /// true when the flush is complete: then everything written before `begin_flush` is durable and
    /// visible, as after `flush`.
    pub fn flush_step(&mut self) -> Result<bool, Error> {
        self.guarded(|sink| {
            let max_files = sink.config.max_open_files;
            let group = next_group(&mut sink.flushing, &sink.partitions, max_files, usize::MAX);
            sink.commit_group(&group)
        })?;
        Ok(self.flushing.is_empty())
    }

    /// Rolls the partitions whose first row since their last roll arrived `max_file_age` ago or more:
    /// commits their open file and merges their segments into one file, oldest first, for up to
    /// `ROLL_BUDGET` of merging a call (the others roll on the next calls). Call it on a timer so that quiet
    /// partitions roll too; `write` also does it at most once a second.
    pub fn roll_expired(&mut self) -> Result<(), Error> {
        self.guarded(|sink| sink.roll_older_than(sink.config.max_file_age))
    }

    /// Rolls every partition, as at the end of a run: after this, each partition written since the last
    /// roll holds one file for it. Call it instead of `flush` when no more events will come.
    pub fn close(&mut self) -> Result<(), Error> {
        self.guarded(|sink| sink.roll_older_than(Duration::ZERO))
    }

    /// Per topic partition read, the Kafka offset to commit (the next one to read), sorted: every record
    /// below it is in a committed file or was never meant for the lake (other datasets, duplicates). Always
    /// safe to commit; it advances when files are committed (`flush`, `roll_expired`, or a roll inside a
    /// write).
    pub fn committable_offsets(&self) -> Vec<PartitionPosition> {
        let mut out: Vec<PartitionPosition> = self
            .seen
            .iter()
            .map(|(source, seen)| {
                let open = self
                    .partitions
                    .values()
                    .flat_map(|p| {
                        [
                            p.pending_offsets.first(source),
                            p.file_offsets.first(source),
                        ]
                    })
                    .flatten()
                    .min();
                PartitionPosition {
                    topic: source.topic.clone(),
                    partition: source.partition,
                    next_offset: open.unwrap_or(seen + 1),
                }
            })
            .collect();
        out.sort();
        out
    }

    /// Rows buffered in memory, not yet in a file.
    pub fn buffered_rows(&self) -> usize {
        self.buffered_rows
    }

    /// More rows buffered than `max_buffered_rows`: a flush under way should go on without pauses.
    pub fn over_row_limit(&self) -> bool {
        self.buffered_rows > self.config.max_buffered_rows
    }

    fn guarded(
        &mut self,
        f: impl FnOnce(&mut ParquetSink) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if self.failed {
            return Err(Error::Lake {
                path: self.root.display(),
                message:
                    "an earlier write failed; open a new sink (unflushed records are read again)"
                        .into(),
            });
        }
        let result = f(self);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn accept(&mut self, event: &Event, position: Option<&RecordPosition>) -> Result<(), Error> {
        let source = position.map(|p| (p.topic_partition(), p.offset));
        if let Some((partition, offset)) = &source {
            let seen = self.seen.entry(partition.clone()).or_insert(*offset);
            *seen = (*seen).max(*offset);
        }
        if !self.kinds.contains(&event.kind()) {
            self.stats.passed_over += 1;
            return Ok(());
        }
        let key = PartitionKey::of(event);
        if let Some((partition, offset)) = &source {
            let accepted = self.accepted_offsets(&key)?;
            match accepted.get_mut(partition) {
                Some(high) if *offset <= *high => {
                    self.stats.duplicates_skipped += 1;
                    metrics::counter!("tickstream_lake_duplicates_skipped_total", "dataset" => key.dataset())
                        .increment(1);
                    return Ok(());
                }
                Some(high) => *high = *offset,
                None => {
                    accepted.insert(partition.clone(), *offset);
                }
            }
        }
        let open = self
            .partitions
            .entry(key.clone())
            .or_insert_with(|| OpenPartition {
                dir: key.relative_dir(),
                pending: PendingRows::new(key.kind),
                pending_offsets: RangeSet::default(),
                file: None,
                file_offsets: RangeSet::default(),
                segments: Vec::new(),
                segment_bytes: 0,
                opened_at: Instant::now(),
            });
        open.pending.push(event)?;
        if let Some((partition, offset)) = &source {
            open.pending_offsets.add(partition, *offset, *offset);
        }
        self.buffered_rows += 1;
        self.stats.rows_accepted += 1;
        if open.pending.len() >= self.config.row_group_rows {
            self.write_row_group(&key)?;
        }
        Ok(())
    }

    /// The accepted offsets of a partition, read from its files' metadata the first time.
    fn accepted_offsets(
        &mut self,
        key: &PartitionKey,
    ) -> Result<&mut HashMap<TopicPartition, i64>, Error> {
        if !self.accepted.contains_key(key) {
            let mut high: HashMap<TopicPartition, i64> = HashMap::new();
            for r in self.root.offset_ranges(&key.relative_dir())? {
                let entry = high.entry(TopicPartition {
                    topic: Arc::from(r.topic),
                    partition: r.partition,
                });
                let value = entry.or_insert(r.last);
                *value = (*value).max(r.last);
            }
            self.accepted.insert(key.clone(), high);
        }
        Ok(self.accepted.entry(key.clone()).or_default())
    }

    fn after_write(&mut self) -> Result<(), Error> {
        self.commit_early()?;
        let mut open_files: Vec<(u64, PartitionKey)> = self
            .partitions
            .iter()
            .filter_map(|(k, p)| p.file.as_ref().map(|f| (f.last_write, k.clone())))
            .collect();
        if open_files.len() > self.config.max_open_files {
            open_files.sort();
            let excess = open_files.len() - self.config.max_open_files;
            for (_, key) in open_files.into_iter().take(excess) {
                self.commit_partition(&key)?;
            }
        }
        if self.last_age_check.elapsed() >= Duration::from_secs(1) {
            self.last_age_check = Instant::now();
            self.roll_older_than(self.config.max_file_age)?;
        }
        Ok(())
    }

    /// Rolls the partitions opened `age` ago or more, oldest first. Unless `age` is zero (the end of a
    /// run), the merges of one call stop after `ROLL_BUDGET`: partitions opened together (at the start of a
    /// run) would otherwise all merge in one call and hold the sink for minutes; the rest roll on the next
    /// calls, which spreads the rolls out from then on.
    fn roll_older_than(&mut self, age: Duration) -> Result<(), Error> {
        let started = Instant::now();
        let mut expired: Vec<(Instant, PartitionKey)> = self
            .partitions
            .iter()
            .filter(|(_, p)| p.opened_at.elapsed() >= age)
            .map(|(k, p)| (p.opened_at, k.clone()))
            .collect();
        expired.sort();
        let expired: Vec<PartitionKey> = expired.into_iter().map(|(_, k)| k).collect();
        self.write_and_commit(&expired)?;
        for key in &expired {
            if !age.is_zero() && started.elapsed() >= ROLL_BUDGET {
                break;
            }
            self.roll_partition(key)?;
            self.forget_if_idle(key);
        }
        Ok(())
    }

    /// Writes and commits the partitions of `group` together; forgets those left idle.
    fn commit_group(&mut self, group: &[PartitionKey]) -> Result<(), Error> {
        self.write_and_commit(group)?;
        for key in group {
            self.forget_if_idle(key);
        }
        Ok(())
    }

    /// Past `max_buffered_rows` (outside a flush, which commits everything), commits the largest partitions
    /// early, down to half the limit: a group (`next_group`, `EARLY_GROUP_ROWS`) a call, spaced by
    /// `COMMIT_SPACING` (every call past twice the limit), so that the caller takes rows in between.
    fn commit_early(&mut self) -> Result<(), Error> {
        if !self.flushing.is_empty() {
            self.early.clear();
            return Ok(());
        }
        let limit = self.config.max_buffered_rows;
        if self.early.is_empty() && self.buffered_rows > limit {
            let mut sizes: Vec<(usize, PartitionKey)> = self
                .partitions
                .iter()
                .map(|(k, p)| (p.pending.len(), k.clone()))
                .collect();
            sizes.sort_by_key(|s| std::cmp::Reverse(s.0));
            let excess = self.buffered_rows - limit / 2;
            let mut covered = 0;
            for (rows, key) in sizes {
                if covered >= excess {
                    break;
                }
                covered += rows;
                self.early.push(key);
            }
            // The next group is taken from the end.
            self.early.reverse();
        }
        let due = Instant::now() >= self.next_early || self.buffered_rows > limit.saturating_mul(2);
        if self.early.is_empty() || !due {
            return Ok(());
        }
        let started = Instant::now();
        let max_files = self.config.max_open_files;
        let group = next_group(
            &mut self.early,
            &self.partitions,
            max_files,
            EARLY_GROUP_ROWS,
        );
        self.commit_group(&group)?;
        self.next_early = Instant::now() + started.elapsed() * COMMIT_SPACING;
        Ok(())
    }

    /// Writes the pending rows of `keys` and commits their files, `max_open_files` partitions at a time
    /// (so at most twice that many files are open), each group's files made durable together.
    fn write_and_commit(&mut self, keys: &[PartitionKey]) -> Result<(), Error> {
        for group in keys.chunks(self.config.max_open_files.max(1)) {
            for key in group {
                self.write_row_group(key)?;
            }
            self.commit_open_files(group)?;
        }
        Ok(())
    }

    /// Writes a partition's pending rows, sorted by event time, as one row group of its open file. Rows
    /// earlier than the file's last row start a new file, so that every file stays sorted. Rolls the file
    /// when it and the partition's segments reached `max_file_bytes`.
    fn write_row_group(&mut self, key: &PartitionKey) -> Result<(), Error> {
        let Some(open) = self.partitions.get_mut(key) else {
            return Ok(());
        };
        let Some(rows) = open.pending.take_sorted()? else {
            return Ok(());
        };
        if open
            .file
            .as_ref()
            .is_some_and(|f| rows.first_ts < f.last_ts)
        {
            self.commit_open_file(key)?;
        }
        let config = &self.config;
        let root = &self.root;
        let Some(open) = self.partitions.get_mut(key) else {
            return Ok(());
        };
        let written = rows.batch.num_rows();
        if open.file.is_none() {
            open.file = Some(OpenFile::create(
                root,
                config,
                &open.dir,
                key.kind,
                rows.first_ts,
            )?);
        }
        let Some(file) = open.file.as_mut() else {
            return Ok(());
        };
        file.write_row_group(&rows.batch)?;
        file.last_ts = rows.last_ts;
        self.row_groups_written += 1;
        metrics::counter!("tickstream_lake_rows_written_total", "dataset" => key.dataset())
            .increment(written as u64);
        file.last_write = self.row_groups_written;
        let full = file.writer.bytes_written() as u64 + open.segment_bytes >= config.max_file_bytes;
        self.buffered_rows -= written;
        for (source, first, last) in open.pending_offsets.iter() {
            open.file_offsets.add(source, first, last);
        }
        open.pending_offsets.clear();
        if full {
            self.roll_partition(key)?;
        }
        Ok(())
    }

    /// Writes the pending rows and commits the partition's file; forgets the partition when nothing is left.
    fn commit_partition(&mut self, key: &PartitionKey) -> Result<(), Error> {
        self.write_row_group(key)?;
        self.commit_open_file(key)?;
        self.forget_if_idle(key);
        Ok(())
    }

    /// Forgets a partition with no rows in memory, no open file and no segments waiting for a roll.
    fn forget_if_idle(&mut self, key: &PartitionKey) {
        if self
            .partitions
            .get(key)
            .is_some_and(|p| p.pending.is_empty() && p.file.is_none() && p.segments.is_empty())
        {
            self.partitions.remove(key);
        }
    }

    /// The roll of a partition's file: commits the open file, then merges the segments committed since the
    /// last roll into one zstd file with `compact`'s crash-safe steps (a crash in between is finished or
    /// undone when a sink next opens the dataset); a single segment is rewritten the same way. Rows still
    /// pending stay for the next file.
    fn roll_partition(&mut self, key: &PartitionKey) -> Result<(), Error> {
        self.commit_open_file(key)?;
        let Some(open) = self.partitions.get_mut(key) else {
            return Ok(());
        };
        let segments = std::mem::take(&mut open.segments);
        open.segment_bytes = 0;
        open.opened_at = Instant::now();
        if let (LakeRoot::Local(root), false) = (&self.root, segments.is_empty()) {
            let dir = root.join(&open.dir);
            let paths: Vec<PathBuf> = segments.iter().map(|name| dir.join(name)).collect();
            merge_files(
                lake_table(key.kind),
                &dir,
                &paths,
                self.config.zstd_level,
                self.config.row_group_rows,
            )?;
            self.stats.segments_merged += 1;
            // Files in the lake: committed minus replaced.
            metrics::counter!("tickstream_lake_files_committed_total", "dataset" => key.dataset())
                .increment(1);
            metrics::counter!("tickstream_lake_files_replaced_total", "dataset" => key.dataset())
                .increment(segments.len() as u64);
        }
        Ok(())
    }

    /// Finishes the partition's open file with its offset ranges in the metadata and commits it to the root
    /// (fsync and rename, or an upload to its final key).
    fn commit_open_file(&mut self, key: &PartitionKey) -> Result<(), Error> {
        self.commit_open_files(std::slice::from_ref(key))
    }

    /// `commit_open_file` for several partitions, with their files made durable together
    /// (`LakeRoot::commit_all`).
    fn commit_open_files(&mut self, keys: &[PartitionKey]) -> Result<(), Error> {
        let mut finished: Vec<(PartitionKey, OpenFile, u64)> = Vec::new();
        for key in keys {
            let Some(open) = self.partitions.get_mut(key) else {
                continue;
            };
            let Some(mut file) = open.file.take() else {
                continue;
            };
            let bytes = file.finish(&open.file_offsets)?;
            finished.push((key.clone(), file, bytes));
        }
        if finished.is_empty() {
            return Ok(());
        }
        let dirs: Vec<PathBuf> = finished
            .iter()
            .map(|(key, _, _)| self.partitions[key].dir.clone())
            .collect();
        let mut commits: Vec<(&mut File, &std::path::Path, &std::path::Path, &str)> = finished
            .iter_mut()
            .zip(&dirs)
            .map(|((_, file, _), dir)| {
                (
                    file.writer.inner_mut(),
                    file.temp.as_path(),
                    dir.as_path(),
                    file.name.as_str(),
                )
            })
            .collect();
        self.root.commit_all(&mut commits)?;
        drop(commits);
        let local = matches!(self.root, LakeRoot::Local(_));
        for (key, file, bytes) in finished {
            let Some(open) = self.partitions.get_mut(&key) else {
                continue;
            };
            tracing::debug!(dir = %open.dir.display(), name = %file.name, "committed lake file");
            open.file_offsets.clear();
            if local {
                open.segments.push(file.name);
                open.segment_bytes += bytes;
            }
            self.stats.files_committed += 1;
            metrics::counter!("tickstream_lake_files_committed_total", "dataset" => key.dataset())
                .increment(1);
            metrics::counter!("tickstream_lake_bytes_written_total", "dataset" => key.dataset())
                .increment(bytes);
        }
        Ok(())
    }
}
