//! What `tickstream run` shows while it runs and when it ends: a status snapshot and an end report, both
//! built from the process's metrics (the same counters `GET /metrics` serves), and their text. Rendering
//! reads no clock: times come in with the snapshot.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use tickstream_model::EventKind;

use tickstream_engine::dataflow::ServedApi;
use tickstream_engine::pipeline::SinkSpec;

use super::metric_samples::Samples;

/// One venue's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct VenueStatus {
    pub exchange: String,
    pub events: u64,
    pub events_per_sec: f64,
    pub reconnects: u64,
    pub gaps: u64,
}

/// One sink's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkStatus {
    pub sink: String,
    pub events: u64,
    pub events_per_sec: f64,
}

/// The run's figures at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusSnapshot {
    pub elapsed: Duration,
    /// Events each sink has written, and their rate since the previous snapshot.
    pub sinks: Vec<SinkStatus>,
    pub venues: Vec<VenueStatus>,
    /// Summed over the partitions read; absent when the run reads no Kafka topic.
    pub consumer_lag: Option<u64>,
    pub bars: u64,
    pub signals: u64,
    pub parquet_files: u64,
    pub apis: Vec<ServedApi>,
}

fn count(v: f64) -> u64 {
    if v.is_finite() && v > 0.0 {
        v.round() as u64
    } else {
        0
    }
}

fn rate(now: f64, before: f64, interval: Duration) -> f64 {
    if interval.is_zero() {
        0.0
    } else {
        (now - before).max(0.0) / interval.as_secs_f64()
    }
}

impl StatusSnapshot {
    /// The snapshot for `now`; rates are over `interval` since `before`, in which a series not yet
    /// present counts as zero (zero rates without `before`).
    pub fn from_samples(
        now: &Samples,
        before: Option<&Samples>,
        interval: Duration,
        elapsed: Duration,
        apis: Vec<ServedApi>,
    ) -> StatusSnapshot {
        let (before, interval) = match before {
            Some(b) => (b, interval),
            None => (now, Duration::ZERO),
        };
        let events = now.by_label("tickstream_connector_events_total", "exchange");
        let events_before = before.by_label("tickstream_connector_events_total", "exchange");
        let reconnects = now.by_label("tickstream_connector_reconnects_total", "exchange");
        let gaps = now.by_label("tickstream_connector_gaps_total", "exchange");
        let venues = events
            .iter()
            .map(|(exchange, n)| VenueStatus {
                exchange: exchange.clone(),
                events: count(*n),
                events_per_sec: rate(
                    *n,
                    events_before.get(exchange).copied().unwrap_or_default(),
                    interval,
                ),
                reconnects: count(reconnects.get(exchange).copied().unwrap_or_default()),
                gaps: count(gaps.get(exchange).copied().unwrap_or_default()),
            })
            .collect();
        let sink_before = before.by_label("tickstream_sink_events_total", "sink");
        let sinks = now
            .by_label("tickstream_sink_events_total", "sink")
            .into_iter()
            .map(|(sink, n)| SinkStatus {
                events: count(n),
                events_per_sec: rate(
                    n,
                    sink_before.get(&sink).copied().unwrap_or_default(),
                    interval,
                ),
                sink,
            })
            .collect();
        let lag = "tickstream_kafka_consumer_lag";
        StatusSnapshot {
            elapsed,
            sinks,
            venues,
            consumer_lag: now.has(lag).then(|| count(now.total(lag))),
            bars: count(now.total_where("tickstream_node_events_total", "kind", "bar")),
            signals: count(now.total_where("tickstream_node_events_total", "kind", "signal")),
            parquet_files: count(
                now.total("tickstream_lake_files_committed_total")
                    - now.total("tickstream_lake_files_replaced_total"),
            ),
            apis,
        }
    }
}

