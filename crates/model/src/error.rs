//! The model crate's one error type: what can be wrong with a decimal, a time, a symbol or a name.

/// Everything the model's parsers can reject. Each variant keeps the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("invalid decimal {text:?}: {reason}")]
    Decimal { text: String, reason: &'static str },
    #[error("invalid timestamp {text:?}: {reason}")]
    Timestamp { text: String, reason: &'static str },
    #[error("invalid symbol {text:?}: {reason}")]
    Symbol { text: String, reason: &'static str },
    #[error(
        "unknown exchange {0:?}; expected one of: binance, coinbase, coinbase-exchange, kraken, okx, bitstamp, bybit, composite"
    )]
    Exchange(String),
    #[error("unknown interval {0:?}; expected one of: 1s, 5s, 15s, 1m, 5m, 15m, 1h, 4h, 1d")]
    Interval(String),
    #[error("invalid duration {text:?}: {reason}")]
    Duration { text: String, reason: &'static str },
}
