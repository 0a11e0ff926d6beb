//! The registry: one plain `match` from a node's `kind` to its component's parameters, and what each kind
//! accepts and emits. Adding a component means adding one arm in each function here.

use tickstream_io::ndjson::{FileSinkConfig, FileSourceConfig};
use tickstream_model::EventKind;

use crate::error::{ParamError, params};
use crate::filter::FilterConfig;

pub const SOURCE_KINDS: &[&str] = &["file"];
pub const OPERATOR_KINDS: &[&str] = &["filter"];
pub const SINK_KINDS: &[&str] = &["file"];

/// A source node's component and parameters.
#[derive(Debug, Clone)]
pub enum SourceSpec {
    File(FileSourceConfig),
}

/// An operator node's component and parameters.
#[derive(Debug, Clone)]
pub enum OperatorSpec {
    Filter(FilterConfig),
}

/// A sink node's component and parameters.
#[derive(Debug, Clone)]
pub enum SinkSpec {
    File(FileSinkConfig),
}

pub fn source(kind: &str, value: toml::Value) -> Result<SourceSpec, ParamError> {
    match kind {
        "file" => {
            let config: FileSourceConfig = params(value)?;
            config.validate()?;
            Ok(SourceSpec::File(config))
        }
        _ => Err(unknown(kind, SOURCE_KINDS)),
    }
}

pub fn operator(kind: &str, value: toml::Value) -> Result<OperatorSpec, ParamError> {
    match kind {
        "filter" => Ok(OperatorSpec::Filter(params(value)?)),
        _ => Err(unknown(kind, OPERATOR_KINDS)),
    }
}

pub fn sink(kind: &str, value: toml::Value) -> Result<SinkSpec, ParamError> {
    match kind {
        "file" => {
            let config: FileSinkConfig = params(value)?;
            config.validate()?;
            Ok(SinkSpec::File(config))
        }
        _ => Err(unknown(kind, SINK_KINDS)),
    }
}

fn unknown(kind: &str, kinds: &[&str]) -> ParamError {
    ParamError {
        field: Some("kind".into()),
        message: format!(
            "unknown kind '{kind}'; expected one of: {}",
            kinds.join(", ")
        ),
    }
}

impl SourceSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            SourceSpec::File(_) => "file",
        }
    }

    pub fn emits(&self) -> Vec<EventKind> {
        match self {
            SourceSpec::File(c) => c.emits(),
        }
    }
}

impl OperatorSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            OperatorSpec::Filter(_) => "filter",
        }
    }

    pub fn accepts(&self) -> Vec<EventKind> {
        match self {
            OperatorSpec::Filter(c) => c.emits(),
        }
    }

    pub fn emits(&self) -> Vec<EventKind> {
        match self {
            OperatorSpec::Filter(c) => c.emits(),
        }
    }
}

impl SinkSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            SinkSpec::File(_) => "file",
        }
    }

    pub fn accepts(&self) -> Vec<EventKind> {
        match self {
            SinkSpec::File(_) => EventKind::ALL.to_vec(),
        }
    }
}