/// `h:mm:ss`.
pub fn clock_text(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// The multi-line panel redrawn in place on a terminal.
pub fn render_panel(s: &StatusSnapshot) -> String {
    let mut out = format!("tickstream {}", clock_text(s.elapsed));
    if !s.venues.is_empty() {
        let _ = write!(
            out,
            "\n  {:<18} {:>10} {:>12} {:>11} {:>6}",
            "venue", "events/s", "events", "reconnects", "gaps"
        );
        for v in &s.venues {
            let _ = write!(
                out,
                "\n  {:<18} {:>10.0} {:>12} {:>11} {:>6}",
                v.exchange, v.events_per_sec, v.events, v.reconnects, v.gaps
            );
        }
    }
    out.push_str("\n  ");
    out.push_str(&outputs_text(s));
    if !s.sinks.is_empty() {
        let _ = write!(out, "\n  sinks wrote {}", sinks_text(s));
    }
    for api in &s.apis {
        let _ = write!(out, "\n  API http://{}", api.listen);
        if let Some(key) = &api.demo_key {
            let _ = write!(out, " · demo key {key}");
        }
    }
    out
}

/// The one line printed every few seconds when standard error is not a terminal.
pub fn render_line(s: &StatusSnapshot) -> String {
    let mut out = format!("status {}", clock_text(s.elapsed));
    if !s.sinks.is_empty() {
        let _ = write!(out, ": sinks wrote {}", sinks_text(s));
    }
    if !s.venues.is_empty() {
        let venues: Vec<String> = s
            .venues
            .iter()
            .map(|v| {
                format!(
                    "{} {:.0}/s ({} reconnects, {} gaps)",
                    v.exchange, v.events_per_sec, v.reconnects, v.gaps
                )
            })
            .collect();
        let _ = write!(out, "; {}", venues.join(", "));
    }
    let _ = write!(out, "; {}", outputs_text(s));
    for api in &s.apis {
        let _ = write!(out, "; API http://{}", api.listen);
    }
    out
}

/// `lake 120 (10/s), cache 120 (10/s)`.
fn sinks_text(s: &StatusSnapshot) -> String {
    s.sinks
        .iter()
        .map(|k| format!("{} {} ({:.0}/s)", k.sink, k.events, k.events_per_sec))
        .collect::<Vec<_>>()
        .join(", ")
}

fn outputs_text(s: &StatusSnapshot) -> String {
    let lag = match s.consumer_lag {
        Some(lag) => format!("kafka lag {lag} · "),
        None => String::new(),
    };
    format!(
        "{lag}bars {} · signals {} · parquet files {}",
        s.bars, s.signals, s.parquet_files
    )
}

/// Where a run's Kafka sink wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicsWritten {
    /// Empty for the embedded cluster.
    pub brokers: String,
    pub topics: Vec<String>,
}

/// Where a pipeline writes, noted before it runs: the first Parquet sink's root, and each Kafka sink's
/// brokers, topic prefix and inputs.
#[derive(Debug, Clone, Default)]
pub struct Places {
    lake_root: Option<String>,
    kafka: Vec<(String, tickstream_io::kafka::Topics, Vec<String>)>,
}

impl Places {
    pub fn of(pipeline: &tickstream_engine::pipeline::Pipeline) -> Places {
        let mut places = Places::default();
        for sink in &pipeline.sinks {
            match &sink.spec {
                SinkSpec::Parquet(c) if places.lake_root.is_none() => {
                    places.lake_root = Some(c.root.display().to_string())
                }
                SinkSpec::Kafka(c) => places.kafka.push((
                    c.brokers.clone().unwrap_or_default(),
                    tickstream_io::kafka::Topics::new(&c.topic_prefix),
                    sink.inputs.clone(),
                )),
                _ => {}
            }
        }
        places
    }

