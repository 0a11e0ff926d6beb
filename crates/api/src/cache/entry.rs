//! What the cache keeps of an event: its JSON (the `schemas/` message, `type` tag included) with the fields
//! the cache indexes by, and the ordered insert used for recent bars.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::value::RawValue;
use tickstream_model::{Event, EventKind, Exchange, Interval, Symbol, UnixNanos};
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};

/// A stream channel a client can subscribe to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Trades,
    Quotes,
    Bars,
    Indicators,
    Signals,
}

impl Channel {
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Trades => "trades",
            Channel::Quotes => "quotes",
            Channel::Bars => "bars",
            Channel::Indicators => "indicators",
            Channel::Signals => "signals",
        }
    }

    /// The channel of an event kind the cache keeps.
    pub fn of(kind: EventKind) -> Option<Channel> {
        match kind {
            EventKind::Trade => Some(Channel::Trades),
            EventKind::Quote => Some(Channel::Quotes),
            EventKind::Bar => Some(Channel::Bars),
            EventKind::Indicator => Some(Channel::Indicators),
            EventKind::Signal => Some(Channel::Signals),
            EventKind::Book | EventKind::Status => None,
        }
    }
}

/// One stored or broadcast update: the event's JSON and what it is about.
#[derive(Debug, Clone)]
pub struct Update {
    pub channel: Channel,
    pub exchange: Exchange,
    pub symbol: Option<Symbol>,
    /// For bars and indicators.
    pub interval: Option<Interval>,
    /// The event time: venue time of ticks, the bar's open time, the signal's firing time.
    pub ts: UnixNanos,
    /// The message as in `schemas/`, `type` tag included.
    pub json: Arc<RawValue>,
}

impl Update {
    /// `None` for events the cache does not keep (books, feed status).
    pub fn from_event(event: &Event) -> Option<Update> {
        let channel = Channel::of(event.kind())?;
        let json = match serde_json::value::to_raw_value(event) {
            Ok(json) => Arc::from(json),
            Err(e) => {
                tracing::warn!(error = %e, kind = %event.kind(), "event not cached: it does not serialize");
                return None;
            }
        };
        let interval = match event {
            Event::Bar(b) => Some(b.interval),
            Event::Indicator(i) => Some(i.interval),
            Event::Signal(s) => s.interval,
            _ => None,
        };
        Some(Update {
            channel,
            exchange: event.exchange(),
            symbol: event.symbol().cloned(),
            interval,
            ts: event.ts_event(),
            json,
        })
    }

    /// Reads back a published message; `None` for text that is not a cached event.
    pub fn from_json(text: &str) -> Option<Update> {
        #[derive(serde::Deserialize)]
        struct Header {
            #[serde(rename = "type")]
            kind: EventKind,
            exchange: Exchange,
            #[serde(default)]
            symbol: Option<Symbol>,
            #[serde(default)]
            interval: Option<Interval>,
            #[serde(default, alias = "ts_event", alias = "open_time")]
            ts: Option<UnixNanos>,
        }
        let header: Header = serde_json::from_str(text).ok()?;
        let json = RawValue::from_string(text.to_owned()).ok()?;
        Some(Update {
            channel: Channel::of(header.kind)?,
            exchange: header.exchange,
            symbol: header.symbol,
            interval: header.interval,
            ts: header.ts.unwrap_or_default(),
            json: Arc::from(json),
        })
    }
}

/// Inserts `(key, value)` into `list` kept newest first by key: an equal key replaces (a bar revised before
/// it closed), an older one goes in its place; the list is then cut to `cap`.
pub(crate) fn insert_newest_first<T>(
    list: &mut VecDeque<(UnixNanos, T)>,
    key: UnixNanos,
    value: T,
    cap: usize,
) {
    let position = list
        .iter()
        .position(|(k, _)| *k <= key)
        .unwrap_or(list.len());
    match list.get_mut(position) {
        Some(slot) if slot.0 == key => slot.1 = value,
        _ => list.insert(position, (key, value)),
    }
    list.truncate(cap);
}

fn nullable_ref(name: &str) -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(Ref::from_schema_name(name))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .into()
}

pub(crate) fn trade_schema() -> RefOr<Schema> {
    nullable_ref("trade.v1")
}

pub(crate) fn quote_schema() -> RefOr<Schema> {
    nullable_ref("quote.v1")
}

pub(crate) fn bar_schema() -> RefOr<Schema> {
    nullable_ref("bar.v1")
}

pub(crate) fn indicator_schema() -> RefOr<Schema> {
    nullable_ref("indicator.v1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_first_insert_replaces_orders_and_caps() {
        let mut list = VecDeque::new();
        for (k, v) in [(2, "b"), (3, "c"), (1, "a"), (3, "c2")] {
            insert_newest_first(&mut list, UnixNanos(k), v, 3);
        }
        let got: Vec<_> = list.iter().map(|(k, v)| (k.0, *v)).collect();
        assert_eq!(got, vec![(3, "c2"), (2, "b"), (1, "a")]);
        insert_newest_first(&mut list, UnixNanos(4), "d", 3);
        insert_newest_first(&mut list, UnixNanos(0), "z", 3);
        let got: Vec<_> = list.iter().map(|(k, _)| k.0).collect();
        assert_eq!(got, vec![4, 3, 2]);
    }
}
