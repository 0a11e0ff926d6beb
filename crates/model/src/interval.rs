//! `Interval`: the bar lengths tickstream builds (1s to 1d), aligned to multiples since the Unix epoch.

use std::fmt;
use std::str::FromStr;

use crate::{Error, UnixNanos};

/// A bar interval. Bars start at multiples of the interval since 1970-01-01T00:00:00Z.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
pub enum Interval {
    #[serde(rename = "1s")]
    S1,
    #[serde(rename = "5s")]
    S5,
    #[serde(rename = "15s")]
    S15,
    #[serde(rename = "1m")]
    M1,
    #[serde(rename = "5m")]
    M5,
    #[serde(rename = "15m")]
    M15,
    #[serde(rename = "1h")]
    H1,
    #[serde(rename = "4h")]
    H4,
    #[serde(rename = "1d")]
    D1,
}

impl Interval {
    pub const ALL: [Interval; 9] = [
        Interval::S1,
        Interval::S5,
        Interval::S15,
        Interval::M1,
        Interval::M5,
        Interval::M15,
        Interval::H1,
        Interval::H4,
        Interval::D1,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Interval::S1 => "1s",
            Interval::S5 => "5s",
            Interval::S15 => "15s",
            Interval::M1 => "1m",
            Interval::M5 => "5m",
            Interval::M15 => "15m",
            Interval::H1 => "1h",
            Interval::H4 => "4h",
            Interval::D1 => "1d",
        }
    }

    pub const fn seconds(self) -> i64 {
        match self {
            Interval::S1 => 1,
            Interval::S5 => 5,
            Interval::S15 => 15,
            Interval::M1 => 60,
            Interval::M5 => 300,
            Interval::M15 => 900,
            Interval::H1 => 3_600,
            Interval::H4 => 14_400,
            Interval::D1 => 86_400,
        }
    }

    pub const fn nanos(self) -> i64 {
        self.seconds() * 1_000_000_000
    }

    /// The start of the bar that `t` falls in: `open_time <= t < open_time + interval`.
    pub const fn bar_start(self, t: UnixNanos) -> UnixNanos {
        UnixNanos(t.0 - t.0.rem_euclid(self.nanos()))
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Interval {
    type Err = Error;
    fn from_str(s: &str) -> Result<Interval, Error> {
        Interval::ALL
            .into_iter()
            .find(|i| i.as_str() == s)
            .ok_or_else(|| Error::Interval(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_align_to_the_epoch_including_before_it() {
        let t = UnixNanos(90 * 1_000_000_000 + 5);
        assert_eq!(Interval::M1.bar_start(t), UnixNanos(60 * 1_000_000_000));
        assert_eq!(
            Interval::M1.bar_start(UnixNanos(-1)),
            UnixNanos(-60 * 1_000_000_000)
        );
        for i in Interval::ALL {
            assert_eq!(i.as_str().parse::<Interval>().unwrap(), i);
            assert_eq!(serde_json::to_string(&i).unwrap(), format!("\"{i}\""));
        }
    }
}
