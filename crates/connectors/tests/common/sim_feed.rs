//! The exchange simulator's protocols driven without a socket: the frames a simulated venue sends for
//! a client's requests and for each step of its market. These are the project's own simulator output,
//! not venue messages; tests use them for sequence chains and breaks that no documented frame shows.

use tickstream_connectors::Venue;
use tickstream_connectors::simulator::market::Step;
use tickstream_connectors::simulator::{Protocol, Shared};
use tickstream_model::{Event, UnixNanos};

pub const TS: UnixNanos = UnixNanos(1_700_000_000_000_000_000);

/// One simulated connection and the market of one canonical symbol.
pub struct SimFeed<P> {
    pub shared: Shared,
    pub protocol: P,
    symbol: String,
    time_ms: i64,
}

impl<P: Protocol> SimFeed<P> {
    pub fn new(protocol: P, symbol: &str) -> SimFeed<P> {
        SimFeed {
            shared: Shared::new(7),
            protocol,
            symbol: symbol.to_owned(),
            time_ms: 1_700_000_000_000,
        }
    }

    /// The simulator's answers to client frames (acknowledgements, snapshots).
    pub fn answer(&mut self, requests: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for request in requests {
            self.protocol
                .on_client_text(request, &self.shared, &mut out);
        }
        out
    }

    /// Moves the market one step: the step and the frames sent for it (`skip_book` leaves the book
    /// update out, as the skipped-sequence fault does).
    pub fn step(&mut self, skip_book: bool) -> (Step, Vec<String>) {
        self.time_ms += 100;
        let time_ms = self.time_ms;
        let step = self.shared.with_market(&self.symbol, |m| m.step(time_ms));
        let mut out = Vec::new();
        self.protocol.on_step(&step, skip_book, &mut out);
        (step, out)
    }

    /// Frames of the next step.
    pub fn frames(&mut self) -> Vec<String> {
        self.step(false).1
    }

    /// Frames of the once-a-second timer (heartbeats, keep-alives).
    pub fn second(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        self.protocol.on_second(&mut out);
        out
    }
}

/// Everything a venue parser makes of `frames` (each must parse).
pub fn parse_all(venue: &mut dyn Venue, frames: &[String]) -> Vec<Event> {
    let mut out = Vec::new();
    for frame in frames {
        venue
            .parse(frame, TS, &mut out)
            .unwrap_or_else(|e| panic!("{frame}: {e}"));
    }
    out
}
