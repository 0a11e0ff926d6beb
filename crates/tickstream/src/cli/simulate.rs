//! `tickstream simulate`: the local exchange simulator (Binance spot, Coinbase Advanced Trade, the
//! Coinbase Exchange feed, Kraken, OKX, Bitstamp and Bybit) until Ctrl-C, with an optional fault schedule.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use tickstream_engine::pipeline::{ConfigError, Pipeline, params};
use tickstream_simulator::{Fault, Simulator, SimulatorConfig};

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9900")]
    listen: SocketAddr,
    /// Seed of the market: the same seed gives the same prices, books and trades.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Time between two steps of each market (the markets' steps are spread over it, not sent at once);
    /// 0s steps every market back to back, as fast as the connections take the steps.
    #[arg(long, default_value = "50ms", value_parser = tickstream_model::parse_duration)]
    tick: Duration,
    /// Inject a fault this often, cycling through drop, skipped sequence, garbage, oversized frame,
    /// reconnect request, corrupted checksum, sequence reset and silence.
    #[arg(long, value_parser = tickstream_model::parse_duration)]
    fault_every: Option<Duration>,
}

/// The faults a schedule injects, in turn.
const FAULT_CYCLE: [Fault; 8] = [
    Fault::Drop,
    Fault::SkipSequence,
    Fault::Garbage,
    Fault::Oversized(32 * 1024 * 1024),
    Fault::Reconnect,
    Fault::CorruptChecksum,
    Fault::SequenceReset,
    Fault::Silence,
];

/// Injects the next fault of the cycle every `every`, forever; never returns without a schedule.
pub async fn fault_schedule(sim: &Simulator, every: Option<Duration>) {
    let Some(every) = every else {
        return std::future::pending().await;
    };
    for fault in FAULT_CYCLE.iter().cycle() {
        tokio::time::sleep(every).await;
        tracing::info!(?fault, "injecting a fault");
        sim.inject(fault.clone());
    }
}

/// A pipeline's `[simulator]` section: the exchange simulator started in the pipeline's own process,
/// for demos and tests; exchange sources reach it at `ws://<listen>/<venue>`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorSection {
    pub listen: SocketAddr,
    /// The market follows from the seed.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Time between two steps of each market (the markets' steps are spread over it, not sent at once);
    /// "0s" steps every market back to back, as fast as the connections take the steps.
    #[serde(default = "default_tick", with = "tickstream_model::duration_text")]
    pub tick: Duration,
    /// Inject a fault this often, cycling through drop, skipped sequence, garbage, oversized frame,
    /// reconnect request, corrupted checksum, sequence reset and silence.
    #[serde(default, with = "optional_duration")]
    pub fault_every: Option<Duration>,
}

fn default_seed() -> u64 {
    1
}

fn default_tick() -> Duration {
    Duration::from_millis(50)
}

mod optional_duration {
    use std::time::Duration;

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        tickstream_model::parse_duration(&text)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

/// The pipeline's `[simulator]` section, checked; errors name the file, the section and the field.
pub fn section(pipeline: &Pipeline) -> Result<Option<SimulatorSection>, ConfigError> {
    let Some(value) = &pipeline.simulator else {
        return Ok(None);
    };
    params::<SimulatorSection>(value.clone())
        .map(Some)
        .map_err(|e| {
            ConfigError::node(
                &pipeline.file,
                "simulator".into(),
                e.field.as_deref(),
                e.message,
            )
        })
}

impl SimulatorSection {
    /// Starts the simulator and its fault schedule; both stop when the returned handle is dropped.
    pub async fn start(&self) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let config = SimulatorConfig {
            listen: self.listen,
            seed: self.seed,
            tick: self.tick,
        };
        let sim = Simulator::start(config).await?;
        tracing::info!(listen = %sim.addr(), seed = self.seed, "exchange simulator running");
        let every = self.fault_every;
        Ok(tokio::spawn(
            async move { fault_schedule(&sim, every).await },
        ))
    }
}

pub fn simulate(args: SimulateArgs) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let config = SimulatorConfig {
            listen: args.listen,
            seed: args.seed,
            tick: args.tick,
        };
        let sim = match Simulator::start(config).await {
            Ok(sim) => sim,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        eprintln!("simulating on {} (seed {})", sim.addr(), args.seed);
        eprintln!(
            "  binance:           url = \"{}\", rest_url = \"{}\"",
            sim.ws_url("binance"),
            sim.rest_url("binance")
        );
        eprintln!("  coinbase:          url = \"{}\"", sim.ws_url("coinbase"));
        eprintln!(
            "  coinbase-exchange: url = \"{}\"",
            sim.ws_url("coinbase-exchange")
        );
        for venue in ["kraken", "okx", "bybit"] {
            eprintln!(
                "  {:<19}url = \"{}\"",
                format!("{venue}:"),
                sim.ws_url(venue)
            );
        }
        eprintln!(
            "  bitstamp:          url = \"{}\", rest_url = \"{}\"",
            sim.ws_url("bitstamp"),
            sim.rest_url("bitstamp")
        );
        let schedule = fault_schedule(&sim, args.fault_every);
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = schedule => {}
        }
        ExitCode::SUCCESS
    })
}
