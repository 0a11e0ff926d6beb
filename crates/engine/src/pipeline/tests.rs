//! Tests of pipeline parsing and validation: every error names the file, the node and the field.

use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "DATA_DIR" => Some("/srv/data".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fn errors(text: &str) -> Vec<String> {
    match parse("pipelines/x.toml", text, &env) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

const GOOD: &str = r#"
description = "replay trades into a file"
[sources.events]
kind = "file"
paths = ["${DATA_DIR}/events.ndjson", "${MISSING:-local}/more.ndjson"]
kinds = ["trade", "status"]

[operators.btc]
kind = "filter"
inputs = ["events"]
symbols = ["BTC-USD"]

[sinks.out]
kind = "file"
inputs = ["btc", "events"]
path = "${EMPTY:-out.ndjson}"
"#;

#[test]
fn a_good_file_parses_with_env_expanded() {
    let p = parse("pipelines/x.toml", GOOD, &env).unwrap();
    assert_eq!(p.sources.len(), 1);
    assert_eq!(p.operators[0].inputs, ["events"]);
    let SourceSpec::File(c) = &p.sources[0].spec else {
        panic!("expected a file source")
    };
    assert_eq!(c.paths[0].to_str(), Some("/srv/data/events.ndjson"));
    assert_eq!(c.paths[1].to_str(), Some("local/more.ndjson"));
    let SinkSpec::File(c) = &p.sinks[0].spec else {
        panic!("expected a file sink")
    };
    assert_eq!(c.path.to_str(), Some("out.ndjson"));
}

#[test]
fn unknown_field_is_named_with_what_was_expected() {
    let text = GOOD.replace("symbols = [", "symbol = [");
    assert_eq!(
        errors(&text),
        [
            "pipelines/x.toml: operators.btc: unknown field 'symbol'; expected one of: kinds, exchanges, symbols"
        ]
    );
}

#[test]
fn wrong_types_and_values_name_the_field() {
    let e = errors(&GOOD.replace(r#"symbols = ["BTC-USD"]"#, r#"symbols = ["btc/usd"]"#));
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("pipelines/x.toml: operators.btc: symbols[0]: invalid symbol"),
        "{e:?}"
    );
    let e = errors(&GOOD.replace(r#"kinds = ["trade", "status"]"#, r#"kinds = ["trades"]"#));
    assert!(e[0].starts_with("pipelines/x.toml: sources.events: kinds[0]: unknown value 'trades'; expected one of: trade, quote"), "{e:?}");
}

#[test]
fn missing_environment_variables_are_errors() {
    let e = errors(&GOOD.replace("${DATA_DIR}", "${NOPE}"));
    assert_eq!(
        e,
        [
            "pipelines/x.toml: sources.events: paths[0]: environment variable NOPE is not set (write ${NOPE:-default} for a default)"
        ]
    );
}

#[test]
fn unknown_kinds_and_sections() {
    let e = errors(&GOOD.replace("kind = \"filter\"", "kind = \"filtre\""));
    assert_eq!(
        e,
        [format!(
            "pipelines/x.toml: operators.btc: kind: unknown kind 'filtre'; expected one of: {}",
            registry::OPERATOR_KINDS.join(", ")
        )]
    );
    let e = errors(&format!("{GOOD}\n[source.extra]\nkind = \"file\"\n"));
    assert_eq!(
        e,
        [
            "pipelines/x.toml: unknown section 'source'; expected one of: description, simulator, state, sources, operators, sinks"
        ]
    );
}

#[test]
fn inputs_must_exist_and_not_be_sinks() {
    let e = errors(&GOOD.replace(
        r#"inputs = ["btc", "events"]"#,
        r#"inputs = ["btc", "evnets"]"#,
    ));
    assert_eq!(
        e,
        [
            "pipelines/x.toml: sinks.out: inputs: unknown input 'evnets'; expected one of: btc, events"
        ]
    );
    let text = format!("{GOOD}\n[sinks.more]\nkind = \"file\"\ninputs = [\"out\"]\npath = \"x\"\n");
    assert_eq!(
        errors(&text),
        ["pipelines/x.toml: sinks.more: inputs: 'out' is a sink; sinks cannot be inputs"]
    );
    let e = errors(&GOOD.replace("inputs = [\"events\"]\n", ""));
    assert_eq!(
        e,
        [
            "pipelines/x.toml: operators.btc: missing field 'inputs': the names of the nodes it reads"
        ]
    );
}

#[test]
fn event_kinds_must_fit() {
    let text = GOOD.replace("symbols = [\"BTC-USD\"]", "kinds = [\"bar\"]");
    assert_eq!(
        errors(&text),
        [
            "pipelines/x.toml: operators.btc: inputs: sources.events emits trade, status but a 'filter' node accepts bar"
        ]
    );
}

#[test]
fn cycles_are_found() {
    let text = r#"
[sources.s]
kind = "file"
paths = ["a"]
[operators.a]
kind = "filter"
inputs = ["s", "c"]
[operators.b]
kind = "filter"
inputs = ["a"]
[operators.c]
kind = "filter"
inputs = ["b"]
[sinks.out]
kind = "file"
inputs = ["c"]
path = "-"
"#;
    assert_eq!(
        errors(text),
        ["pipelines/x.toml: operators form a cycle: a -> c -> b -> a"]
    );
}

#[test]
fn names_are_unique_across_sections() {
    let text = GOOD
        .replace("[operators.btc]", "[operators.events]")
        .replace(r#"inputs = ["btc", "events"]"#, r#"inputs = ["events"]"#);
    let e = errors(&text);
    assert!(
        e.contains(
            &"pipelines/x.toml: operators.events: the name is already used by sources.events"
                .to_string()
        ),
        "{e:?}"
    );
}

#[test]
fn sink_names_may_not_repeat_an_operator_or_source() {
    let text = GOOD.replace("[sinks.out]", "[sinks.btc]");
    assert_eq!(
        errors(&text),
        ["pipelines/x.toml: sinks.btc: the name is already used by operators.btc"]
    );
}

#[test]
fn broken_toml_names_the_file_and_line() {
    let e = errors("[sources.s\nkind = 1");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("pipelines/x.toml: not valid TOML:"),
        "{e:?}"
    );
    assert!(e[0].contains("line 1"), "{e:?}");
}

#[test]
fn the_state_section_is_read_expanded_and_checked() {
    let text = format!("{GOOD}\n[state]\non_mismatch = \"${{MISMATCH:-start_empty}}\"\n");
    let p = parse("pipelines/x.toml", &text, &env).unwrap();
    assert_eq!(
        p.state.on_mismatch,
        crate::checkpoint::OnMismatch::StartEmpty
    );
    let e = errors(&format!("{GOOD}\n[state]\ndir = \"state\"\n"));
    assert_eq!(
        e,
        ["pipelines/x.toml: state: unknown field 'dir'; expected one of: on_mismatch"]
    );
}
