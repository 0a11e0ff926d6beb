//! `UnixNanos` (UTC nanoseconds since the Unix epoch), exact conversions from venue time formats, and durations.

use std::fmt;
use std::time::Duration;

use crate::Error;

/// A UTC instant as integer nanoseconds since 1970-01-01T00:00:00Z.
///
/// Venue times (milliseconds, microseconds, RFC 3339 text) convert exactly, with no float on the way.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(transparent)]
#[schemars(description = "UTC nanoseconds since the Unix epoch.")]
pub struct UnixNanos(pub i64);

const NANOS_PER_SEC: i64 = 1_000_000_000;
const NANOS_PER_DAY: i64 = 86_400 * NANOS_PER_SEC;

impl UnixNanos {
    /// The wall clock: the one place tickstream reads it. Parsers, books and operators never call this;
    /// the connectors' runner and the dataflow runtime read it and pass times in.
    pub fn now() -> UnixNanos {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        UnixNanos(i64::try_from(nanos).unwrap_or(i64::MAX))
    }

    pub const fn as_i64(self) -> i64 {
        self.0
    }

    pub fn from_secs(secs: i64) -> Option<UnixNanos> {
        secs.checked_mul(NANOS_PER_SEC).map(UnixNanos)
    }

    pub fn from_millis(ms: i64) -> Option<UnixNanos> {
        ms.checked_mul(1_000_000).map(UnixNanos)
    }

    pub fn from_micros(us: i64) -> Option<UnixNanos> {
        us.checked_mul(1_000).map(UnixNanos)
    }

    /// Milliseconds as decimal text (`"1700000000123"`), as OKX and Bybit send them.
    pub fn parse_millis(text: &str) -> Result<UnixNanos, Error> {
        let ms: i64 = text
            .parse()
            .map_err(|_| bad_time(text, "not whole milliseconds"))?;
        UnixNanos::from_millis(ms).ok_or_else(|| bad_time(text, "out of range"))
    }

    /// Microseconds as decimal text (`"1700000000123456"`), as Bitstamp sends `microtimestamp`.
    pub fn parse_micros(text: &str) -> Result<UnixNanos, Error> {
        let us: i64 = text
            .parse()
            .map_err(|_| bad_time(text, "not whole microseconds"))?;
        UnixNanos::from_micros(us).ok_or_else(|| bad_time(text, "out of range"))
    }

