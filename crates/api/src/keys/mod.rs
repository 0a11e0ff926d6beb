//! API keys: `tsk_<id>_<secret>` tokens, stored only as SHA-256 hashes, checked in constant time against
//! the record found by the id in the token. Each key has a name, scopes, a rate-limit tier and an optional
//! expiry; several active keys per client make rotation seamless.

mod store;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tickstream_model::UnixNanos;

pub use self::store::{IssuedKey, KeyStore, KeyStoreConfig, NewKey, spawn_reload};
use crate::Error;

/// The readable prefix of every key.
pub const KEY_PREFIX: &str = "tsk_";

/// What a key may do.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The `/v1` reads: instruments, latest, bars, signals.
    Read,
    /// The WebSocket stream.
    Stream,
    /// Key administration.
    Admin,
}

impl std::str::FromStr for Scope {
    type Err = Error;
    fn from_str(s: &str) -> Result<Scope, Error> {
        match s {
            "read" => Ok(Scope::Read),
            "stream" => Ok(Scope::Stream),
            "admin" => Ok(Scope::Admin),
            _ => Err(Error::config(
                "scopes",
                format!("unknown scope {s:?}; expected read, stream or admin"),
            )),
        }
    }
}

/// A key's record as stored: never the key itself, only its hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub scopes: BTreeSet<Scope>,
    /// The rate-limit tier, a name from the API's `tiers`.
    pub tier: String,
    pub created_at: UnixNanos,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<UnixNanos>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<UnixNanos>,
    /// Hex SHA-256 of the whole key text.
    pub sha256: String,
}

impl ApiKey {
    pub fn is_active(&self, now: UnixNanos) -> bool {
        self.revoked_at.is_none_or(|t| t > now) && self.expires_at.is_none_or(|t| t > now)
    }
}

/// Why a presented key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRejection {
    /// Not a tickstream key, or no key with this id and secret.
    Unknown,
    Expired,
    Revoked,
}

/// A new random key: its id and the full text `tsk_<id>_<secret>` (shown once, never stored).
pub fn generate_key() -> Result<(String, String), Error> {
    let mut id = [0u8; 6];
    let mut secret = [0u8; 32];
    getrandom::fill(&mut id).map_err(|e| Error::Random(e.to_string()))?;
    getrandom::fill(&mut secret).map_err(|e| Error::Random(e.to_string()))?;
    let id = hex::encode(id);
    let text = format!("{KEY_PREFIX}{id}_{}", hex::encode(secret));
    Ok((id, text))
}

pub fn hash_key(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// The key id in a key's text, if it has the key format. Safe to log.
pub fn key_id(text: &str) -> Option<&str> {
    let (id, secret) = text.strip_prefix(KEY_PREFIX)?.split_once('_')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 12) && hex(secret, 64)).then_some(id)
}

#[derive(Debug)]
struct KeyEntry {
    key: Arc<ApiKey>,
    hash: Option<[u8; 32]>,
}

/// The keys an API instance accepts, replaced whole when the store is read again. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    keys: Arc<RwLock<HashMap<String, KeyEntry>>>,
}

impl KeyRing {
    pub fn new(keys: Vec<ApiKey>) -> KeyRing {
        let ring = KeyRing::default();
        ring.replace(keys);
        ring
    }

    pub fn replace(&self, keys: Vec<ApiKey>) {
        let map = keys
            .into_iter()
            .map(|key| {
                let hash = hex::decode(&key.sha256).ok().and_then(|h| <[u8; 32]>::try_from(h).ok());
                if hash.is_none() {
                    tracing::warn!(key_id = %key.id, "key record has no valid sha256; the key is refused");
                }
                (key.id.clone(), KeyEntry { key: Arc::new(key), hash })
            })
            .collect();
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = map;
    }

    /// Every record, oldest first.
    pub fn list(&self) -> Vec<Arc<ApiKey>> {
        let mut list: Vec<Arc<ApiKey>> = self
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|e| e.key.clone())
            .collect();
        list.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        list
    }

    pub fn len(&self) -> usize {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key record for `text`, if the text is a known key that is neither revoked nor expired at `now`.
    /// Revocation and expiry are told apart only after the secret matched.
    pub fn authenticate(&self, text: &str, now: UnixNanos) -> Result<Arc<ApiKey>, KeyRejection> {
        let id = key_id(text).ok_or(KeyRejection::Unknown)?;
        let presented = hash_key(text);
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let entry = keys.get(id).ok_or(KeyRejection::Unknown)?;
        let stored = entry.hash.ok_or(KeyRejection::Unknown)?;
        if !bool::from(stored.ct_eq(&presented)) {
            return Err(KeyRejection::Unknown);
        }
        let key = &entry.key;
        if key.revoked_at.is_some_and(|t| t <= now) {
            return Err(KeyRejection::Revoked);
        }
        if key.expires_at.is_some_and(|t| t <= now) {
            return Err(KeyRejection::Expired);
        }
        Ok(key.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(text: &str, id: &str) -> ApiKey {
        ApiKey {
            id: id.to_owned(),
            name: "test".into(),
            scopes: BTreeSet::from([Scope::Read]),
            tier: "standard".into(),
            created_at: UnixNanos(0),
            expires_at: Some(UnixNanos(100)),
            revoked_at: None,
            sha256: hex::encode(hash_key(text)),
        }
    }

    #[test]
    fn keys_are_long_prefixed_and_checked_by_hash() {
        let (id, text) = generate_key().unwrap();
        assert!(text.starts_with("tsk_") && text.len() > 70, "{text}");
        assert_eq!(key_id(&text), Some(id.as_str()));
        let ring = KeyRing::new(vec![record(&text, &id)]);
        assert_eq!(ring.authenticate(&text, UnixNanos(1)).unwrap().id, id);
        assert_eq!(
            ring.authenticate(&text, UnixNanos(100)).unwrap_err(),
            KeyRejection::Expired
        );
        let mut wrong = text.clone();
        wrong.pop();
        wrong.push(if text.ends_with('0') { '1' } else { '0' });
        assert_eq!(
            ring.authenticate(&wrong, UnixNanos(1)).unwrap_err(),
            KeyRejection::Unknown
        );
        assert_eq!(
            ring.authenticate("tsk_nothex", UnixNanos(1)).unwrap_err(),
            KeyRejection::Unknown
        );
    }
}
