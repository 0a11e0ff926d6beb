//! Where key records live: a JSON file (the default) or a Redis hash; the administration behind
//! `tickstream keys create|list|revoke|rotate`; and the poll that makes every API instance see a change
//! (a revocation) within a second.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tickstream_model::UnixNanos;

use super::{ApiKey, KeyRing, Scope, generate_key, hash_key};
use crate::Error;
use crate::cache::RedisLink;

/// Where the key records are kept.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum KeyStoreConfig {
    /// A JSON file `{"keys": [...]}`, written atomically.
    File { path: PathBuf },
    /// The hash `{key}` in Redis, field per key id.
    Redis {
        url: String,
        #[serde(default = "default_redis_key")]
        key: String,
    },
}

fn default_redis_key() -> String {
    "tickstream:keys".into()
}

impl Default for KeyStoreConfig {
    fn default() -> KeyStoreConfig {
        KeyStoreConfig::File {
            path: PathBuf::from("keys.json"),
        }
    }
}

impl KeyStoreConfig {
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            KeyStoreConfig::File { path } if path.as_os_str().is_empty() => {
                Err(Error::config("keys.path", "must not be empty"))
            }
            KeyStoreConfig::Redis { key, .. } if key.is_empty() => {
                Err(Error::config("keys.key", "must not be empty"))
            }
            KeyStoreConfig::Redis { url, .. } => redis::Client::open(url.as_str())
                .map(drop)
                .map_err(|e| Error::config("keys.url", e.to_string())),
            _ => Ok(()),
        }
    }
}

/// A key just made: its record and its text, which is shown once and never stored.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub key: ApiKey,
    pub text: String,
}

/// What to make a key with.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub name: String,
    pub scopes: BTreeSet<Scope>,
    pub tier: String,
    pub expires_at: Option<UnixNanos>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct KeyFile {
    keys: Vec<ApiKey>,
}

#[derive(Debug, Clone)]
enum Backend {
    File(PathBuf),
    Redis { link: Arc<RedisLink>, key: String },
}

/// The key store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct KeyStore(Backend);

impl KeyStore {
    pub fn open(config: &KeyStoreConfig) -> Result<KeyStore, Error> {
        config.validate()?;
        Ok(KeyStore(match config {
            KeyStoreConfig::File { path } => Backend::File(path.clone()),
            KeyStoreConfig::Redis { url, key } => Backend::Redis {
                link: Arc::new(RedisLink::open(url, Duration::from_secs(1))?),
                key: key.clone(),
            },
        }))
    }

    /// Every key record; a missing file is an empty store.
    pub async fn load(&self) -> Result<Vec<ApiKey>, Error> {
        match &self.0 {
            Backend::File(path) => {
                let io = |source| Error::Io {
                    path: path.display().to_string(),
                    source,
                };
                let text = match std::fs::read_to_string(path) {
                    Ok(text) => text,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(io(e)),
                };
                let file: KeyFile = serde_json::from_str(&text).map_err(|source| Error::Json {
                    what: path.display().to_string(),
                    source,
                })?;
                Ok(file.keys)
            }
            Backend::Redis { link, key } => {
                let fields: Vec<(String, String)> =
                    link.query(redis::cmd("HGETALL").arg(key)).await?;
                let mut keys = Vec::with_capacity(fields.len());
                for (id, text) in fields {
                    match serde_json::from_str::<ApiKey>(&text) {
                        Ok(record) => keys.push(record),
                        Err(e) => {
                            tracing::warn!(key_id = %id, error = %e, "key record is not valid; skipped")
                        }
                    }
                }
                keys.sort_by(|a, b| {
                    a.created_at
                        .cmp(&b.created_at)
                        .then_with(|| a.id.cmp(&b.id))
                });
                Ok(keys)
            }
        }
    }

