//! The connectors crate's one error type: configuration, connection and snapshot failures.

/// What can go wrong running a venue connection. Bad frames are not errors here: they are counted
/// rejections ([`crate::RejectReason`]) and the feed goes on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: {message}")]
    Config { field: String, message: String },
    #[error("websocket {url}: {message}")]
    Connect { url: String, message: String },
    #[error("http {url}: {message}")]
    Http { url: String, message: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the event channel is closed")]
    ChannelClosed,
}

impl Error {
    /// True when trying again later may succeed (a venue or network that went away), false for bad
    /// configuration or a closed downstream.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. } | Error::Http { .. } | Error::Io { .. }
        )
    }
}
