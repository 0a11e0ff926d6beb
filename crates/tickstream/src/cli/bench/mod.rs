//! `tickstream bench`: the whole flow in one process (simulator -> exchange connectors -> Kafka ->
//! bars and indicators -> Parquet lake and cache), first at the highest rate it sustains, then at a fixed
//! moderate rate for the end-to-end latency from `ts_recv` to the cache write. Every figure comes from the
//! pipeline's own metrics; the simulator's pace is the only thing the benchmark turns.

mod recorder;
mod report;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use tickstream_simulator::{Simulator, SimulatorConfig};
use tokio::task::JoinHandle;

use tickstream_engine::dataflow::{self as runtime, RunSummary};

use crate::observe::metric_samples::Samples;
use recorder::{BenchRecorder, Percentiles};
use report::{BenchReport, LatencyPhase, MaxPhase, Stage};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// How long each phase measures (after a warm-up).
    #[arg(long, default_value = "20s", value_parser = tickstream_model::parse_duration)]
    duration: Duration,
    /// Events per second offered in the latency phase.
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..))]
    rate: u64,
    /// Simulated venues (1 to 6: binance, coinbase, kraken, okx, bitstamp, bybit).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(1..=6))]
    venues: u64,
    /// Symbols per venue.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=676))]
    symbols: u64,
    /// Kafka backlog (events produced to Kafka and not yet consumed) at which the highest-rate phase
    /// pauses the simulator until the consumer catches up: what the pipeline sustains, rather than what
    /// piles up in the broker (the embedded one keeps only a few MB per partition and drops the rest).
    #[arg(long, default_value_t = 20_000)]
    lag_cap: u64,
    /// How often sinks flush and sources commit, as `tickstream run --checkpoint-interval`. Shorter than
    /// the phases, so that the lake's files are written (not only buffered) within each measured window.
    #[arg(long, default_value = "5s", value_parser = tickstream_model::parse_duration)]
    checkpoint_interval: Duration,
}

/// The venues in the order `--venues` takes them, with the quote currency of their symbols and whether
/// their books start from a REST snapshot.
const VENUES: [(&str, &str, bool); 6] = [
    ("binance", "USDT", true),
    ("coinbase", "USD", false),
    ("kraken", "USD", false),
    ("okx", "USDT", false),
    ("bitstamp", "USD", true),
    ("bybit", "USDT", false),
];

/// How long the pipeline may take to have every venue flowing to the sinks.
const WARM_UP_LIMIT: Duration = Duration::from_secs(60);
/// How often the highest-rate phase checks the Kafka backlog. Checked too rarely, a paused simulator
/// leaves the consumer idle once it has taken the backlog in; see docs/benchmarks.md.
const LAG_CHECK: Duration = Duration::from_millis(50);
/// How long the latency phase's pace settles before it is measured (twice: before and after its one
/// correction).
const PACE_SETTLE: Duration = Duration::from_secs(2);
/// A simulator step interval long enough to count as paused.
const PAUSED: Duration = Duration::from_secs(3600);

