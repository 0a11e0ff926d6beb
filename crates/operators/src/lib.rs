//! tickstream's stream processors: time bars from trades, TA-Lib-exact indicators on closed bars, and
//! declarative signals, and a filter by kind, exchange and symbol. Operators are synchronous and read no clock: time comes from the events' own
//! timestamps and from watermarks, so the same input gives the same output live and in replay.
//!
//! The runtime feeds each operator its input events in arrival order with [`Operator::on_event`], may
//! advance event time with [`Operator::on_watermark`] (while an input partition is idle), calls
//! [`Operator::finish`] when a bounded input is complete, and forwards whatever the operator pushed to
//! `out`. Operators also advance their own watermark from the events they
//! see. [`Operator::save_state`] and [`Operator::restore_state`] let the runtime checkpoint an operator
//! together with its committed input offsets, so a restart does not change the output.

mod bars;
mod error;
mod filter;
mod indicators;
mod signals;

pub use bars::{TimeBars, TimeBarsConfig, time_bars_io};
pub use error::Error;
pub use filter::{Filter, FilterConfig};
pub use indicators::{IndicatorSpec, Indicators, IndicatorsConfig, indicators_io};
pub use signals::{
    BandBreakRule, CrossoverRule, FeedHealthRule, SignalConfig, SignalRule, Signals, SpreadRule,
    ThresholdRule, VolumeSpikeRule, signal_io,
};

use serde_json::value::RawValue;
use tickstream_model::{Event, EventKind, UnixNanos};

/// A stream processor: events in, events out, no clock, no I/O.
pub trait Operator: Send {
    /// Handles one input event, pushing any events it completes to `out`.
    fn on_event(&mut self, event: &Event, out: &mut Vec<Event>);

    /// Tells the operator that event time has reached `watermark`: nothing older is expected any more.
    /// Watermarks never move an operator's event time backwards.
    fn on_watermark(&mut self, watermark: UnixNanos, out: &mut Vec<Event>);

    /// How far behind event time this operator's watermark trails: when an input partition is idle, the
    /// runtime passes the wall clock minus this as the watermark.
    fn allowed_lateness(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// The input is complete (the end of a replay or of a bounded input): emit what is still open.
    /// Not called when a live run stops: what is open then is kept in the operator's state.
    fn finish(&mut self, _out: &mut Vec<Event>) {}

    /// True for operators whose output depends on what they saw before (bars, indicators, signals): the
    /// runtime checkpoints their state. A stateless operator (filter) has nothing to keep.
    fn is_stateful(&self) -> bool {
        true
    }

    /// Everything the operator needs to continue exactly where it is, as JSON text.
    fn save_state(&self) -> Result<StateJson, Error>;

    /// Replaces the operator's state with one saved by [`Operator::save_state`] of an operator of the same
    /// kind. State for parts of the configuration that no longer exist is dropped; new parts start empty.
    fn restore_state(&mut self, state: &RawValue) -> Result<(), Error>;
}

/// Which kinds of event an operator kind accepts and which it emits, for checking a pipeline's graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperatorIo {
    pub accepts: &'static [EventKind],
    pub emits: &'static [EventKind],
}

/// An operator's saved state: JSON text, kept as text until the changelog record is written (a tree of
/// `serde_json::Value`s of an indicators operator over 600 instruments is many times its text).
pub type StateJson = Box<RawValue>;

/// Serializes an operator's state, naming the operator if that fails.
pub(crate) fn save_json<T: serde::Serialize>(
    operator: &'static str,
    state: &T,
) -> Result<StateJson, Error> {
    serde_json::value::to_raw_value(state).map_err(|source| Error::State { operator, source })
}

/// Reads an operator's state back, naming the operator if it does not fit.
pub(crate) fn restore_json<T: serde::de::DeserializeOwned>(
    operator: &'static str,
    state: &RawValue,
) -> Result<T, Error> {
    serde_json::from_str(state.get()).map_err(|source| Error::State { operator, source })
}