    /// The end report: the topics listed are those of the kinds the Kafka sinks' inputs emitted.
    pub fn report(&self, samples: &Samples, duration: Duration, apis: Vec<ServedApi>) -> RunReport {
        let mut report =
            RunReport::from_samples(samples, duration, self.lake_root.clone(), Vec::new(), apis);
        for (brokers, topics, inputs) in &self.kafka {
            let kinds: std::collections::BTreeSet<EventKind> = inputs
                .iter()
                .filter_map(|i| report.by_node.get(i))
                .flat_map(|kinds| kinds.keys())
                .filter_map(|k| EventKind::ALL.into_iter().find(|e| e.as_str() == k))
                .collect();
            report.topics.push(TopicsWritten {
                brokers: brokers.clone(),
                topics: kinds.iter().map(|k| topics.topic(*k).to_owned()).collect(),
            });
        }
        report
    }
}

/// What the end summary says.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    pub duration: Duration,
    /// Events each source and operator emitted, by kind.
    pub by_node: BTreeMap<String, BTreeMap<String, u64>>,
    /// The first Parquet sink's root, as configured.
    pub lake_root: Option<String>,
    /// Files and rows committed to the lake, by dataset.
    pub lake_files: BTreeMap<String, u64>,
    pub lake_rows: BTreeMap<String, u64>,
    pub topics: Vec<TopicsWritten>,
    pub apis: Vec<ServedApi>,
}

impl RunReport {
    /// The figures from the metrics; the places from the pipeline, given by the caller.
    pub fn from_samples(
        samples: &Samples,
        duration: Duration,
        lake_root: Option<String>,
        topics: Vec<TopicsWritten>,
        apis: Vec<ServedApi>,
    ) -> RunReport {
        let mut by_node: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for s in samples.series("tickstream_node_events_total") {
            if let (Some(node), Some(kind)) = (s.label("node"), s.label("kind")) {
                *by_node
                    .entry(node.to_owned())
                    .or_default()
                    .entry(kind.to_owned())
                    .or_default() += count(s.value);
            }
        }
        let counts = |name| {
            samples
                .by_label(name, "dataset")
                .into_iter()
                .map(|(k, v)| (k, count(v)))
                .collect()
        };
        // Segments merged into one file at a roll are replaced: they count as files no longer.
        let mut lake_files: BTreeMap<String, u64> = counts("tickstream_lake_files_committed_total");
        for (dataset, replaced) in counts("tickstream_lake_files_replaced_total") {
            if let Some(files) = lake_files.get_mut(&dataset) {
                *files = files.saturating_sub(replaced);
            }
        }
        RunReport {
            duration,
            by_node,
            lake_root,
            lake_files,
            lake_rows: counts("tickstream_lake_rows_written_total"),
            topics,
            apis,
        }
    }

    /// A query over the written lake: bars when there are any, else trades, else the first dataset with
    /// files.
    pub fn lake_query(&self) -> Option<String> {
        let root = self.lake_root.as_ref()?;
        let has = |d: &str| self.lake_files.get(d).is_some_and(|n| *n > 0);
        let from = |d: &str| {
            format!(
                "FROM read_parquet('{}/{d}/**/*.parquet', hive_partitioning = true)",
                root.trim_end_matches('/').replace('\'', "''")
            )
        };
        let tail = "GROUP BY ALL ORDER BY ALL;";
        if has("bars") {
            return Some(format!(
                "SELECT exchange, symbol, \"interval\", count(*) AS bars, min(low) AS low, max(high) AS high, sum(trades) AS trades {} {tail}",
                from("bars")
            ));
        }
        if has("trades") {
            return Some(format!(
                "SELECT exchange, symbol, count(*) AS trades, min(price) AS low, max(price) AS high {} {tail}",
                from("trades")
            ));
        }
        let (dataset, _) = self.lake_files.iter().find(|(_, n)| **n > 0)?;
        Some(format!(
            "SELECT exchange, symbol, count(*) AS n {} {tail}",
            from(dataset)
        ))
    }
}

