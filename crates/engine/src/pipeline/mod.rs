//! Pipeline files: a TOML graph of named sources, operators and sinks. Loading expands `${VAR}` and
//! `${VAR:-default}` in string values, builds each node through the registry, and checks the graph: inputs
//! exist, no cycles, every node accepts what its inputs emit.

use std::path::Path;

use crate::checkpoint::StateSection;

mod config_error;
mod expand;
mod graph;
pub mod registry;

use expand::expand_env;
use graph::check_graph;

pub use config_error::{ConfigError, ParamError, params};
pub use registry::{OperatorSpec, SinkSpec, SourceSpec};

/// A validated pipeline.
#[derive(Debug)]
pub struct Pipeline {
    /// The file it came from, as given (used in messages).
    pub file: String,
    pub description: Option<String>,
    /// The `[simulator]` table as written: the exchange simulator the binary starts in this process
    /// first, for demos and tests (the engine runs no simulator; the binary checks and starts it).
    pub simulator: Option<toml::Value>,
    /// Where operator state is checkpointed beside the Kafka offsets (`[state]`).
    pub state: StateSection,
    pub sources: Vec<Node<SourceSpec>>,
    pub operators: Vec<Node<OperatorSpec>>,
    pub sinks: Vec<Node<SinkSpec>>,
}

/// One named node and the names of the nodes it reads from.
#[derive(Debug)]
pub struct Node<S> {
    pub name: String,
    pub inputs: Vec<String>,
    pub spec: S,
}

/// The roles a node can have, in file order: `[sources.x]`, `[operators.x]`, `[sinks.x]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Source,
    Operator,
    Sink,
}

impl Role {
    pub const fn section(self) -> &'static str {
        match self {
            Role::Source => "sources",
            Role::Operator => "operators",
            Role::Sink => "sinks",
        }
    }
}

const TOP_LEVEL: [&str; 6] = [
    "description",
    "simulator",
    "state",
    "sources",
    "operators",
    "sinks",
];

/// Reads and validates a pipeline file, expanding `${VAR}` from the process environment.
pub fn load(path: &Path) -> Result<Pipeline, Vec<ConfigError>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![ConfigError::file(&file, format!("cannot read: {e}"))])?;
    parse(&file, &text, &|name| std::env::var(name).ok())
}

