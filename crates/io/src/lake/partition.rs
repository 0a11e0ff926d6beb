//! Which Hive partition an event belongs to (`exchange=`, `symbol=`, `interval=`, `date=` as the dataset's
//! `LAKE_TABLES` entry lists them) and the conversion of a slice of events to one batch per partition.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use arrow::record_batch::RecordBatch;
use tickstream_model::{Event, EventKind, Exchange, Interval, Symbol, UnixNanos};

use super::arrow_schema::lake_table;
use super::record_batch::{record_batch, sort_by_event_time};
use crate::Error;

const NANOS_PER_DAY: i64 = 86_400_000_000_000;

/// One leaf directory of the lake: a dataset and the values of its partition keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    pub kind: EventKind,
    /// Set for datasets partitioned by exchange.
    pub exchange: Option<Exchange>,
    /// Set for datasets partitioned by symbol.
    pub symbol: Option<Symbol>,
    /// Set for datasets partitioned by interval.
    pub interval: Option<Interval>,
    /// Days since 1970-01-01 (UTC) of the event time.
    pub day: i64,
}

impl PartitionKey {
    /// The partition `event` is stored in: `date` is the UTC date of its event time.
    pub fn of(event: &Event) -> PartitionKey {
        let kind = event.kind();
        let keys = lake_table(kind).partitions;
        let interval = match event {
            Event::Bar(b) => Some(b.interval),
            Event::Indicator(i) => Some(i.interval),
            _ => None,
        };
        PartitionKey {
            kind,
            exchange: keys.contains(&"exchange").then(|| event.exchange()),
            symbol: if keys.contains(&"symbol") {
                event.symbol().cloned()
            } else {
                None
            },
            interval: if keys.contains(&"interval") {
                interval
            } else {
                None
            },
            day: event.ts_event().0.div_euclid(NANOS_PER_DAY),
        }
    }

    /// `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        UnixNanos(self.day.saturating_mul(NANOS_PER_DAY)).utc_date()
    }

    pub fn dataset(&self) -> &'static str {
        lake_table(self.kind).dataset
    }

    /// The directory under the lake root: `trades/exchange=binance/symbol=BTC-USDT/date=2026-11-22`.
    pub fn relative_dir(&self) -> PathBuf {
        let mut dir = PathBuf::from(self.dataset());
        for key in lake_table(self.kind).partitions {
            let value = match *key {
                "exchange" => self.exchange.map(|e| e.as_str().to_owned()),
                "symbol" => self.symbol.as_ref().map(|s| s.as_str().to_owned()),
                "interval" => self.interval.map(|i| i.as_str().to_owned()),
                "date" => Some(self.date()),
                _ => None,
            };
            // An instrument-less event in a dataset partitioned by symbol is kept under a visible name.
            let value = value.unwrap_or_else(|| "__none__".to_owned());
            dir.push(format!("{key}={}", escape_path_value(&value)));
        }
        dir
    }
}

/// Hive-style escaping: anything but letters, digits, `-`, `_` and `.` becomes `%XX`, and a leading `.`
/// too, so that a value can never climb out of its directory or hide itself.
fn escape_path_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, b) in value.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && i > 0);
        if plain {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Groups `events` by dataset and partition and converts each group, sorted by event time, to a batch with
/// the dataset's schema. Partitions come out in key order.
pub fn partition_batches(events: &[Event]) -> Result<Vec<(PartitionKey, RecordBatch)>, Error> {
    let mut groups: HashMap<PartitionKey, Vec<Event>> = HashMap::new();
    for event in events {
        groups
            .entry(PartitionKey::of(event))
            .or_default()
            .push(event.clone());
    }
    let mut groups: Vec<_> = groups.into_iter().collect();
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    groups
        .into_iter()
        .map(|(key, mut rows)| {
            sort_by_event_time(&mut rows);
            let batch = record_batch(key.kind, &rows)?;
            Ok((key, batch))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_keeps_canonical_values_and_neutralises_the_rest() {
        assert_eq!(escape_path_value("BTC-USDT-PERP"), "BTC-USDT-PERP");
        assert_eq!(escape_path_value("2026-11-22"), "2026-11-22");
        assert_eq!(escape_path_value("../x/y"), "%2E.%2Fx%2Fy");
        assert_eq!(escape_path_value("a=b"), "a%3Db");
    }

    #[test]
    fn extreme_event_times_still_name_a_date() {
        for ts in [i64::MIN, -1, 0, i64::MAX] {
            let key = PartitionKey {
                kind: EventKind::Status,
                exchange: None,
                symbol: None,
                interval: None,
                day: ts.div_euclid(NANOS_PER_DAY),
            };
            assert!(
                key.relative_dir()
                    .to_string_lossy()
                    .starts_with("status/date="),
                "{ts}"
            );
        }
        let key = PartitionKey {
            kind: EventKind::Status,
            exchange: None,
            symbol: None,
            interval: None,
            day: -1,
        };
        assert_eq!(key.date(), "1969-12-31");
    }
}
