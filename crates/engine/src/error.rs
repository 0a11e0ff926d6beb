//! The engine crate's one error type: pipeline files, operator state, the components it runs, and the
//! tasks of a run, each failure named by the node or step it happened in.

use crate::pipeline::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Problems in a pipeline file, every one found.
    #[error("{}", list(.0))]
    Config(Vec<ConfigError>),
    #[error(transparent)]
    Io(#[from] tickstream_io::Error),
    #[error(transparent)]
    Connectors(#[from] tickstream_connectors::Error),
    #[error(transparent)]
    Operators(#[from] tickstream_operators::Error),
    #[error(transparent)]
    Api(#[from] tickstream_api::Error),
    /// Another task of the run stopped first (only while the run is failing or ending).
    #[error("{0} stopped")]
    Stopped(&'static str),
    /// A thread or runtime of the engine's own could not start.
    #[error("{what}: {source}")]
    Start {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("a pipeline task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// A failure inside a node or a step, named: `sinks.lake: flushing at a checkpoint: ...`.
    #[error("{context}")]
    Within {
        context: String,
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// This error with what it happened in put first.
    pub fn within(self, context: impl Into<String>) -> Error {
        Error::Within {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// True for failures that pass (a broker or store that went away), as opposed to bad data or disks.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Io(e) => e.is_retryable(),
            Error::Within { source, .. } => source.is_retryable(),
            _ => false,
        }
    }
}

fn list(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
