//! `tickstream validate` end to end: every file in `pipelines/` passes, and a broken file fails with
//! messages that name the file, the node and the field.

mod common;

use std::path::PathBuf;

use common::{Tickstream, repo, test_dir, write_file};

#[test]
fn every_pipeline_file_validates() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("pipelines"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for file in files {
        // Pipelines take brokers and secrets from the environment: validate with them unset, as a fresh
        // machine would, so every reference must carry a default or be reported.
        let out = Tickstream::new(["validate"])
            .arg(&file)
            .without_services()
            .output();
        assert!(
            out.status.success(),
            "{} does not validate:\n{}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: "));
    }
}

#[test]
fn a_broken_file_fails_with_named_errors() {
    let dir = test_dir("validate");
    let broken = write_file(
        &dir,
        "broken.toml",
        r#"
[sources.events]
kind = "file"
paths = ["events.ndjson"]

[operators.btc]
kind = "filter"
inputs = ["event"]
symbolz = ["BTC-USD"]

[sinks.out]
kind = "fiel"
inputs = ["btc"]
path = "-"
"#,
    );
    let out = Tickstream::new(["validate"]).arg(&broken).output();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = broken.display();
    assert!(stderr.contains(&format!("{file}: operators.btc: unknown field 'symbolz'; expected one of: kinds, exchanges, symbols")), "{stderr}");
    assert!(
        stderr.contains(&format!("{file}: sinks.out: kind: unknown kind 'fiel'; expected one of: kafka, parquet, cache, file")),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bench_rejects_flags_out_of_range_naming_them() {
    for (flag, value) in [("--venues", "7"), ("--symbols", "0"), ("--rate", "0")] {
        let out = Tickstream::new(["bench", flag, value]).output();
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag), "{stderr}");
    }
}

#[test]
fn every_subcommand_has_help() {
    for sub in [
        "validate",
        "run",
        "normalize",
        "replay",
        "simulate",
        "serve",
        "keys",
        "compact",
        "bench",
    ] {
        let out = Tickstream::new([sub, "--help"]).output();
        assert!(out.status.success(), "{sub} --help failed");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage: tickstream"),
            "{sub}"
        );
    }
}
