//! tickstream's venue connectors: the venue interface and its pure parsers (Binance spot, Coinbase
//! Advanced Trade, the Coinbase Exchange feed), exact L2 books with integrity tracking, the shared
//! websocket runner and offline normalization.

pub mod binance;
pub mod bitstamp;
pub mod book;
pub mod bybit;
pub mod coinbase;
pub mod coinbase_exchange;
mod error;
pub mod fields;
pub mod kraken;
pub mod normalize;
pub mod okx;
pub mod runner;
pub mod symbols;
pub mod tracked_book;
mod venue;

pub use book::{BookState, L2Book, Side};
pub use error::Error;
pub use normalize::{Market, NormalizeSummary, normalize};
pub use venue::{
    BookMode, Channel, Keepalive, ParseError, RejectReason, Subscription, Venue, VenueLimits,
    VenueSignal,
};