fn kinds_text(kinds: &BTreeMap<String, u64>) -> String {
    kinds
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The summary printed when a run ends.
pub fn render_summary(r: &RunReport) -> String {
    let mut out = format!("ran for {}", clock_text(r.duration));
    if !r.by_node.is_empty() {
        out.push_str("\nevents by node and kind:");
        for (node, kinds) in &r.by_node {
            let total: u64 = kinds.values().sum();
            let _ = write!(out, "\n  {node:<16} {total:>10}  {}", kinds_text(kinds));
        }
    }
    if let Some(root) = &r.lake_root {
        let files: u64 = r.lake_files.values().sum();
        let _ = write!(
            out,
            "\nlake: {root} ({files} Parquet files; rows: {})",
            kinds_text(&r.lake_rows)
        );
    }
    for t in &r.topics {
        let brokers = if t.brokers.is_empty() {
            "the embedded cluster, gone with the process".to_owned()
        } else {
            t.brokers.clone()
        };
        let _ = write!(out, "\ntopics on {brokers}: {}", t.topics.join(", "));
    }
    for api in &r.apis {
        let _ = write!(out, "\nAPI was on http://{}", api.listen);
    }
    if let Some(query) = r.lake_query() {
        out.push_str(
            "\ntry the lake in DuckDB (duckdb shell or Python duckdb.sql), from this directory:\n",
        );
        out.push_str(&query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(text: &str) -> Samples {
        Samples::parse(text)
    }

    const BEFORE: &str = r#"tickstream_connector_events_total{exchange="binance",kind="trade"} 100
tickstream_connector_events_total{exchange="binance",kind="quote"} 100
tickstream_sink_events_total{sink="lake"} 150
"#;

    const NOW: &str = r#"tickstream_connector_events_total{exchange="binance",kind="trade"} 300
tickstream_connector_events_total{exchange="binance",kind="quote"} 400
tickstream_connector_events_total{exchange="kraken",kind="trade"} 20
tickstream_connector_reconnects_total{exchange="binance"} 2
tickstream_connector_gaps_total{exchange="kraken"} 1
tickstream_sink_events_total{sink="lake"} 650
tickstream_sink_events_total{sink="cache"} 500
tickstream_kafka_consumer_lag{topic="tickstream.trades.v1",partition="0"} 5
tickstream_kafka_consumer_lag{topic="tickstream.quotes.v1",partition="1"} 7
tickstream_node_events_total{node="bars",kind="bar"} 12
tickstream_node_events_total{node="signals",kind="signal"} 3
tickstream_node_events_total{node="binance",kind="trade"} 300
tickstream_node_events_total{node="binance",kind="quote"} 400
tickstream_lake_files_committed_total{dataset="bars"} 2
tickstream_lake_files_committed_total{dataset="trades"} 4
tickstream_lake_rows_written_total{dataset="bars"} 12
tickstream_lake_rows_written_total{dataset="trades"} 300
"#;

    fn api() -> ServedApi {
        ServedApi {
            listen: "127.0.0.1:8080".parse().unwrap(),
            demo_key: Some("ts_demo_key".into()),
        }
    }

    fn snapshot() -> StatusSnapshot {
        StatusSnapshot::from_samples(
            &samples(NOW),
            Some(&samples(BEFORE)),
            Duration::from_secs(2),
            Duration::from_secs(3725),
            vec![api()],
        )
    }

    #[test]
    fn snapshot_takes_rates_and_totals_from_the_metrics() {
        let s = snapshot();
        // The cache sink had no series before: it counted from zero.
        assert_eq!(
            s.sinks,
            vec![
                SinkStatus {
                    sink: "cache".into(),
                    events: 500,
                    events_per_sec: 250.0
                },
                SinkStatus {
                    sink: "lake".into(),
                    events: 650,
                    events_per_sec: 250.0
                },
            ]
        );
        assert_eq!(s.venues.len(), 2);
        assert_eq!(
            s.venues[0],
            VenueStatus {
                exchange: "binance".into(),
                events: 700,
                events_per_sec: 250.0,
                reconnects: 2,
                gaps: 0
            }
        );
        assert_eq!(
            s.venues[1].events_per_sec, 10.0,
            "no earlier series: from zero"
        );
        assert_eq!(s.venues[1].gaps, 1);
        assert_eq!(s.consumer_lag, Some(12));
        assert_eq!((s.bars, s.signals, s.parquet_files), (12, 3, 6));
    }

    #[test]
    fn panel_and_line_show_venues_lag_outputs_and_the_api() {
        let s = snapshot();
        let panel = render_panel(&s);
        assert!(
            panel.contains("\n  sinks wrote cache 500 (250/s), lake 650 (250/s)\n"),
            "{panel}"
        );
        assert!(panel.starts_with("tickstream 1:02:05\n  venue"), "{panel}");
        assert!(
            panel
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>()
                    == ["binance", "250", "700", "2", "0"]),
            "{panel}"
        );
        assert!(
            panel.contains("kafka lag 12 · bars 12 · signals 3 · parquet files 6"),
            "{panel}"
        );
        assert!(
            panel.contains("API http://127.0.0.1:8080 · demo key ts_demo_key"),
            "{panel}"
        );
        let line = render_line(&s);
        assert_eq!(line.lines().count(), 1);
        assert!(line.starts_with("status 1:02:05: sinks wrote cache 500 (250/s), lake 650 (250/s); binance 250/s (2 reconnects, 0 gaps), kraken 10/s (0 reconnects, 1 gaps); kafka lag 12"), "{line}");
        assert!(line.ends_with("; API http://127.0.0.1:8080"), "{line}");
    }

    #[test]
    fn a_pipeline_without_venues_or_kafka_shows_its_outputs_only() {
        let s = StatusSnapshot::from_samples(
            &samples("tickstream_sink_events_total{sink=\"out\"} 4\n"),
            None,
            Duration::from_secs(1),
            Duration::from_secs(1),
            Vec::new(),
        );
        assert_eq!(
            render_panel(&s),
            "tickstream 0:00:01\n  bars 0 · signals 0 · parquet files 0\n  sinks wrote out 4 (0/s)"
        );
    }

    #[test]
    fn summary_names_counts_places_and_a_query() {
        let report = RunReport::from_samples(
            &samples(NOW),
            Duration::from_secs(10),
            Some("data/lake".into()),
            vec![TopicsWritten {
                brokers: String::new(),
                topics: vec!["tickstream.trades.v1".into()],
            }],
            vec![api()],
        );
        let text = render_summary(&report);
        assert!(text.starts_with("ran for 0:00:10\n"), "{text}");
        assert!(
            text.contains("\n  binance                 700  quote 400, trade 300"),
            "{text}"
        );
        assert!(
            text.contains("\nlake: data/lake (6 Parquet files; rows: bars 12, trades 300)"),
            "{text}"
        );
        assert!(
            text.contains(
                "topics on the embedded cluster, gone with the process: tickstream.trades.v1"
            ),
            "{text}"
        );
        assert!(text.contains("API was on http://127.0.0.1:8080"), "{text}");
        assert!(text.ends_with("FROM read_parquet('data/lake/bars/**/*.parquet', hive_partitioning = true) GROUP BY ALL ORDER BY ALL;"), "{text}");
    }

    #[test]
    fn the_query_falls_back_to_trades_then_any_dataset_and_quotes_the_root() {
        let mut report = RunReport::from_samples(
            &Samples::default(),
            Duration::ZERO,
            Some("it's/lake/".into()),
            Vec::new(),
            Vec::new(),
        );
        assert_eq!(report.lake_query(), None, "no files, no query");
        report.lake_files.insert("quotes".into(), 1);
        let q = report.lake_query().unwrap();
        assert!(
            q.contains("read_parquet('it''s/lake/quotes/**/*.parquet'"),
            "{q}"
        );
        report.lake_files.insert("trades".into(), 1);
        assert!(report.lake_query().unwrap().contains("min(price) AS low"));
        report.lake_root = None;
        assert_eq!(report.lake_query(), None);
    }
}
