//! tickstream's data model: events, instruments with canonical symbols, exact decimals and UTC nanosecond
//! timestamps. No I/O here; every other crate speaks these types.
//!
//! Event structs accept unknown fields when read, so that a consumer keeps working when a producer adds an
//! optional field within a schema version (see `schemas/README.md`).

mod decimal;
mod error;
mod event;
mod event_json;
mod instrument;
mod interval;
pub mod schema;
mod time;

pub use decimal::{Decimal, MAX_SCALE};
pub use error::Error;
pub use event::{
    AggressorSide, Bar, BookAction, BookUpdate, Direction, Event, EventKind, FeedState, FeedStatus,
    IndicatorValues, Level, Quote, Signal, Trade,
};
pub use instrument::{Exchange, Instrument, InstrumentKind, Symbol, canonical_asset};
pub use interval::Interval;
pub use time::{UnixNanos, duration_text, parse_duration};
