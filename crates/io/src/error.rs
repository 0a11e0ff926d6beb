//! The io crate's one error type.

/// What can go wrong moving events in and out of Kafka, files and the lake.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: {message}")]
    Config { field: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parquet {
        path: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A lake file or directory that is not what the lake layout says it should be.
    #[error("{path}: {message}")]
    Lake { path: String, message: String },
    /// A request to the object store holding the lake failed.
    #[error("{url}: {source}")]
    ObjectStore {
        url: String,
        #[source]
        source: object_store::Error,
    },
    #[error("kafka {op}: {source}")]
    Kafka {
        op: &'static str,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("kafka delivery: {failed} message(s) failed since the last flush; last error: {last}")]
    KafkaDelivery { failed: u64, last: String },
    #[error("kafka topic {topic}: {message}")]
    KafkaTopic { topic: String, message: String },
    /// Operator state in a changelog partition that cannot be used.
    #[error("state changelog {topic}[{partition}]: {message}")]
    Changelog {
        topic: String,
        partition: i32,
        message: String,
    },
}

impl Error {
    /// True when trying again later may succeed (a broker or store that went away), false for bad input
    /// or configuration.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Kafka { source, .. } => return crate::kafka::is_retryable(source),
            Error::KafkaDelivery { .. } => return true,
            Error::KafkaTopic { .. } | Error::Changelog { .. } => return false,
            Error::ObjectStore { source, .. } => {
                use object_store::Error as E;
                return !matches!(
                    source,
                    E::NotFound { .. }
                        | E::InvalidPath { .. }
                        | E::NotSupported { .. }
                        | E::NotImplemented { .. }
                        | E::PermissionDenied { .. }
                        | E::Unauthenticated { .. }
                        | E::UnknownConfigurationKey { .. }
                );
            }
            _ => {}
        }
        matches!(self, Error::Io { .. })
    }
}
