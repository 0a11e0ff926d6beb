//! Operator state checkpoints on disk: the pipeline's `[state]` section, one JSON file per checkpoint
//! (the state of every stateful operator and the Kafka offsets it goes with), written atomically, the
//! last two kept, and the choice at start of the checkpoint that matches the group's committed offsets.
//!
//! Order at each checkpoint: the sinks flush, then the state file is written (temporary file, fsync,
//! rename, fsync of the directory), then the Kafka offsets are committed naming the file's id in the
//! commit metadata. A crash before the rename leaves the previous file and the previous commit; a
//! crash between the rename and the commit leaves the new file beside the previous one, which is the
//! one the committed offsets still match. Files are never removed while the committed offsets may
//! still name them.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use tickstream_io::PartitionPosition;
use tickstream_io::kafka::CommittedOffset;
use tickstream_operators::StateJson;

use crate::Error;

/// What the file's `format` field says.
const FORMAT: &str = "tickstream.checkpoint.v1";
const PREFIX: &str = "checkpoint-";
const SUFFIX: &str = ".json";

/// What to do at start when the group has committed offsets but no kept checkpoint matches them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnMismatch {
    /// Refuse to start, saying which offsets and files disagree (the default: the output would differ
    /// from an uninterrupted run's).
    #[default]
    Fail,
    /// Log a warning and start the operators empty from the committed offsets: bars continue, and
    /// indicators and signals warm up again over their lookback.
    StartEmpty,
}

/// The pipeline's `[state]` section.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateSection {
    /// Where checkpoint files go; default `state/<group_id>` (the Kafka sources' consumer groups joined
    /// by `+`), relative to the working directory.
    pub dir: Option<PathBuf>,
    pub on_mismatch: OnMismatch,
}

impl StateSection {
    pub fn validate(&self) -> Result<(), Error> {
        if self.dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
            return Err(Error::StateConfig {
                field: "dir".into(),
                message: "must not be empty".into(),
            });
        }
        Ok(())
    }

    /// The configured directory, or `state/<groups>`.
    pub fn dir_for(&self, groups: &[&str]) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(|| Path::new("state").join(groups.join("+")))
    }
}

/// Where a Kafka source node stood at a checkpoint on one partition. In the file: `source` (the node's
/// name), then the position's `topic`, `partition` and `next_offset`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourcePosition {
    pub source: String,
    #[serde(flatten)]
    pub position: PartitionPosition,
}

/// One checkpoint: what its file holds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub format: String,
    pub id: u64,
    /// Every Kafka source's position, per partition it had read from.
    pub offsets: Vec<SourcePosition>,
    /// Each stateful operator's [`Operator::save_state`] by node name.
    ///
    /// [`Operator::save_state`]: tickstream_operators::Operator::save_state
    pub operators: std::collections::BTreeMap<String, StateJson>,
}

/// Operator states compare as their JSON text.
impl PartialEq for Checkpoint {
    fn eq(&self, other: &Checkpoint) -> bool {
        let texts = |c: &Checkpoint| -> Vec<(String, String)> {
            c.operators
                .iter()
                .map(|(node, state)| (node.clone(), state.get().to_owned()))
                .collect()
        };
        (&self.format, self.id, &self.offsets) == (&other.format, other.id, &other.offsets)
            && texts(self) == texts(other)
    }
}

impl Checkpoint {
    pub fn new(
        id: u64,
        offsets: Vec<SourcePosition>,
        operators: std::collections::BTreeMap<String, StateJson>,
    ) -> Checkpoint {
        Checkpoint {
            format: FORMAT.to_owned(),
            id,
            offsets,
            operators,
        }
    }

    /// True when this checkpoint's offsets are the committed ones on every partition with a commit.
    fn matches(&self, committed: &[CommittedOffset]) -> bool {
        committed.iter().all(|c| match c.next_offset {
            None => true,
            Some(next) => {
                self.offsets.iter().map(|o| &o.position).any(|p| {
                    p.topic == c.topic && p.partition == c.partition && p.next_offset == next
                })
            }
        })
    }
}

/// The checkpoint files of one pipeline.
#[derive(Debug)]
pub struct StateStore {
    dir: PathBuf,
    /// Ids of the files present, ascending.
    ids: Vec<u64>,
}

