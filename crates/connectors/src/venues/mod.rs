//! The venues the runner drives, one module each: its messages, its pure parsers and its [`crate::Venue`].

pub mod binance;
pub mod bitstamp;
pub mod bybit;
pub mod coinbase;
pub mod coinbase_exchange;
pub mod kraken;
pub mod okx;
