//! The process's Prometheus metrics read back as numbers: the status display, the end summary and the
//! benchmark take their figures from the same rendered text that `GET /metrics` serves, so there is one
//! source of truth for every count.

use std::collections::BTreeMap;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Quantiles of every histogram, as the API reports its request latency.
const QUANTILES: [f64; 3] = [0.5, 0.95, 0.99];

/// A recorder builder with the summary quantiles set.
pub fn builder() -> PrometheusBuilder {
    match PrometheusBuilder::new().set_quantiles(&QUANTILES) {
        Ok(b) => b,
        Err(_) => PrometheusBuilder::new(),
    }
}

/// Installs the process-wide recorder (once per process).
pub fn install() -> anyhow::Result<PrometheusHandle> {
    builder()
        .install_recorder()
        .map_err(|e| anyhow::anyhow!("cannot install the metrics recorder: {e}"))
}

/// One series of the text format: `name{label="value",...} number`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Every series of one rendering.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples(Vec<Sample>);

impl Samples {
    /// Reads the current values of `handle`'s metrics.
    pub fn read(handle: &PrometheusHandle) -> Samples {
        Samples::parse(&handle.render())
    }

    /// Parses the Prometheus text format; comment lines and lines it cannot read are passed over.
    pub fn parse(text: &str) -> Samples {
        Samples(text.lines().filter_map(parse_line).collect())
    }

    /// The series named `name`.
    pub fn series<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.0.iter().filter(move |s| s.name == name)
    }

    /// Whether any series is named `name`.
    pub fn has(&self, name: &str) -> bool {
        self.series(name).next().is_some()
    }

    /// The sum of every series named `name`.
    pub fn total(&self, name: &str) -> f64 {
        self.series(name).map(|s| s.value).sum()
    }

    /// The sum of the series named `name` whose `label` is `value`.
    pub fn total_where(&self, name: &str, label: &str, value: &str) -> f64 {
        self.series(name)
            .filter(|s| s.label(label) == Some(value))
            .map(|s| s.value)
            .sum()
    }

    /// Sums of the series named `name`, grouped by the value of `label`.
    pub fn by_label(&self, name: &str, label: &str) -> BTreeMap<String, f64> {
        let mut sums = BTreeMap::new();
        for s in self.series(name) {
            if let Some(v) = s.label(label) {
                *sums.entry(v.to_owned()).or_default() += s.value;
            }
        }
        sums
    }
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    let (name, labels) = match series.split_once('{') {
        None => (series, Vec::new()),
        Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}')?)?),
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// `a="x",b="y \"quoted\""` into pairs.
fn parse_labels(mut text: &str) -> Option<Vec<(String, String)>> {
    let mut labels = Vec::new();
    while !text.is_empty() {
        let (key, rest) = text.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((key.trim_start_matches(',').to_owned(), value));
        text = rest[end + 1..].trim_start_matches(',');
    }
    Some(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# TYPE tickstream_connector_events_total counter
tickstream_connector_events_total{exchange="binance",kind="trade"} 10
tickstream_connector_events_total{exchange="binance",kind="quote"} 5
tickstream_connector_events_total{exchange="kraken",kind="trade"} 2

# TYPE tickstream_kafka_consumer_lag gauge
tickstream_kafka_consumer_lag{topic="t",partition="0"} 3
tickstream_kafka_consumer_lag{topic="t",partition="1"} 4.5
tickstream_lake_files_committed_total 7
tickstream_end_to_end_latency_seconds{quantile="0.99"} 0.004
odd{reason="say \"hi\", ok"} 1
not a sample
"#;

    #[test]
    fn sums_by_name_and_label() {
        let s = Samples::parse(TEXT);
        assert_eq!(s.total("tickstream_connector_events_total"), 17.0);
        assert_eq!(
            s.total_where("tickstream_connector_events_total", "kind", "trade"),
            12.0
        );
        let by = s.by_label("tickstream_connector_events_total", "exchange");
        assert_eq!(by["binance"], 15.0);
        assert_eq!(by["kraken"], 2.0);
        assert_eq!(s.total("tickstream_kafka_consumer_lag"), 7.5);
        assert_eq!(s.total("tickstream_lake_files_committed_total"), 7.0);
        assert_eq!(
            s.total_where("tickstream_end_to_end_latency_seconds", "quantile", "0.99"),
            0.004
        );
        assert!(!s.has("missing"));
    }

    #[test]
    fn reads_escaped_label_values_and_skips_what_is_not_a_sample() {
        let s = Samples::parse(TEXT);
        let odd: Vec<_> = s.series("odd").collect();
        assert_eq!(odd.len(), 1);
        assert_eq!(odd[0].label("reason"), Some("say \"hi\", ok"));
        assert_eq!(s.series("not").count(), 0);
    }
}
