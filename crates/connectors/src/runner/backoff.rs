//! `Backoff`: reconnect delays, capped exponential with full jitter (a uniform draw between zero and the
//! capped exponential step), reset after a healthy connection.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use super::config::BackoffConfig;

#[derive(Debug)]
pub struct Backoff {
    config: BackoffConfig,
    attempt: u32,
    rng: SmallRng,
}

impl Backoff {
    /// A backoff drawing its jitter from `seed` (reproducible in tests).
    pub fn new(config: BackoffConfig, seed: u64) -> Backoff {
        Backoff {
            config,
            attempt: 0,
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// The ceiling of the next delay: `initial × 2^attempt`, at most `max`.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.config
            .initial
            .saturating_mul(factor)
            .min(self.config.max)
    }

    /// The next delay, uniform in `[0, ceiling]`.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.rng.random_range(0..=nanos))
    }

    /// Back to `initial` after a connection stayed up for `reset_after`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn reset_after(&self) -> Duration {
        self.config.reset_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_to_the_cap_and_delays_stay_under_them() {
        let mut b = Backoff::new(BackoffConfig::default(), 7);
        let mut ceilings = Vec::new();
        for _ in 0..12 {
            let ceiling = b.ceiling();
            ceilings.push(ceiling.as_millis());
            assert!(b.next_delay() <= ceiling);
        }
        assert_eq!(
            ceilings,
            [
                250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000, 30000
            ]
        );
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(250));
    }

    #[test]
    fn jitter_is_spread_and_reproducible() {
        let draw = |seed| {
            let mut b = Backoff::new(BackoffConfig::default(), seed);
            (0..64)
                .map(|_| {
                    b.reset();
                    b.next_delay()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        let delays = draw(1);
        assert!(delays.iter().any(|d| *d < Duration::from_millis(80)));
        assert!(delays.iter().any(|d| *d > Duration::from_millis(170)));
    }
}
