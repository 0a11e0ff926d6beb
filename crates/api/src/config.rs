//! `ApiConfig`: where the API listens, where its keys are, its rate-limit tiers and its response caps.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::Error;
use crate::keys::KeyStoreConfig;
use crate::rate_limit::TierConfig;

/// The API's settings; every field has a default.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    pub keys: KeyStoreConfig,
    /// How often the key store is read again (at most 1 s: revocations take effect within a second).
    #[serde(with = "tickstream_model::duration_text")]
    pub key_reload: Duration,
    /// Rate-limit tiers by name; a key names its tier.
    pub tiers: BTreeMap<String, TierConfig>,
    /// The tier of keys whose tier is not in `tiers`.
    pub default_tier: String,
    /// The per-client-IP bucket for requests without a valid key.
    pub anonymous: TierConfig,
    /// `limit` when a request gives none.
    pub default_limit: usize,
    /// The largest `limit` of `/v1/bars`; larger requests are cut to it.
    pub max_bars_limit: usize,
    /// The largest `limit` of `/v1/signals`; larger requests are cut to it.
    pub max_signals_limit: usize,
    /// A stream client that cannot take a message within this time is disconnected.
    #[serde(with = "tickstream_model::duration_text")]
    pub ws_send_timeout: Duration,
    /// Symbols one stream connection may subscribe to.
    pub ws_max_symbols: usize,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            keys: KeyStoreConfig::default(),
            key_reload: Duration::from_millis(500),
            tiers: BTreeMap::from([
                (
                    "free".to_owned(),
                    TierConfig {
                        per_second: 10,
                        burst: 20,
                    },
                ),
                (
                    "standard".to_owned(),
                    TierConfig {
                        per_second: 100,
                        burst: 200,
                    },
                ),
                (
                    "pro".to_owned(),
                    TierConfig {
                        per_second: 10_000,
                        burst: 20_000,
                    },
                ),
            ]),
            default_tier: "free".into(),
            anonymous: TierConfig {
                per_second: 5,
                burst: 10,
            },
            default_limit: 100,
            max_bars_limit: 1_000,
            max_signals_limit: 1_000,
            ws_send_timeout: Duration::from_secs(5),
            ws_max_symbols: 1_000,
        }
    }
}

impl ApiConfig {
    pub fn validate(&self) -> Result<(), Error> {
        self.keys.validate()?;
        if self.key_reload.is_zero() || self.key_reload > Duration::from_secs(1) {
            return Err(Error::config(
                "key_reload",
                "must be more than 0 and at most 1s",
            ));
        }
        if self.tiers.is_empty() {
            return Err(Error::config("tiers", "at least one tier is needed"));
        }
        for (name, tier) in &self.tiers {
            tier.validate(&format!("tiers.{name}"))?;
        }
        if !self.tiers.contains_key(&self.default_tier) {
            return Err(Error::config(
                "default_tier",
                format!("{:?} is not in tiers", self.default_tier),
            ));
        }
        self.anonymous.validate("anonymous")?;
        for (field, value) in [
            ("default_limit", self.default_limit),
            ("max_bars_limit", self.max_bars_limit),
            ("max_signals_limit", self.max_signals_limit),
            ("ws_max_symbols", self.ws_max_symbols),
        ] {
            if value == 0 {
                return Err(Error::config(field, "must be at least 1"));
            }
        }
        if self.ws_send_timeout.is_zero() {
            return Err(Error::config("ws_send_timeout", "must be more than 0"));
        }
        Ok(())
    }
}
