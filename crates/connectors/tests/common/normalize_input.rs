//! What the offline normalization tests share: stored fixtures as input lines, and a run of
//! `normalize` with a fixed receive clock, read back as events, and the summary a run should give.

use tickstream_connectors::normalize::normalize_with_clock;
use tickstream_connectors::{Market, NormalizeSummary, RejectReason};
use tickstream_model::{Event, EventKind, Exchange, UnixNanos};

use super::venue_frames::fixture_text;

/// The receive time of every frame without one of its own (not a capture record).
pub const CLOCK: UnixNanos = UnixNanos(42);

/// A fixture on one line, its text otherwise unchanged (numbers keep the digits the venue printed).
pub fn line(dir: &str, name: &str) -> String {
    fixture_text(dir, name).lines().map(str::trim).collect()
}

/// The events and the summary of normalizing `input` (lines) at [`CLOCK`].
pub fn run(exchange: Exchange, market: Market, input: &str) -> (Vec<Event>, NormalizeSummary) {
    let mut out = Vec::new();
    let summary =
        normalize_with_clock(exchange, market, input.as_bytes(), &mut out, || CLOCK).unwrap();
    let events = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Event>(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    (events, summary)
}

/// The summary of `frames` input lines giving `events` by kind and rejecting `rejected` by reason.
pub fn summary_of(
    frames: u64,
    events: &[(EventKind, u64)],
    rejected: &[(RejectReason, u64)],
) -> NormalizeSummary {
    NormalizeSummary {
        frames,
        events: events.iter().copied().collect(),
        rejected: rejected.iter().copied().collect(),
    }
}
