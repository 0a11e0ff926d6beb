//! `tickstream normalize`: raw venue frames (one per line, or capture records) from a file or stdin to
//! normalized events (one JSON object per line) on stdout, with a summary on stderr.

use std::io::{BufRead, BufReader, BufWriter};
use std::path::{Path, PathBuf};
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
    let input: Box<dyn BufRead> = match &args.input {
        Some(path) => match open_input(path) {
            Ok(input) => input,
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        },
        None => Box::new(std::io::stdin().lock()),
    };
    let result = tickstream_connectors::normalize(args.exchange, args.market, input, stdout);
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

/// The input file, decompressed when it ends in `.zst`.
fn open_input(path: &Path) -> std::io::Result<Box<dyn BufRead>> {
    let file = std::fs::File::open(path)?;
    if path.extension().is_some_and(|e| e == "zst") {
        Ok(Box::new(BufReader::new(zstd::Decoder::new(file)?)))
    } else {
        Ok(Box::new(BufReader::new(file)))
    }
}
