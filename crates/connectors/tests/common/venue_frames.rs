//! What the venue parser tests share: the stored fixtures by venue directory, subscriptions, and the
//! events and signals a venue gives for one frame, and the fields a trade is checked by.

use serde_json::Value;
use tickstream_connectors::{Channel, Subscription, Venue, VenueSignal};
use tickstream_model::{AggressorSide, Event, Symbol, Trade, UnixNanos};

use super::sim_feed::TS;

/// A stored fixture's text, unchanged (numbers keep the digits the venue printed).
pub fn fixture_text(dir: &str, name: &str) -> String {
    let path = format!("{}/tests/fixtures/{dir}/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A stored fixture as JSON.
pub fn fixture_json(dir: &str, name: &str) -> Value {
    let text = fixture_text(dir, name);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{dir}/{name}: {e}"))
}

pub fn sub(channel: Channel, canonical: &str, raw: &str) -> Subscription {
    Subscription {
        channel,
        symbol: Symbol::parse(canonical).unwrap(),
        raw_symbol: raw.into(),
    }
}

/// The events of one frame (text, or JSON written compactly), received at [`TS`]; a rejection fails
/// the test.
pub fn parse(v: &mut dyn Venue, frame: impl std::fmt::Display) -> Vec<Event> {
    let frame = frame.to_string();
    let mut out = Vec::new();
    v.parse(&frame, TS, &mut out)
        .unwrap_or_else(|e| panic!("{e:?}: {frame}"));
    out
}

/// The signals the venue has pending.
pub fn signals(v: &mut dyn Venue) -> Vec<VenueSignal> {
    let mut s = Vec::new();
    v.drain_signals(&mut s);
    s
}

/// The one trade `events` hold; anything else fails the test.
pub fn only_trade(events: &[Event]) -> &Trade {
    let [Event::Trade(t)] = events else {
        panic!("{events:?}")
    };
    t
}

/// What every venue's trade test checks: `(symbol, trade id, price, quantity, side, ts_event)`, the
/// decimals as the venue wrote them.
pub fn trade_fields(t: &Trade) -> (&str, &str, String, String, AggressorSide, UnixNanos) {
    (
        t.symbol.as_str(),
        &t.trade_id,
        t.price.to_string(),
        t.quantity.to_string(),
        t.side,
        t.ts_event,
    )
}