impl StateStore {
    /// Opens (creating) the directory and lists its checkpoint files; leftover temporary files of an
    /// interrupted write are removed.
    pub fn open(dir: &Path) -> Result<StateStore, Error> {
        let io = |source| Error::StateIo {
            path: dir.display().to_string(),
            source,
        };
        fs::create_dir_all(dir).map_err(io)?;
        let mut ids = Vec::new();
        for entry in fs::read_dir(dir).map_err(io)? {
            let name = entry.map_err(io)?.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".tmp") && name.starts_with(PREFIX) {
                let _ = fs::remove_file(dir.join(name.as_ref()));
            } else if let Some(id) = name
                .strip_prefix(PREFIX)
                .and_then(|n| n.strip_suffix(SUFFIX))
                .and_then(|n| n.parse().ok())
            {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        Ok(StateStore {
            dir: dir.to_owned(),
            ids,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The id the next checkpoint gets: one past the newest file's.
    pub fn next_id(&self) -> u64 {
        self.ids.last().map_or(1, |id| id + 1)
    }

    /// Ids of the files present, ascending.
    #[cfg(test)]
    pub fn ids(&self) -> &[u64] {
        &self.ids
    }

    fn path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{PREFIX}{id:020}{SUFFIX}"))
    }

    pub fn load(&self, id: u64) -> Result<Checkpoint, Error> {
        let path = self.path(id);
        let text = fs::read(&path).map_err(|source| Error::StateIo {
            path: path.display().to_string(),
            source,
        })?;
        let checkpoint: Checkpoint =
            serde_json::from_slice(&text).map_err(|e| Error::StateCorrupt {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        if checkpoint.format != FORMAT || checkpoint.id != id {
            return Err(Error::StateCorrupt {
                path: path.display().to_string(),
                message: format!(
                    "format {:?} id {}, expected {FORMAT:?} id {id}",
                    checkpoint.format, checkpoint.id
                ),
            });
        }
        Ok(checkpoint)
    }

    /// Writes `checkpoint` atomically (temporary file, fsync, rename, fsync of the directory), then
    /// removes files older than both the previous checkpoint and `keep` (the checkpoint the committed
    /// offsets name, which a crash before the next commit still needs).
    pub fn write(&mut self, checkpoint: &Checkpoint, keep: Option<u64>) -> Result<(), Error> {
        let path = self.path(checkpoint.id);
        let temporary = path.with_extension("json.tmp");
        let io = |source| Error::StateIo {
            path: temporary.display().to_string(),
            source,
        };
        let text = serde_json::to_vec(checkpoint).map_err(|e| Error::StateCorrupt {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let mut file = File::create(&temporary).map_err(io)?;
        file.write_all(&text).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        fs::rename(&temporary, &path).map_err(io)?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| Error::StateIo {
                path: self.dir.display().to_string(),
                source,
            })?;
        self.ids.push(checkpoint.id);
        self.ids.sort_unstable();
        self.ids.dedup();
        let previous = self.ids.len().checked_sub(2).map(|i| self.ids[i]);
        let oldest_kept = previous.into_iter().chain(keep).min();
        if let Some(oldest) = oldest_kept {
            for id in self.ids.iter().copied().filter(|id| *id < oldest) {
                let _ = fs::remove_file(self.path(id));
            }
            self.ids.retain(|id| *id >= oldest);
        }
        Ok(())
    }

    /// The checkpoint to restore for the group's committed offsets at start: none when the group has
    /// committed nothing on the assigned partitions (a first start); the one the commit metadata names
    /// (when the broker returns it; the files' offsets must agree); otherwise the newest kept file whose
    /// offsets equal the committed ones. Anything else is a mismatch.
    pub fn choose(&self, committed: &[CommittedOffset]) -> Result<Option<Checkpoint>, Error> {
        if committed.iter().all(|c| c.next_offset.is_none()) {
            return Ok(None);
        }
        let named: std::collections::BTreeSet<u64> =
            committed.iter().filter_map(|c| c.checkpoint).collect();
        let describe = || {
            committed
                .iter()
                .map(|c| {
                    let offset = c.next_offset.map_or("none".into(), |o| o.to_string());
                    let named = c
                        .checkpoint
                        .map_or(String::new(), |id| format!(" (checkpoint {id})"));
                    format!("{}[{}]@{offset}{named}", c.topic, c.partition)
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mismatch = |why: String| Error::StateMismatch {
            dir: self.dir.display().to_string(),
            committed: describe(),
            why,
        };
        if named.len() > 1 {
            return Err(mismatch(format!(
                "the partitions' commits name different checkpoints {named:?}"
            )));
        }
        if let Some(&id) = named.first() {
            if !self.ids.contains(&id) {
                return Err(mismatch(format!(
                    "the commit names checkpoint {id}, which is not in the directory (it holds {:?})",
                    self.ids
                )));
            }
            let checkpoint = self.load(id)?;
            return if checkpoint.matches(committed) {
                Ok(Some(checkpoint))
            } else {
                Err(mismatch(format!(
                    "checkpoint {id}'s offsets are not the committed ones"
                )))
            };
        }
        for &id in self.ids.iter().rev() {
            let checkpoint = self.load(id)?;
            if checkpoint.matches(committed) {
                return Ok(Some(checkpoint));
            }
        }
        Err(mismatch(format!(
            "no checkpoint file has these offsets (files: {:?})",
            self.ids
        )))
    }
}

#[cfg(test)]
#[path = "state_store_tests.rs"]
mod tests;
