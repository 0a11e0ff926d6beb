//! `tickstream normalize`: raw venue frames (one per line, or capture records) from a file or stdin to
//! normalized events (one JSON object per line) on stdout, with a summary on stderr.

use std::io::{BufReader, BufWriter};
use std::path::PathBuf;
use std::process::ExitCode;

use tickstream_connectors::Market;
use tickstream_model::Exchange;

#[derive(Debug, clap::Args)]
pub struct NormalizeArgs {
    /// The venue that sent the frames: binance, coinbase, coinbase-exchange, kraken, okx, bitstamp or
    /// bybit.
    #[arg(long)]
    exchange: Exchange,
    /// The venue's market: spot or perp (bybit's linear endpoint; okx ids carry their kind).
    #[arg(long, default_value = "spot")]
    market: Market,
    /// The input file (zstd-compressed when it ends in `.zst`, as capture files do); standard input
    /// when left out.
    #[arg(long)]
    input: Option<PathBuf>,
}

/// Exit 0 unless the input cannot be read (or the output written); bad frames are counted, not fatal.
pub fn normalize(args: NormalizeArgs) -> ExitCode {
    let stdout = BufWriter::new(std::io::stdout().lock());
    let result = match &args.input {
        Some(path) => match std::fs::File::open(path) {
            Ok(file) if path.extension().is_some_and(|e| e == "zst") => {
                match zstd::Decoder::new(file) {
                    Ok(decoder) => tickstream_connectors::normalize(
                        args.exchange,
                        args.market,
                        BufReader::new(decoder),
                        stdout,
                    ),
                    Err(e) => {
                        eprintln!("error: {}: {e}", path.display());
                        return ExitCode::FAILURE;
                    }
                }
            }
            Ok(file) => tickstream_connectors::normalize(
                args.exchange,
                args.market,
                BufReader::new(file),
                stdout,
            ),
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        },
        None => tickstream_connectors::normalize(
            args.exchange,
            args.market,
            std::io::stdin().lock(),
            stdout,
        ),
    };
    match result {
        Ok(summary) => {
            eprintln!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
