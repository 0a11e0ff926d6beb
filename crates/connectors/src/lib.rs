//! tickstream's venue connectors: the venue interface and its pure parsers (Binance spot, Coinbase
//! Advanced Trade, the Coinbase Exchange feed), exact L2 books with integrity tracking, the shared
//! websocket runner and offline normalization.

pub mod book;
mod error;
pub mod fields;
pub mod normalize;
pub mod runner;
pub mod symbols;
pub mod tracked_book;
mod venue;
pub mod venues;

pub use book::{BookState, L2Book, Side};
pub use error::Error;
pub use normalize::{Market, NormalizeSummary, normalize};
pub use venue::{
    BookMode, Channel, Keepalive, ParseError, RejectReason, Subscription, Venue, VenueLimits,
    VenueProfile, VenueSignal,
};