    /// RFC 3339 in UTC (`2023-09-25T07:49:37.708706Z`, up to nine fractional digits, `Z` or `+00:00`).
    pub fn parse_rfc3339(text: &str) -> Result<UnixNanos, Error> {
        let b = text.as_bytes();
        let num = |range: std::ops::Range<usize>| -> Result<i64, Error> {
            let part = text.get(range).ok_or_else(|| bad_time(text, "too short"))?;
            if part.bytes().all(|c| c.is_ascii_digit()) {
                part.parse().map_err(|_| bad_time(text, "bad number"))
            } else {
                Err(bad_time(text, "bad number"))
            }
        };
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return Err(bad_time(text, "expected YYYY-MM-DDTHH:MM:SS"));
        }
        if b[13] != b':' || b[16] != b':' {
            return Err(bad_time(text, "expected YYYY-MM-DDTHH:MM:SS"));
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return Err(bad_time(text, "no such date"));
        }
        if hour > 23 || minute > 59 || second > 60 {
            return Err(bad_time(text, "no such time of day"));
        }
        let mut i = 19;
        let mut nanos = 0i64;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                if i - start < 9 {
                    nanos = nanos * 10 + i64::from(b[i] - b'0');
                }
                i += 1;
            }
            let digits = i - start;
            if digits == 0 {
                return Err(bad_time(text, "empty fraction"));
            }
            for _ in digits..9 {
                nanos *= 10;
            }
        }
        match &text[i..] {
            "Z" | "z" | "+00:00" | "-00:00" => {}
            _ => return Err(bad_time(text, "expected a UTC offset (Z or +00:00)")),
        }
        // Four-digit years keep the seconds far inside i64; their nanoseconds do not (before 1677 and
        // after 2262), so they are computed wide and checked.
        let days = days_from_civil(year, month, day);
        let secs = days * 86_400 + hour * 3_600 + minute * 60 + second;
        let total = i128::from(secs) * i128::from(NANOS_PER_SEC) + i128::from(nanos);
        i64::try_from(total)
            .map(UnixNanos)
            .map_err(|_| bad_time(text, "outside the nanosecond range (1677 to 2262)"))
    }

    /// The UTC calendar date as `YYYY-MM-DD` (the lake's `date=` partition).
    pub fn utc_date(self) -> String {
        let (y, m, d) = civil_from_days(self.0.div_euclid(NANOS_PER_DAY));
        format!("{y:04}-{m:02}-{d:02}")
    }

    /// Midnight UTC of the day this instant falls in.
    pub fn utc_day_start(self) -> UnixNanos {
        UnixNanos(self.0 - self.0.rem_euclid(NANOS_PER_DAY))
    }

    /// RFC 3339 text with nanoseconds, for logs and people.
    pub fn to_rfc3339(self) -> String {
        let days = self.0.div_euclid(NANOS_PER_DAY);
        let rest = self.0.rem_euclid(NANOS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        let secs = rest / NANOS_PER_SEC;
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            rest % NANOS_PER_SEC
        )
    }

    pub fn saturating_add(self, d: Duration) -> UnixNanos {
        UnixNanos(
            self.0
                .saturating_add(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        )
    }

    pub fn saturating_sub(self, d: Duration) -> UnixNanos {
        UnixNanos(
            self.0
                .saturating_sub(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        )
    }
}

impl fmt::Display for UnixNanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

fn bad_time(text: &str, reason: &'static str) -> Error {
    Error::Timestamp {
        text: text.to_owned(),
        reason,
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// Parses a duration written as a whole number and a unit: `250ms`, `30s`, `5m`, `24h`, `7d`.
pub fn parse_duration(text: &str) -> Result<Duration, Error> {
    let bad = |reason| Error::Duration {
        text: text.to_owned(),
        reason,
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| bad("missing unit (ms, s, m, h or d)"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| bad("expected a whole number before the unit"))?;
    let secs = |k: u64| {
        n.checked_mul(k)
            .map(Duration::from_secs)
            .ok_or_else(|| bad("too large"))
    };
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3_600),
        "d" => secs(86_400),
        _ => Err(bad("unknown unit; expected ms, s, m, h or d")),
    }
}

/// Serde adapter for `Duration` fields written as `"30s"` in pipeline files.
pub mod duration_text {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        let ms = d.as_millis();
        if ms.is_multiple_of(1000) {
            s.collect_str(&format_args!("{}s", ms / 1000))
        } else {
            s.collect_str(&format_args!("{ms}ms"))
        }
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }

    /// The same for a duration that may be left out (`None` when absent, with `#[serde(default)]`).
    pub mod optional {
        use std::time::Duration;

        pub fn serialize<S: serde::Serializer>(
            d: &Option<Duration>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: serde::Deserializer<'de>>(
            d: D,
        ) -> Result<Option<Duration>, D::Error> {
            super::deserialize(d).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_exact_to_the_nanosecond() {
        let t = UnixNanos::parse_rfc3339("2023-09-25T07:49:37.708706Z").unwrap();
        assert_eq!(t.0, 1_695_628_177_708_706_000);
        let t = UnixNanos::parse_rfc3339("2022-12-25T09:30:59.123456789Z").unwrap();
        assert_eq!(t.0 % NANOS_PER_SEC, 123_456_789);
        assert_eq!(t.to_rfc3339(), "2022-12-25T09:30:59.123456789Z");
        assert_eq!(
            UnixNanos::parse_rfc3339("1970-01-01T00:00:00Z").unwrap().0,
            0
        );
        assert_eq!(
            UnixNanos::parse_rfc3339("2024-02-29T00:00:00+00:00")
                .unwrap()
                .utc_date(),
            "2024-02-29"
        );
    }

    #[test]
    fn rfc3339_rejects_bad_text() {
        for s in [
            "",
            "2023-02-30T00:00:00Z",
            "2023-09-25 07:49",
            "2023-09-25T07:49:37.Z",
            "2023-09-25T07:49:37+02:00",
            "x023-09-25T07:49:37Z",
            // Past what nanoseconds since 1970 hold in an i64: rejected, not wrapped around.
            "3000-01-01T00:00:00Z",
            "2262-04-11T23:47:16.854775808Z",
            "1677-09-21T00:12:43.145224191Z",
        ] {
            assert!(UnixNanos::parse_rfc3339(s).is_err(), "{s:?}");
        }
        // The last representable instants still parse.
        assert_eq!(
            UnixNanos::parse_rfc3339("2262-04-11T23:47:16.854775807Z")
                .unwrap()
                .0,
            i64::MAX
        );
        assert_eq!(
            UnixNanos::parse_rfc3339("1677-09-21T00:12:43.145224192Z")
                .unwrap()
                .0,
            i64::MIN
        );
    }

    #[test]
    fn millis_and_micros_text() {
        assert_eq!(
            UnixNanos::parse_millis("1597026383085").unwrap().0,
            1_597_026_383_085_000_000
        );
        assert_eq!(
            UnixNanos::parse_micros("1597026383085123").unwrap().0,
            1_597_026_383_085_123_000
        );
        assert!(UnixNanos::parse_millis("1.5").is_err());
    }

    #[test]
    fn calendar_round_trips_over_centuries() {
        for days in (-800_000i64..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("1.5s").is_err());
        assert!(parse_duration("3w").is_err());
    }
}
