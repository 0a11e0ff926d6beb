//! The operators crate's one error type.

/// What can be wrong with an operator's configuration or with a saved state handed back to it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: {message}")]
    Config { field: String, message: String },
    #[error("cannot restore {operator} state: {source}")]
    State {
        operator: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    pub(crate) fn config(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Config {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Operators do no I/O, so nothing they report gets better by trying again.
    pub fn is_retryable(&self) -> bool {
        false
    }
}
