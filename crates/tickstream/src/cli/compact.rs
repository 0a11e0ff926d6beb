//! `tickstream compact`: merges the small Parquet files of the lake's partitions into sized ones,
//! atomically.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct CompactArgs {
    /// The lake's root directory.
    root: PathBuf,
    /// Only this dataset (trades, quotes, book, bars, indicators, signals, status).
    #[arg(long)]
    dataset: Option<String>,
    /// Only partitions of this UTC date (YYYY-MM-DD).
    #[arg(long)]
    date: Option<String>,
    /// Size to aim for per merged file, in MiB.
    #[arg(long, default_value_t = tickstream_io::lake::DEFAULT_MAX_FILE_BYTES / (1024 * 1024))]
    target_mib: u64,
}

pub fn compact(args: CompactArgs) -> ExitCode {
    let target = args.target_mib.saturating_mul(1024 * 1024);
    match tickstream_io::lake::compact(
        &args.root,
        args.dataset.as_deref(),
        args.date.as_deref(),
        target,
    ) {
        Ok(r) => {
            println!(
                "compacted {}: {} partitions scanned, {} files merged into {}, {} -> {} bytes{}",
                args.root.display(),
                r.partitions_scanned,
                r.files_replaced,
                r.files_written,
                r.bytes_before,
                r.bytes_after,
                if r.interrupted_resolved > 0 {
                    format!(
                        ", {} interrupted compactions resolved",
                        r.interrupted_resolved
                    )
                } else {
                    String::new()
                }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