pub fn bench(args: BenchArgs) -> ExitCode {
    let result = (|| {
        let (handle, capture) = BenchRecorder::install()?;
        let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
        let dir = std::env::temp_dir().join(format!("tickstream-bench-{}", std::process::id()));
        let report = runtime.block_on(run_bench(&args, &handle, &capture, &dir));
        let _ = std::fs::remove_dir_all(&dir);
        report
    })();
    match result {
        Ok(report) => {
            println!("{}", report::render(&report));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Symbol bases `QAA`, `QAB`, ...: made-up instruments no venue lists, so nothing collides with a
/// real one.
fn symbol_base(i: u64) -> String {
    let letter = |n: u64| char::from(b'A' + (n % 26) as u8);
    format!("Q{}{}", letter(i / 26), letter(i))
}

/// The benchmark's pipeline against the simulator at `sim`: topics and group of their own, the lake
/// under `dir`, `${KAFKA_BROKERS}` and `${REDIS_URL}` when set.
fn pipeline_text(sim: &Simulator, venues: u64, symbols: u64, dir: &std::path::Path) -> String {
    let run_id = format!("bench{}", std::process::id());
    let mut text = String::new();
    let chosen = &VENUES[..venues as usize];
    for (venue, quote, rest) in chosen {
        let list: Vec<String> = (0..symbols)
            .map(|i| format!("\"{}-{quote}\"", symbol_base(i)))
            .collect();
        text.push_str(&format!(
            "[sources.{venue}]\nkind = \"exchange\"\nexchange = \"{venue}\"\nsymbols = [{}]\nchannels = [\"trades\", \"bbo\", \"book\"]\nurl = \"{}\"\n",
            list.join(", "),
            sim.ws_url(venue)
        ));
        if *rest {
            text.push_str(&format!("rest_url = \"{}\"\n", sim.rest_url(venue)));
        }
    }
    let inputs: Vec<String> = chosen.iter().map(|(v, _, _)| format!("\"{v}\"")).collect();
    text.push_str(&format!(
        r#"[sinks.bus]
kind = "kafka"
inputs = [{inputs}]
brokers = "${{KAFKA_BROKERS:-}}"
topic_prefix = "{run_id}"

[sources.ticks]
kind = "kafka"
brokers = "${{KAFKA_BROKERS:-}}"
topic_prefix = "{run_id}"
group_id = "{run_id}"
kinds = ["trade", "quote", "book", "status"]
lag_interval = "1s"

[operators.bars]
kind = "time_bars"
inputs = ["ticks"]
intervals = ["1s", "1m"]

[operators.indicators]
kind = "indicators"
inputs = ["bars"]

[sinks.lake]
kind = "parquet"
inputs = ["ticks", "bars", "indicators"]
root = "{lake}"

[sinks.cache]
kind = "cache"
inputs = ["ticks", "bars", "indicators"]
redis_url = "${{REDIS_URL:-}}"
"#,
        inputs = inputs.join(", "),
        lake = dir.join("lake").display().to_string().replace('\\', "/"),
    ));
    text
}

/// Counter readings over a window.
struct Window {
    before: Samples,
    after: Samples,
    seconds: f64,
}

impl Window {
    fn rate(&self, name: &str, label: Option<(&str, &str)>) -> f64 {
        let total = |s: &Samples| match label {
            Some((k, v)) => s.total_where(name, k, v),
            None => s.total(name),
        };
        (total(&self.after) - total(&self.before)).max(0.0) / self.seconds
    }

    fn stage(&self, name: &'static str, metric: &str, label: Option<(&str, &str)>) -> Stage {
        let unit = if metric.ends_with("bytes_written_total") {
            "bytes/s"
        } else if metric.contains("frames") {
            "frames/s"
        } else if metric.contains("rows") {
            "rows/s"
        } else {
            "events/s"
        };
        Stage {
            name,
            per_sec: self.rate(metric, label),
            unit,
        }
    }
}

/// Events produced to Kafka and not yet consumed, from the sink's and the source's counters (the
/// consumer-lag gauge comes from broker statistics, which the embedded cluster does not always fill in).
fn backlog(s: &Samples) -> f64 {
    let produced = s.total_where("tickstream_sink_events_total", "sink", "bus");
    let consumed = s.total_where("tickstream_node_events_total", "node", "ticks");
    (produced - consumed).max(0.0)
}

/// Fails when the pipeline has stopped (it never ends by itself here).
fn check_running(
    running: &JoinHandle<Result<RunSummary, tickstream_engine::Error>>,
) -> anyhow::Result<()> {
    if running.is_finished() {
        anyhow::bail!("the pipeline stopped during the benchmark (see the log above)");
    }
    Ok(())
}

async fn run_bench(
    args: &BenchArgs,
    handle: &PrometheusHandle,
    capture: &recorder::LatencyCapture,
    dir: &std::path::Path,
) -> anyhow::Result<BenchReport> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let sim = Simulator::start(SimulatorConfig {
        seed: 7,
        tick: Duration::ZERO,
        ..SimulatorConfig::default()
    })
    .await?;
    let text = pipeline_text(&sim, args.venues, args.symbols, dir);
    let pipeline =
        tickstream_engine::pipeline::parse("bench", &text, &|name| std::env::var(name).ok())
            .map_err(|errors| {
                let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
                anyhow::anyhow!("the benchmark pipeline: {}", list.join("; "))
            })?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let options = runtime::RunOptions {
        checkpoint_interval: args.checkpoint_interval,
        ..runtime::RunOptions::default()
    };
    let mut running = tokio::spawn(runtime::run(pipeline, options, stop_rx));

    warm_up(args, handle, &sim, &running).await?;
    let max = max_phase(args, handle, &sim, &running).await?;
    let latency = latency_phase(args, handle, capture, &sim, &running, &max).await?;

    let _ = stop_tx.send(true);
    match tokio::time::timeout(Duration::from_secs(120), &mut running).await {
        Ok(done) => {
            done.context("the pipeline task")??;
        }
        Err(_) => anyhow::bail!("the pipeline did not drain within 120 s of the stop"),
    }
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    Ok(BenchReport {
        venues: args.venues as usize,
        symbols: args.symbols as usize,
        checkpoint_interval: args.checkpoint_interval,
        broker: env("KAFKA_BROKERS").unwrap_or_else(|| "embedded (in-process)".into()),
        cache: env("REDIS_URL").map_or_else(|| "embedded".into(), |_| "Redis".into()),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        max: max.phase,
        latency,
        peak_rss_bytes: report::peak_rss_bytes(),
    })
}

/// Waits until every venue's connector has sent events and both end sinks have written some. The
/// simulator is held to the same Kafka backlog as in the highest-rate phase: until the consumer has joined
/// its group, nothing is consumed, and an unheld simulator would flood the pipeline with more than it
/// sustains.
async fn warm_up(
    args: &BenchArgs,
    handle: &PrometheusHandle,
    sim: &Simulator,
    running: &JoinHandle<Result<RunSummary, tickstream_engine::Error>>,
) -> anyhow::Result<()> {
    let venues = args.venues as usize;
    let started = Instant::now();
    loop {
        check_running(running)?;
        let s = Samples::read(handle);
        let hold = backlog(&s) > args.lag_cap as f64;
        sim.set_tick(if hold { PAUSED } else { Duration::ZERO });
        let flowing = s.by_label("tickstream_connector_events_total", "exchange");
        let sinks = ["lake", "cache"]
            .iter()
            .all(|sink| s.total_where("tickstream_sink_events_total", "sink", sink) > 0.0);
        if flowing.values().filter(|n| **n > 0.0).count() >= venues && sinks {
            return Ok(());
        }
        if started.elapsed() > WARM_UP_LIMIT {
            anyhow::bail!(
                "after {WARM_UP_LIMIT:?}, {} of {venues} venues send events and the sinks have{} written",
                flowing.len(),
                if sinks { "" } else { " not" }
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The highest-rate phase and the events per simulator step it saw.
struct MaxResult {
    phase: MaxPhase,
    events_per_step: f64,
}

async fn max_phase(
    args: &BenchArgs,
    handle: &PrometheusHandle,
    sim: &Simulator,
    running: &JoinHandle<Result<RunSummary, tickstream_engine::Error>>,
) -> anyhow::Result<MaxResult> {
    let (before, cpu_before, steps_before) = (
        Samples::read(handle),
        report::cpu_by_thread(),
        sim.steps_taken(),
    );
    let started = Instant::now();
    let mut paused = Duration::ZERO;
    while started.elapsed() < args.duration {
        check_running(running)?;
        let pause = backlog(&Samples::read(handle)) > args.lag_cap as f64;
        sim.set_tick(if pause { PAUSED } else { Duration::ZERO });
        tokio::time::sleep(LAG_CHECK).await;
        if pause {
            paused += LAG_CHECK;
        }
    }
    let window = Window {
        after: Samples::read(handle),
        before,
        seconds: started.elapsed().as_secs_f64(),
    };
    let cpu = report::cpu_between(&cpu_before, &report::cpu_by_thread(), started.elapsed());
    sim.set_tick(PAUSED);
    let steps = sim.steps_taken().saturating_sub(steps_before).max(1);
    let connector_events = window.rate("tickstream_connector_events_total", None);
    let sink = |name| window.rate("tickstream_sink_events_total", Some(("sink", name)));
    let delta = |name: &str| (window.after.total(name) - window.before.total(name)).max(0.0) as u64;
    let stages = vec![
        window.stage(
            "simulator to connectors",
            "tickstream_connector_frames_total",
            None,
        ),
        window.stage("connectors", "tickstream_connector_events_total", None),
        window.stage(
            "kafka produce",
            "tickstream_sink_events_total",
            Some(("sink", "bus")),
        ),
        window.stage(
            "kafka consume",
            "tickstream_node_events_total",
            Some(("node", "ticks")),
        ),
        window.stage(
            "bars",
            "tickstream_node_events_total",
            Some(("node", "bars")),
        ),
        window.stage(
            "indicators",
            "tickstream_node_events_total",
            Some(("node", "indicators")),
        ),
        window.stage(
            "parquet sink",
            "tickstream_sink_events_total",
            Some(("sink", "lake")),
        ),
        window.stage("parquet rows", "tickstream_lake_rows_written_total", None),
        window.stage("parquet files", "tickstream_lake_bytes_written_total", None),
        window.stage(
            "cache sink",
            "tickstream_sink_events_total",
            Some(("sink", "cache")),
        ),
    ];
    let after = &window.after;
    Ok(MaxResult {
        events_per_step: connector_events * window.seconds / steps as f64,
        phase: MaxPhase {
            seconds: window.seconds,
            sustained: sink("lake").min(sink("cache")),
            stages,
            backlog_at_end: backlog(after) as u64,
            lag_cap: args.lag_cap,
            paused_share: paused.as_secs_f64() / window.seconds.max(1e-9),
            connector_waits: delta("tickstream_connector_backpressure_total"),
            producer_waits: delta("tickstream_kafka_backpressure_total"),
            cpu,
        },
    })
}

async fn latency_phase(
    args: &BenchArgs,
    handle: &PrometheusHandle,
    capture: &recorder::LatencyCapture,
    sim: &Simulator,
    running: &JoinHandle<Result<RunSummary, tickstream_engine::Error>>,
    max: &MaxResult,
) -> anyhow::Result<LatencyPhase> {
    // Drain the first phase's backlog while paused, so that no event waits behind it.
    let drain_limit = args.duration * 3 + Duration::from_secs(30);
    let started = Instant::now();
    loop {
        check_running(running)?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        if backlog(&Samples::read(handle)) < 1000.0 || started.elapsed() > drain_limit {
            break;
        }
    }
    let tick = Duration::from_secs_f64(max.events_per_step.max(1.0) / args.rate as f64);
    sim.set_tick(tick);
    // Let the pace settle, then correct it once by the rate it gave (the events per step seen in the
    // first phase are an estimate), and let it settle again before measuring.
    let settling = Window {
        before: Samples::read(handle),
        after: {
            tokio::time::sleep(PACE_SETTLE).await;
            Samples::read(handle)
        },
        seconds: PACE_SETTLE.as_secs_f64(),
    };
    let measured = settling.rate("tickstream_connector_events_total", None);
    if measured > 0.0 {
        sim.set_tick(tick.mul_f64(measured / args.rate as f64));
    }
    tokio::time::sleep(PACE_SETTLE).await;
    check_running(running)?;
    let before = Samples::read(handle);
    let started = Instant::now();
    // Room for the events offered over the window, and a tenth more.
    capture.start((args.rate as f64 * args.duration.as_secs_f64() * 1.1) as usize);
    tokio::time::sleep(args.duration).await;
    let samples = capture.stop();
    let window = Window {
        after: Samples::read(handle),
        before,
        seconds: started.elapsed().as_secs_f64(),
    };
    check_running(running)?;
    let flush = |part: &str| {
        let name = format!("tickstream_sink_flush_seconds_{part}");
        let total = |s: &Samples| s.total_where(&name, "sink", "lake");
        (total(&window.after) - total(&window.before)).max(0.0)
    };
    let flushes = flush("count");
    Ok(LatencyPhase {
        seconds: window.seconds,
        target: args.rate,
        offered: window.rate("tickstream_connector_events_total", None),
        latency: Percentiles::of(samples),
        lake_flushes: (flushes as u64, flush("sum") / flushes.max(1.0)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_bases_are_distinct_letters() {
        let bases: std::collections::BTreeSet<String> = (0..676).map(symbol_base).collect();
        assert_eq!(bases.len(), 676);
        assert_eq!(symbol_base(0), "QAA");
        assert_eq!(symbol_base(27), "QBB");
        assert!(
            bases
                .iter()
                .all(|b| b.len() == 3 && b.bytes().all(|c| c.is_ascii_uppercase()))
        );
    }
}
