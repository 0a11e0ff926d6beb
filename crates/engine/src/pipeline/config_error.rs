//! Configuration problems named by file, node and field, and the parameter parsing that names the field.

use std::fmt;

/// One problem in a pipeline file: `pipelines/x.toml: operators.bars_1m: interval: expected a string`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// `sources.<name>`, `operators.<name>` or `sinks.<name>`; none for file-level problems.
    pub node: Option<String>,
    /// The field inside the node, such as `interval` or `rules[0].level`.
    pub field: Option<String>,
    pub message: String,
}

impl ConfigError {
    pub fn file(file: &str, message: String) -> ConfigError {
        ConfigError {
            file: file.to_owned(),
            node: None,
            field: None,
            message,
        }
    }

    pub fn node(file: &str, node: String, field: Option<&str>, message: String) -> ConfigError {
        ConfigError {
            file: file.to_owned(),
            node: Some(node),
            field: field.map(str::to_owned),
            message,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(node) = &self.node {
            write!(f, ": {node}")?;
        }
        if let Some(field) = self.field.as_deref().filter(|f| !f.is_empty() && *f != ".") {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A component's parameters were rejected: which field (when known) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    pub field: Option<String>,
    pub message: String,
}

impl From<tickstream_io::Error> for ParamError {
    fn from(e: tickstream_io::Error) -> ParamError {
        match e {
            tickstream_io::Error::Config { field, message } => ParamError {
                field: Some(field),
                message,
            },
            other => ParamError {
                field: None,
                message: other.to_string(),
            },
        }
    }
}

impl From<tickstream_operators::Error> for ParamError {
    fn from(e: tickstream_operators::Error) -> ParamError {
        match e {
            tickstream_operators::Error::Config { field, message } => ParamError {
                field: Some(field),
                message,
            },
            other => ParamError {
                field: None,
                message: other.to_string(),
            },
        }
    }
}

impl From<tickstream_api::Error> for ParamError {
    fn from(e: tickstream_api::Error) -> ParamError {
        match e {
            tickstream_api::Error::Config { field, message } => ParamError {
                field: Some(field).filter(|f| !f.is_empty()),
                message,
            },
            other => ParamError {
                field: None,
                message: other.to_string(),
            },
        }
    }
}

impl From<tickstream_connectors::Error> for ParamError {
    fn from(e: tickstream_connectors::Error) -> ParamError {
        match e {
            tickstream_connectors::Error::Config { field, message } => ParamError {
                field: Some(field),
                message,
            },
            other => ParamError {
                field: None,
                message: other.to_string(),
            },
        }
    }
}

/// Deserializes a node's parameters, naming the field that failed and rewriting serde's wording into the
/// form people read: `unknown field 'intervall'; expected one of: interval, lateness`.
pub fn params<T: serde::de::DeserializeOwned>(value: toml::Value) -> Result<T, ParamError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        let first_line = message.lines().next().unwrap_or_default();
        let (field, message) = match reword_unknown(first_line) {
            // An unknown field's path ends in the unknown key; an unknown value's path is the value's own.
            Some(reworded) if first_line.starts_with("unknown field") => {
                (parent_path(&path), reworded)
            }
            Some(reworded) => (Some(path), reworded),
            None => match first_line.strip_prefix("missing field `") {
                Some(rest) => (
                    parent_path(&path),
                    format!("missing field '{}'", rest.trim_end_matches('`')),
                ),
                None => (Some(path).filter(|p| p != "."), first_line.to_owned()),
            },
        };
        ParamError { field, message }
    })
}

/// The path without its last segment (for unknown fields the path points at the unknown key itself).
fn parent_path(path: &str) -> Option<String> {
    if path == "." {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(path[..cut].to_owned()).filter(|p| !p.is_empty())
}

fn reword_unknown(message: &str) -> Option<String> {
    let (what, rest) = if let Some(rest) = message.strip_prefix("unknown field `") {
        ("field", rest)
    } else if let Some(rest) = message.strip_prefix("unknown variant `") {
        ("value", rest)
    } else {
        return None;
    };
    let (name, expected) = rest.split_once('`')?;
    let expected = expected.trim_start_matches(", ");
    let names: Vec<&str> = expected
        .trim_start_matches("expected one of ")
        .trim_start_matches("expected ")
        .split(['`', ',', ' '])
        .filter(|s| !s.is_empty() && *s != "or")
        .collect();
    if expected.starts_with("there are no") {
        return Some(format!(
            "unknown {what} '{name}'; this kind takes no parameters"
        ));
    }
    Some(format!(
        "unknown {what} '{name}'; expected one of: {}",
        names.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        interval: String,
        lateness: Option<u32>,
    }

    fn err(text: &str) -> ParamError {
        let table: toml::Table = toml::from_str(text).unwrap();
        params::<Sample>(toml::Value::Table(table)).unwrap_err()
    }

    #[test]
    fn messages_name_the_field() {
        let e = err("intervall = '1m'");
        assert_eq!(
            e.message,
            "unknown field 'intervall'; expected one of: interval, lateness"
        );
        assert_eq!(e.field, None);
        let e = err("interval = 5");
        assert_eq!(e.field.as_deref(), Some("interval"));
        assert!(
            e.message
                .starts_with("invalid type: integer `5`, expected a string"),
            "{}",
            e.message
        );
        assert_eq!(err("lateness = 1").message, "missing field 'interval'");
    }
}
