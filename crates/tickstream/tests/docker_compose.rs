//! `docker/` checked without a Docker engine: the compose file loads, its tickstream services run commands
//! the binary accepts over pipeline files that validate with the environment compose gives them, every
//! bind mount exists, Prometheus scrapes compose services on the ports they listen on, and the Grafana
//! dashboard queries only metrics the code records.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_norway::Value;

use common::{Tickstream, repo};

fn docker_dir() -> PathBuf {
    repo().join("docker")
}

fn load_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let mut value: Value = serde_norway::from_str(&text)
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
    value.apply_merge().unwrap();
    value
}

fn services() -> Vec<(String, Value)> {
    let compose = load_yaml(&docker_dir().join("compose.yaml"));
    compose["services"]
        .as_mapping()
        .expect("compose.yaml has services")
        .iter()
        .map(|(name, service)| (name.as_str().unwrap().to_owned(), service.clone()))
        .collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|s| s.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// Services built from docker/Dockerfile.
fn tickstream_services() -> Vec<(String, Value)> {
    let found: Vec<_> = services()
        .into_iter()
        .filter(|(_, s)| s["build"]["dockerfile"].as_str() == Some("docker/Dockerfile"))
        .collect();
    let names: BTreeSet<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["analytics", "api", "ingest"]));
    found
}

/// The service's environment as (name, value) pairs.
fn environment(service: &Value) -> Vec<(String, String)> {
    service["environment"]
        .as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let value = match v {
                        Value::String(s) => s.clone(),
                        other => serde_norway::to_string(other).unwrap().trim().to_owned(),
                    };
                    (k.as_str().unwrap().to_owned(), value)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The value following `flag` in a command.
fn flag_value<'a>(command: &'a [String], flag: &str) -> Option<&'a str> {
    let i = command.iter().position(|a| a == flag)?;
    command.get(i + 1).map(String::as_str)
}

#[test]
fn every_service_has_an_image_or_a_build_and_its_dependencies_exist() {
    let all = services();
    let names: BTreeSet<String> = all.iter().map(|(n, _)| n.clone()).collect();
    for (name, service) in &all {
        assert!(
            service["image"].is_string() || service["build"].is_mapping(),
            "{name}: neither image nor build"
        );
        if let Some(deps) = service["depends_on"].as_mapping() {
            for (dep, how) in deps {
                let dep = dep.as_str().unwrap();
                assert!(names.contains(dep), "{name} depends on unknown {dep}");
                if how["condition"].as_str() == Some("service_healthy") {
                    let target = &all.iter().find(|(n, _)| n == dep).unwrap().1;
                    assert!(
                        target["healthcheck"].is_mapping(),
                        "{name} waits for {dep} to be healthy, which has no healthcheck"
                    );
                }
            }
        }
        for dep in strings(&service["depends_on"]) {
            assert!(names.contains(&dep), "{name} depends on unknown {dep}");
        }
    }
    let build = &tickstream_services()[0].1["build"];
    let context = docker_dir().join(build["context"].as_str().unwrap());
    assert!(
        context
            .join(build["dockerfile"].as_str().unwrap())
            .is_file()
    );
    assert!(docker_dir().join("Dockerfile.dockerignore").is_file());
}

#[test]
fn every_bind_mount_names_a_file_or_directory_that_exists() {
    for (name, service) in services() {
        for volume in strings(&service["volumes"]) {
            let source = volume.split(':').next().unwrap();
            if source.starts_with('.') {
                assert!(
                    docker_dir().join(source).exists(),
                    "{name}: {source} does not exist"
                );
            }
        }
    }
}

