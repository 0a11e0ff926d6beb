//! The source offsets a lake file covers: per Kafka topic partition, the first and last offset of the
//! records in it, kept as JSON in the file's `tickstream.offsets` key/value metadata.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::TopicPartition;

/// The offsets of one topic partition held by a file: every record of that partition routed to the file's
/// lake partition with an offset in `first..=last` is in the file or an earlier one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffsetRange {
    pub topic: String,
    pub partition: i32,
    pub first: i64,
    pub last: i64,
}

/// The metadata text of a file's ranges.
pub fn encode_ranges(ranges: &[OffsetRange]) -> String {
    serde_json::to_string(ranges).unwrap_or_else(|_| "[]".to_owned())
}

pub fn decode_ranges(text: &str) -> Result<Vec<OffsetRange>, serde_json::Error> {
    serde_json::from_str(text)
}

/// Ranges accumulated per topic partition: the lowest first and the highest last offset seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet {
    ranges: BTreeMap<TopicPartition, (i64, i64)>,
}

impl RangeSet {
    pub fn add(&mut self, source: &TopicPartition, first: i64, last: i64) {
        match self.ranges.get_mut(source) {
            Some((lo, hi)) => {
                *lo = (*lo).min(first);
                *hi = (*hi).max(last);
            }
            None => {
                self.ranges.insert(source.clone(), (first, last));
            }
        }
    }

    pub fn add_all(&mut self, ranges: &[OffsetRange]) {
        for r in ranges {
            let source = TopicPartition {
                topic: Arc::from(r.topic.as_str()),
                partition: r.partition,
            };
            self.add(&source, r.first, r.last);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn clear(&mut self) {
        self.ranges.clear();
    }

    /// The lowest offset held for `source`, if any.
    pub fn first(&self, source: &TopicPartition) -> Option<i64> {
        self.ranges.get(source).map(|r| r.0)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&TopicPartition, i64, i64)> {
        self.ranges.iter().map(|(s, (lo, hi))| (s, *lo, *hi))
    }

    pub fn to_ranges(&self) -> Vec<OffsetRange> {
        self.iter()
            .map(|(s, first, last)| OffsetRange {
                topic: s.topic.to_string(),
                partition: s.partition,
                first,
                last,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_round_trip() {
        let a = TopicPartition {
            topic: "ticks".into(),
            partition: 0,
        };
        let b = TopicPartition {
            topic: "ticks".into(),
            partition: 3,
        };
        let mut set = RangeSet::default();
        set.add(&a, 10, 20);
        set.add(&b, 5, 5);
        set.add(&a, 3, 12);
        assert_eq!(set.first(&a), Some(3));
        let text = encode_ranges(&set.to_ranges());
        assert_eq!(
            text,
            r#"[{"topic":"ticks","partition":0,"first":3,"last":20},{"topic":"ticks","partition":3,"first":5,"last":5}]"#
        );
        let mut back = RangeSet::default();
        back.add_all(&decode_ranges(&text).unwrap());
        assert_eq!(back, set);
        assert!(decode_ranges("{\"topic\":1}").is_err());
    }
}
