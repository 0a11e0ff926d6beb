//! The api crate's one error type.

/// What can go wrong configuring the API, reaching the cache or the key store, or serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: {message}")]
    Config { field: String, message: String },
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    RedisTimeout(std::time::Duration),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("unknown key id {0:?}")]
    UnknownKey(String),
    #[error("the random source failed: {0}")]
    Random(String),
}

impl Error {
    pub(crate) fn config(field: &str, message: impl Into<String>) -> Error {
        Error::Config {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// True when trying again later may succeed (Redis or a file that went away), false for bad input or
    /// configuration.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Redis(e) => {
                use redis::{ErrorKind, ServerErrorKind};
                !matches!(
                    e.kind(),
                    ErrorKind::InvalidClientConfig
                        | ErrorKind::Client
                        | ErrorKind::Extension
                        | ErrorKind::Parse
                        | ErrorKind::UnexpectedReturnType
                        | ErrorKind::Server(
                            ServerErrorKind::ResponseError
                                | ServerErrorKind::ExecAbort
                                | ServerErrorKind::NoScript
                                | ServerErrorKind::NoPerm
                        )
                )
            }
            Error::RedisTimeout(_) | Error::Io { .. } => true,
            _ => false,
        }
    }
}