#[test]
fn tickstream_commands_are_accepted_and_their_pipelines_validate() {
    for (name, service) in tickstream_services() {
        let command = strings(&service["command"]);
        let env = environment(&service);
        for var in ["KAFKA_BROKERS", "REDIS_URL"] {
            assert!(env.iter().any(|(k, _)| k == var), "{name}: no {var}");
        }
        let mut args = command.clone();
        match command.first().map(String::as_str) {
            Some("run") => {
                let path = &command[1];
                let file = path
                    .strip_prefix("/etc/tickstream/pipelines/")
                    .unwrap_or_else(|| panic!("{name}: {path} is not a mounted pipeline"));
                let local = repo().join("pipelines").join(file);
                assert!(local.is_file(), "{name}: pipelines/{file} does not exist");
                assert!(
                    strings(&service["volumes"])
                        .contains(&"../pipelines:/etc/tickstream/pipelines:ro".to_owned()),
                    "{name}: pipelines are not mounted"
                );
                let out = Tickstream::new(["validate"])
                    .arg(&local)
                    .without_services()
                    .env_remove("LAKE_ROOT")
                    .envs(env.iter().map(|(k, v)| (k, v)))
                    .output();
                assert!(
                    out.status.success(),
                    "{name}: pipelines/{file} does not validate: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                // The options parse: with a pipeline that is not there, the run stops at loading it.
                args[1] = "/nonexistent/pipeline.toml".into();
            }
            Some("serve") => {
                // The options parse: with a settings file that is not there, serve stops at reading it.
                args.extend(["--config".into(), "/nonexistent/serve.toml".into()]);
            }
            other => panic!("{name}: unexpected command {other:?}"),
        }
        let out = Tickstream::new(&args).output();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {args:?}: {stderr}");
        assert!(
            stderr.contains("/nonexistent/") && !stderr.contains("Usage:"),
            "{name}: {args:?}: {stderr}"
        );
    }
}

#[test]
fn prometheus_scrapes_compose_services_on_their_listening_ports() {
    let config = load_yaml(&docker_dir().join("prometheus.yml"));
    let services = tickstream_services();
    let mut scraped = BTreeSet::new();
    for job in config["scrape_configs"].as_sequence().unwrap() {
        for group in job["static_configs"].as_sequence().unwrap() {
            for target in strings(&group["targets"]) {
                let (host, port) = target.split_once(':').unwrap();
                let (_, service) = services
                    .iter()
                    .find(|(n, _)| n == host)
                    .unwrap_or_else(|| panic!("{target}: {host} is not a tickstream service"));
                let command = strings(&service["command"]);
                let listen = flag_value(&command, "--metrics-listen")
                    .or_else(|| flag_value(&command, "--listen"))
                    .unwrap_or_else(|| panic!("{host} serves no metrics"));
                assert_eq!(
                    listen.rsplit_once(':').unwrap().1,
                    port,
                    "{target}: {host} listens on {listen}"
                );
                scraped.insert(host.to_owned());
            }
        }
    }
    let all: BTreeSet<String> = services.into_iter().map(|(n, _)| n).collect();
    assert_eq!(scraped, all, "every tickstream role is scraped");
}

/// The text of every Rust source file under `crates/`.
fn crate_sources(dir: &Path, text: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && path.file_name().is_some_and(|n| n != "target") {
            crate_sources(&path, text);
        } else if path.extension().is_some_and(|e| e == "rs") {
            text.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// The `tickstream_*` names in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find("tickstream_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

#[test]
fn the_dashboard_queries_only_metrics_the_code_records() {
    let dashboards = docker_dir().join("grafana/dashboards");
    let datasource =
        load_yaml(&docker_dir().join("grafana/provisioning/datasources/prometheus.yaml"));
    let uid = datasource["datasources"][0]["uid"].as_str().unwrap();
    let mut sources = String::new();
    crate_sources(&repo().join("crates"), &mut sources);
    let mut queried = BTreeSet::new();
    for entry in std::fs::read_dir(&dashboards).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let dashboard: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                assert_eq!(target["datasource"]["uid"], uid, "{}", panel["title"]);
                let expr = target["expr"].as_str().unwrap();
                let names = metric_names(expr);
                assert!(!names.is_empty(), "{expr}: no tickstream metric");
                queried.extend(names);
            }
        }
    }
    for name in &queried {
        assert!(
            sources.contains(&format!("\"{name}\"")),
            "{name} is queried but no crate records it"
        );
    }
    assert!(queried.len() >= 20, "{queried:?}");
    let provider = load_yaml(&docker_dir().join("grafana/provisioning/dashboards/tickstream.yaml"));
    let path = provider["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    let (_, grafana) = services()
        .into_iter()
        .find(|(n, _)| n == "grafana")
        .unwrap();
    assert!(
        strings(&grafana["volumes"]).contains(&format!("./grafana/dashboards:{path}:ro")),
        "the dashboards are mounted where the provider reads them"
    );
}