/// Parses and validates pipeline text; `env` looks up variables for `${VAR}` expansion. Returns every
/// error found, not only the first.
pub fn parse(
    file: &str,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Pipeline, Vec<ConfigError>> {
    let doc: toml::Table = toml::from_str(text).map_err(|e| {
        vec![ConfigError::file(
            file,
            format!("not valid TOML: {}", e.to_string().trim_end()),
        )]
    })?;
    let mut errors = Vec::new();
    for key in doc.keys() {
        if !TOP_LEVEL.contains(&key.as_str()) {
            errors.push(ConfigError::file(
                file,
                format!(
                    "unknown section '{key}'; expected one of: {}",
                    TOP_LEVEL.join(", ")
                ),
            ));
        }
    }
    let description = match doc.get("description") {
        None => None,
        Some(toml::Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(ConfigError::file(
                file,
                "description: expected a string".into(),
            ));
            None
        }
    };
    let simulator = doc.get("simulator").cloned();
    let state = match doc.get("state") {
        None => StateSection::default(),
        Some(value) => {
            let mut value = value.clone();
            let mut report = |field: &str, message: String| {
                errors.push(ConfigError::node(
                    file,
                    "state".into(),
                    Some(field),
                    message,
                ))
            };
            expand_env(&mut value, &mut String::new(), env, &mut report);
            match params::<StateSection>(value) {
                Ok(section) => section,
                Err(e) => {
                    errors.push(ConfigError::node(
                        file,
                        "state".into(),
                        e.field.as_deref(),
                        e.message,
                    ));
                    StateSection::default()
                }
            }
        }
    };
    let mut pipeline = Pipeline {
        file: file.to_owned(),
        description,
        simulator,
        state,
        sources: Vec::new(),
        operators: Vec::new(),
        sinks: Vec::new(),
    };
    for role in [Role::Source, Role::Operator, Role::Sink] {
        for (name, table) in section(file, &doc, role, &mut errors) {
            let node = format!("{}.{name}", role.section());
            let built = build_node(file, &node, role, table, env);
            match built {
                Ok((inputs, Built::Source(spec))) => {
                    pipeline.sources.push(Node { name, inputs, spec })
                }
                Ok((inputs, Built::Operator(spec))) => {
                    pipeline.operators.push(Node { name, inputs, spec })
                }
                Ok((inputs, Built::Sink(spec))) => pipeline.sinks.push(Node { name, inputs, spec }),
                Err(mut e) => errors.append(&mut e),
            }
        }
    }
    if pipeline.sources.is_empty() && errors.is_empty() {
        errors.push(ConfigError::file(
            file,
            "no sources: add at least one [sources.<name>]".into(),
        ));
    }
    if pipeline.sinks.is_empty() && errors.is_empty() {
        errors.push(ConfigError::file(
            file,
            "no sinks: add at least one [sinks.<name>]".into(),
        ));
    }
    if errors.is_empty() {
        check_graph(&pipeline, &mut errors);
    }
    if errors.is_empty() {
        Ok(pipeline)
    } else {
        Err(errors)
    }
}

fn section(
    file: &str,
    doc: &toml::Table,
    role: Role,
    errors: &mut Vec<ConfigError>,
) -> Vec<(String, toml::Table)> {
    match doc.get(role.section()) {
        None => Vec::new(),
        Some(toml::Value::Table(nodes)) => nodes
            .iter()
            .filter_map(|(name, value)| match value {
                toml::Value::Table(t) => Some((name.clone(), t.clone())),
                _ => {
                    errors.push(ConfigError::node(
                        file,
                        format!("{}.{name}", role.section()),
                        None,
                        "expected a table such as [".to_owned() + role.section() + "." + name + "]",
                    ));
                    None
                }
            })
            .collect(),
        Some(_) => {
            errors.push(ConfigError::file(
                file,
                format!("'{}' must be a table of named nodes", role.section()),
            ));
            Vec::new()
        }
    }
}

enum Built {
    Source(SourceSpec),
    Operator(OperatorSpec),
    Sink(SinkSpec),
}

fn build_node(
    file: &str,
    node: &str,
    role: Role,
    mut table: toml::Table,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Vec<String>, Built), Vec<ConfigError>> {
    let err = |field: Option<&str>, message: String| {
        vec![ConfigError::node(file, node.to_owned(), field, message)]
    };
    let kinds = match role {
        Role::Source => registry::SOURCE_KINDS,
        Role::Operator => registry::OPERATOR_KINDS,
        Role::Sink => registry::SINK_KINDS,
    };
    let kind = match table.remove("kind") {
        Some(toml::Value::String(kind)) => kind,
        Some(_) => return Err(err(Some("kind"), "expected a string".into())),
        None => {
            return Err(err(
                None,
                format!(
                    "missing field 'kind'; expected one of: {}",
                    kinds.join(", ")
                ),
            ));
        }
    };
    let inputs = match (role, table.remove("inputs")) {
        (Role::Source, None) => Vec::new(),
        (Role::Source, Some(_)) => {
            return Err(err(Some("inputs"), "a source has no inputs".into()));
        }
        (_, None) => {
            return Err(err(
                None,
                "missing field 'inputs': the names of the nodes it reads".into(),
            ));
        }
        (_, Some(toml::Value::Array(items))) => {
            let names: Option<Vec<String>> = items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect();
            match names {
                Some(names) if !names.is_empty() => names,
                _ => {
                    return Err(err(
                        Some("inputs"),
                        "expected a non-empty list of node names".into(),
                    ));
                }
            }
        }
        (_, Some(_)) => return Err(err(Some("inputs"), "expected a list of node names".into())),
    };
    let mut params = toml::Value::Table(table);
    let mut expand_errors = Vec::new();
    expand_env(
        &mut params,
        &mut String::new(),
        env,
        &mut |field, message| {
            expand_errors.push(ConfigError::node(
                file,
                node.to_owned(),
                Some(field),
                message,
            ))
        },
    );
    if !expand_errors.is_empty() {
        return Err(expand_errors);
    }
    let built = match role {
        Role::Source => registry::source(&kind, params).map(Built::Source),
        Role::Operator => registry::operator(&kind, params).map(Built::Operator),
        Role::Sink => registry::sink(&kind, params).map(Built::Sink),
    };
    built.map(|b| (inputs, b)).map_err(|e| {
        vec![ConfigError::node(
            file,
            node.to_owned(),
            e.field.as_deref(),
            e.message,
        )]
    })
}

#[cfg(test)]
mod tests;
