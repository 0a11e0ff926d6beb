//! `tickstream simulate`: the local exchange simulator (Binance spot, Coinbase Advanced Trade, the
//! Coinbase Exchange feed, Kraken, OKX, Bitstamp and Bybit) until Ctrl-C, with an optional fault schedule.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use tickstream_connectors::simulator::{Fault, Simulator, SimulatorConfig};

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9900")]
    listen: SocketAddr,
    /// Seed of the market: the same seed gives the same prices, books and trades.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Time between market steps.
    #[arg(long, default_value = "50ms", value_parser = tickstream_model::parse_duration)]
    tick: Duration,
    /// Inject a fault this often, cycling through drop, skipped sequence, garbage, oversized frame,
    /// reconnect request, corrupted checksum and silence.
    #[arg(long, value_parser = tickstream_model::parse_duration)]
    fault_every: Option<Duration>,
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
        let faults = [
            Fault::Drop,
            Fault::SkipSequence,
            Fault::Garbage,
            Fault::Oversized(32 * 1024 * 1024),
            Fault::Reconnect,
            Fault::CorruptChecksum,
            Fault::Silence,
        ];
        let schedule = async {
            let Some(every) = args.fault_every else {
                return std::future::pending().await;
            };
            for fault in faults.iter().cycle() {
                tokio::time::sleep(every).await;
                tracing::info!(?fault, "injecting");
                sim.inject(fault.clone());
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = schedule => {}
        }
        ExitCode::SUCCESS
    })
}
