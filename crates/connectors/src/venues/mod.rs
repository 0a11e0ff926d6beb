//! The venues the runner drives, one module each (its messages, its pure parsers, its [`crate::Venue`]
//! and the profile it declares), and the per-connection state they all keep.

pub mod binance;
pub mod bitstamp;
pub mod bybit;
pub mod coinbase;
pub mod coinbase_exchange;
pub mod connection_state;
pub mod kraken;
pub mod okx;
