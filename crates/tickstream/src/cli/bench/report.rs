//! The benchmark's figures and their text, and what it reads from `/proc`: peak resident memory
//! (`VmHWM`) and CPU time by thread name, which shows where the time goes.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use super::recorder::Percentiles;

/// One stage's throughput over the measured window.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub name: &'static str,
    pub per_sec: f64,
    pub unit: &'static str,
}

/// The highest-rate phase.
#[derive(Debug, Clone, PartialEq)]
pub struct MaxPhase {
    pub seconds: f64,
    /// Events per second written by every end sink (the slowest of them).
    pub sustained: f64,
    pub stages: Vec<Stage>,
    /// Events produced to Kafka and not yet consumed when the window closed, and the backlog at which
    /// the simulator is paused.
    pub backlog_at_end: u64,
    pub lag_cap: u64,
    /// Share of the window the simulator was paused because the Kafka backlog reached the cap.
    pub paused_share: f64,
    /// Times a connector waited for room downstream, and the Kafka producer for buffer room.
    pub connector_waits: u64,
    pub producer_waits: u64,
    /// CPU used by thread name, in cores (1.0 = one core busy the whole window).
    pub cpu: Vec<(String, f64)>,
}

/// The fixed-rate phase.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyPhase {
    pub seconds: f64,
    pub target: u64,
    pub offered: f64,
    /// Seconds from `ts_recv` to the cache write.
    pub latency: Option<Percentiles>,
    /// The lake sink's checkpoint flushes in the window: how many, and their mean seconds.
    pub lake_flushes: (u64, f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    pub venues: usize,
    pub symbols: usize,
    pub checkpoint_interval: Duration,
    pub broker: String,
    pub cache: String,
    pub cores: usize,
    pub max: MaxPhase,
    pub latency: LatencyPhase,
    pub peak_rss_bytes: Option<u64>,
}

fn ms(seconds: f64) -> String {
    format!("{:.3} ms", seconds * 1000.0)
}

pub fn render(r: &BenchReport) -> String {
    let m = &r.max;
    let mut out = format!(
        "tickstream bench: {} venues x {} symbols; checkpoints every {:?}; broker: {}; cache: {}; {} cores",
        r.venues, r.symbols, r.checkpoint_interval, r.broker, r.cache, r.cores
    );
    let _ = write!(
        out,
        "\nphase 1: highest rate for {:.1} s (simulator paused while the Kafka backlog is over {} events)",
        m.seconds, m.lag_cap
    );
    let _ = write!(
        out,
        "\n  sustained: {:.0} events/s (taken in by both end sinks, lake and cache)",
        m.sustained
    );
    for s in &m.stages {
        let _ = write!(out, "\n  stage {}: {:.0} {}", s.name, s.per_sec, s.unit);
    }
    let _ = write!(
        out,
        "\n  kafka backlog at end: {} events; simulator paused {:.0}% of the time",
        m.backlog_at_end,
        m.paused_share * 100.0
    );
    let _ = write!(
        out,
        "\n  waits for room: connectors {}, kafka producer {}",
        m.connector_waits, m.producer_waits
    );
    let cpu: Vec<String> = m
        .cpu
        .iter()
        .map(|(name, cores)| format!("{name} {cores:.2}"))
        .collect();
    let _ = write!(out, "\n  cpu by thread (cores): {}", cpu.join(", "));
    let l = &r.latency;
    let _ = write!(
        out,
        "\nphase 2: {} events/s target for {:.1} s\n  offered: {:.0} events/s",
        l.target, l.seconds, l.offered
    );
    match &l.latency {
        Some(p) => {
            let _ = write!(
                out,
                "\n  latency ts_recv to cache write: p50 {}, p95 {}, p99 {}, max {} ({} events)",
                ms(p.p50),
                ms(p.p95),
                ms(p.p99),
                ms(p.max),
                p.count
            );
        }
        None => out.push_str("\n  latency ts_recv to cache write: no events reached the cache"),
    }
    let _ = write!(
        out,
        "\n  lake flushes at checkpoints: {}, {} each on average",
        l.lake_flushes.0,
        ms(l.lake_flushes.1)
    );
    match r.peak_rss_bytes {
        Some(b) => {
            let _ = write!(out, "\npeak RSS: {:.1} MiB", b as f64 / (1024.0 * 1024.0));
        }
        None => out.push_str("\npeak RSS: unknown (no /proc/self/status)"),
    }
    out
}

/// `VmHWM` of `/proc/self/status`, in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm(&status)
}

fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CPU seconds used so far by this process's threads, summed by thread name (trailing digits and
/// separators dropped, so that a pool's threads add up).
pub fn cpu_by_thread() -> BTreeMap<String, f64> {
    let mut by_name = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return by_name;
    };
    for task in tasks.flatten() {
        if let Ok(stat) = std::fs::read_to_string(task.path().join("stat"))
            && let Some((name, seconds)) = parse_task_stat(&stat)
        {
            *by_name.entry(name).or_default() += seconds;
        }
    }
    by_name
}

/// Linux reports thread CPU times in units of 1/100 s (`USER_HZ`).
const USER_HZ: f64 = 100.0;

/// The thread's pool name and its user plus system CPU seconds.
fn parse_task_stat(stat: &str) -> Option<(String, f64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat[open + 1..close]
        .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '#' || c == ':')
        .to_owned();
    // After the name: state is field 3; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((name, (utime + stime) / USER_HZ))
}

/// CPU cores used by each thread name between two readings over `window`, busiest first.
pub fn cpu_between(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
    window: Duration,
) -> Vec<(String, f64)> {
    let secs = window.as_secs_f64().max(1e-9);
    let mut cores: Vec<(String, f64)> = after
        .iter()
        .map(|(name, t)| {
            let used = t - before.get(name).copied().unwrap_or_default();
            (name.clone(), used.max(0.0) / secs)
        })
        .filter(|(_, c)| *c >= 0.01)
        .collect();
    cores.sort_by(|a, b| b.1.total_cmp(&a.1));
    cores
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_peak_rss_and_thread_times() {
        let status =
            "Name:\ttickstream\nVmPeak:\t 300000 kB\nVmHWM:\t  123456 kB\nVmRSS:\t 100 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(123456 * 1024));
        assert_eq!(parse_vm_hwm("Name: x\n"), None);
        let stat = "4242 (tokio-runtime-w) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        assert_eq!(
            parse_task_stat(stat),
            Some(("tokio-runtime-w".to_owned(), 3.0))
        );
        let stat = "17 (rdk:broker1 (x)) R 1 2 3 4 5 6 7 8 9 10 100 0 0 0";
        assert_eq!(parse_task_stat(stat).unwrap().1, 1.0);
    }

    #[test]
    fn cpu_between_readings_in_cores_busiest_first() {
        let before = BTreeMap::from([("a".to_owned(), 1.0), ("b".to_owned(), 0.0)]);
        let after = BTreeMap::from([
            ("a".to_owned(), 2.0),
            ("b".to_owned(), 3.0),
            ("c".to_owned(), 0.001),
        ]);
        let cores = cpu_between(&before, &after, Duration::from_secs(2));
        assert_eq!(cores, vec![("b".to_owned(), 1.5), ("a".to_owned(), 0.5)]);
    }

    #[test]
    fn the_report_names_every_figure() {
        let report = BenchReport {
            venues: 6,
            symbols: 100,
            checkpoint_interval: Duration::from_secs(5),
            broker: "embedded".into(),
            cache: "embedded".into(),
            cores: 2,
            max: MaxPhase {
                seconds: 20.0,
                sustained: 123456.4,
                stages: vec![Stage {
                    name: "connectors",
                    per_sec: 150000.0,
                    unit: "events/s",
                }],
                backlog_at_end: 42,
                lag_cap: 20000,
                paused_share: 0.25,
                connector_waits: 3,
                producer_waits: 0,
                cpu: vec![("tokio-runtime-w".into(), 1.5)],
            },
            latency: LatencyPhase {
                seconds: 20.0,
                target: 50000,
                offered: 49000.0,
                latency: Percentiles::of(vec![0.001, 0.002, 0.004]),
                lake_flushes: (4, 0.25),
            },
            peak_rss_bytes: Some(200 * 1024 * 1024),
        };
        let text = render(&report);
        for line in [
            "tickstream bench: 6 venues x 100 symbols; checkpoints every 5s; broker: embedded; cache: embedded; 2 cores",
            "  sustained: 123456 events/s (taken in by both end sinks, lake and cache)",
            "  stage connectors: 150000 events/s",
            "  kafka backlog at end: 42 events; simulator paused 25% of the time",
            "  waits for room: connectors 3, kafka producer 0",
            "  cpu by thread (cores): tokio-runtime-w 1.50",
            "  offered: 49000 events/s",
            "  latency ts_recv to cache write: p50 2.000 ms, p95 4.000 ms, p99 4.000 ms, max 4.000 ms (3 events)",
            "  lake flushes at checkpoints: 4, 250.000 ms each on average",
            "peak RSS: 200.0 MiB",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
        }
    }
}
