//! Token buckets (`governor`, GCRA): one per key, sized by the key's tier, and one per client IP for
//! requests without a valid key. The clock is tokio's, so paused time in tests drives it.

use std::collections::BTreeMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::Error;

/// One tier's bucket: `per_second` tokens refill each second, up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    pub per_second: u32,
    pub burst: u32,
}

impl TierConfig {
    pub fn validate(&self, field: &str) -> Result<(), Error> {
        if self.per_second == 0 {
            return Err(Error::config(
                &format!("{field}.per_second"),
                "must be at least 1",
            ));
        }
        if self.burst == 0 {
            return Err(Error::config(
                &format!("{field}.burst"),
                "must be at least 1",
            ));
        }
        Ok(())
    }

    fn quota(&self) -> Quota {
        let per_second = NonZeroU32::new(self.per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        Quota::per_second(per_second).allow_burst(burst)
    }
}

/// tokio's monotonic clock as a governor clock.
#[derive(Debug, Clone)]
pub struct TokioClock {
    start: tokio::time::Instant,
}

impl Default for TokioClock {
    fn default() -> TokioClock {
        TokioClock {
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        Nanos::from(self.start.elapsed())
    }
}

type Limiter<K> = RateLimiter<K, DefaultKeyedStateStore<K>, TokioClock, StateInformationMiddleware>;

/// The outcome of taking one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed {
        limit: u32,
        remaining: u32,
        reset: Duration,
    },
    Limited {
        limit: u32,
        retry_after: Duration,
    },
}

#[derive(Debug)]
struct Bucket<K: Hash + Eq + Clone> {
    tier: TierConfig,
    limiter: Limiter<K>,
    clock: TokioClock,
}

impl<K: Hash + Eq + Clone> Bucket<K> {
    fn new(tier: TierConfig, clock: &TokioClock) -> Bucket<K> {
        Bucket {
            tier,
            limiter: RateLimiter::dashmap_with_clock(tier.quota(), clock.clone()).with_middleware(),
            clock: clock.clone(),
        }
    }

    fn check(&self, key: &K) -> Verdict {
        let limit = self.tier.burst;
        match self.limiter.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = f64::from(limit.saturating_sub(remaining));
                let reset = Duration::from_secs_f64(used / f64::from(self.tier.per_second));
                Verdict::Allowed {
                    limit,
                    remaining,
                    reset,
                }
            }
            Err(not_until) => {
                let wait: Duration = not_until.wait_time_from(self.clock.now());
                Verdict::Limited {
                    limit,
                    retry_after: wait,
                }
            }
        }
    }

    fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Every bucket of an API instance.
#[derive(Debug)]
pub struct RateLimits {
    tiers: BTreeMap<String, Bucket<String>>,
    default_tier: String,
    anonymous: Bucket<IpAddr>,
}

impl RateLimits {
    pub fn new(
        tiers: &BTreeMap<String, TierConfig>,
        default_tier: &str,
        anonymous: TierConfig,
    ) -> RateLimits {
        let clock = TokioClock::default();
        RateLimits {
            tiers: tiers
                .iter()
                .map(|(name, tier)| (name.clone(), Bucket::new(*tier, &clock)))
                .collect(),
            default_tier: default_tier.to_owned(),
            anonymous: Bucket::new(anonymous, &clock),
        }
    }

    /// Takes a token from the key's bucket; a tier missing from the config counts as the default tier.
    pub fn check_key(&self, tier: &str, key_id: &str) -> Verdict {
        let bucket = self
            .tiers
            .get(tier)
            .or_else(|| self.tiers.get(&self.default_tier));
        match bucket {
            Some(bucket) => bucket.check(&key_id.to_owned()),
            None => self.anonymous.check(&IpAddr::from([0, 0, 0, 0])),
        }
    }

    /// Takes a token from the client IP's bucket (requests without a valid key).
    pub fn check_ip(&self, ip: IpAddr) -> Verdict {
        self.anonymous.check(&ip)
    }

    /// Drops buckets that are full again, so that many one-off clients do not grow memory.
    pub fn forget_idle(&self) {
        self.anonymous.forget_idle();
        for bucket in self.tiers.values() {
            bucket.forget_idle();
        }
    }
}
