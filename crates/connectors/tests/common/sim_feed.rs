//! The exchange simulator's protocols driven without a socket: the frames a simulated venue sends for
//! a client's requests and for each step of its market. These are the project's own simulator output,
//! not venue messages; tests use them for sequence chains and breaks that no documented frame shows.

use tickstream_connectors::Venue;
use tickstream_model::{AggressorSide, Event, Trade, UnixNanos};
use tickstream_simulator::market::Step;
use tickstream_simulator::{Protocol, Shared};

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

/// The frames that contain `marker` (a channel name), in order.
pub fn with_marker(frames: Vec<String>, marker: &str) -> Vec<String> {
    frames.into_iter().filter(|f| f.contains(marker)).collect()
}

/// Steps the market until `count` trades: for each, the step, the frame containing `marker` and the
/// one trade the venue made of it, whose id and taker side are the market's. Both sides must occur.
pub fn simulated_trades<P: Protocol>(
    feed: &mut SimFeed<P>,
    venue: &mut dyn Venue,
    marker: &str,
    count: usize,
) -> Vec<(Step, String, Trade)> {
    let mut trades = Vec::new();
    while trades.len() < count {
        let (step, frames) = feed.step(false);
        let Some(market) = step.trade.clone() else {
            continue;
        };
        let frame = frames.into_iter().find(|f| f.contains(marker)).unwrap();
        let events = parse_all(venue, std::slice::from_ref(&frame));
        let [Event::Trade(trade)] = events.as_slice() else {
            panic!("{events:?}")
        };
        let side = if market.taker_buys {
            AggressorSide::Buy
        } else {
            AggressorSide::Sell
        };
        assert_eq!(
            (trade.side, trade.trade_id.clone()),
            (side, market.id.to_string())
        );
        trades.push((step, frame, trade.clone()));
    }
    let has = |side| trades.iter().any(|(_, _, t)| t.side == side);
    assert!(has(AggressorSide::Buy) && has(AggressorSide::Sell));
    trades
}
