//! `tickstream validate`: checks pipeline files (TOML, kinds, inputs, cycles, event kinds and parameters)
//! and lists their nodes.

use std::path::PathBuf;
use std::process::ExitCode;

pub fn validate(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for file in files {
        match super::load(file) {
            Ok((p, _)) => {
                println!(
                    "ok: {}{}",
                    p.file,
                    p.description.map(|d| format!(" ({d})")).unwrap_or_default()
                );
                for n in &p.sources {
                    println!("  sources.{} ({})", n.name, n.spec.kind());
                }
                for n in &p.operators {
                    println!(
                        "  operators.{} ({}) <- {}",
                        n.name,
                        n.spec.kind(),
                        n.inputs.join(", ")
                    );
                }
                for n in &p.sinks {
                    println!(
                        "  sinks.{} ({}) <- {}",
                        n.name,
                        n.spec.kind(),
                        n.inputs.join(", ")
                    );
                }
            }
            Err(errors) => {
                failed = true;
                for e in errors {
                    eprintln!("error: {e}");
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