    async fn save(&self, all: &[ApiKey], changed: &[&ApiKey]) -> Result<(), Error> {
        match &self.0 {
            Backend::File(path) => {
                let io = |source| Error::Io {
                    path: path.display().to_string(),
                    source,
                };
                let text = serde_json::to_string_pretty(&KeyFile { keys: all.to_vec() }).map_err(
                    |source| Error::Json {
                        what: "key file".into(),
                        source,
                    },
                )?;
                let mut temp = path.clone().into_os_string();
                temp.push(".tmp");
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                write_private(std::path::Path::new(&temp), text.as_bytes()).map_err(io)?;
                std::fs::rename(&temp, path).map_err(io)
            }
            Backend::Redis { link, key } => {
                let mut pipe = redis::pipe();
                for record in changed {
                    let json = serde_json::to_string(record).map_err(|source| Error::Json {
                        what: "key record".into(),
                        source,
                    })?;
                    pipe.cmd("HSET").arg(key).arg(&record.id).arg(json).ignore();
                }
                link.query_pipe::<()>(&pipe).await
            }
        }
    }

    /// Makes a key; the returned text is the only copy of it.
    pub async fn create(&self, new: NewKey, now: UnixNanos) -> Result<IssuedKey, Error> {
        if new.scopes.is_empty() {
            return Err(Error::config("scopes", "a key needs at least one scope"));
        }
        let (id, text) = generate_key()?;
        let key = ApiKey {
            id,
            name: new.name,
            scopes: new.scopes,
            tier: new.tier,
            created_at: now,
            expires_at: new.expires_at,
            revoked_at: None,
            sha256: hex::encode(hash_key(&text)),
        };
        let mut all = self.load().await?;
        all.push(key.clone());
        self.save(&all, &[&key]).await?;
        Ok(IssuedKey { key, text })
    }

    pub async fn list(&self) -> Result<Vec<ApiKey>, Error> {
        self.load().await
    }

    /// Revokes a key at `now`; every instance refuses it within a second.
    pub async fn revoke(&self, id: &str, now: UnixNanos) -> Result<ApiKey, Error> {
        self.update(id, |key| {
            key.revoked_at.get_or_insert(now);
        })
        .await
    }

    /// Makes a new key with the old one's name, scopes and tier, and lets the old one expire after
    /// `overlap` (or earlier, if it already expires sooner).
    pub async fn rotate(
        &self,
        id: &str,
        overlap: Duration,
        now: UnixNanos,
    ) -> Result<IssuedKey, Error> {
        let old = self
            .load()
            .await?
            .into_iter()
            .find(|k| k.id == id)
            .ok_or_else(|| Error::UnknownKey(id.into()))?;
        let until = now.saturating_add(overlap);
        let issued = self
            .create(
                NewKey {
                    name: old.name,
                    scopes: old.scopes,
                    tier: old.tier,
                    expires_at: old.expires_at,
                },
                now,
            )
            .await?;
        self.update(id, |key| {
            key.expires_at = Some(key.expires_at.map_or(until, |t| t.min(until)))
        })
        .await?;
        Ok(issued)
    }

    async fn update(&self, id: &str, change: impl FnOnce(&mut ApiKey)) -> Result<ApiKey, Error> {
        let mut all = self.load().await?;
        let key = all
            .iter_mut()
            .find(|k| k.id == id)
            .ok_or_else(|| Error::UnknownKey(id.into()))?;
        change(key);
        let changed = key.clone();
        self.save(&all, &[&changed]).await?;
        Ok(changed)
    }
}

/// Writes a file readable by its owner only (the hashes are not secrets, but nobody else needs them).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Reads the store into `ring` now and then every `every` (at most a second, so that a revocation takes
/// effect within a second). A store that cannot be read keeps the keys last read.
pub async fn spawn_reload(
    store: KeyStore,
    ring: KeyRing,
    every: Duration,
) -> Result<tokio::task::JoinHandle<()>, Error> {
    ring.replace(store.load().await?);
    Ok(tokio::spawn(async move {
        let mut failing = false;
        let mut tick = tokio::time::interval(every.min(Duration::from_secs(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match store.load().await {
                Ok(keys) => {
                    failing = false;
                    ring.replace(keys);
                }
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "key store unreadable; keeping the keys last read");
                }
                Err(_) => {}
            }
        }
    }))
}
