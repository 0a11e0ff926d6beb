//! Offline normalization: raw venue frames in, one event JSON per line out, with a summary of frames,
//! events by kind and rejections by reason. Book deltas are emitted unsynced (no REST snapshot here).

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, Write};
use std::str::FromStr;

use tickstream_model::{Event, EventKind, Exchange, UnixNanos};

use crate::runner::ExchangeSourceConfig;
use crate::venues::bybit::{Bybit, BybitMarket};
use crate::{BookMode, Error, RejectReason, Venue};

/// Frames longer than this are rejected as `oversized` (the runner's default cap).
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Which market of a venue the frames come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Market {
    Spot,
    Perp,
}

impl FromStr for Market {
    type Err = Error;
    fn from_str(s: &str) -> Result<Market, Error> {
        match s {
            "spot" => Ok(Market::Spot),
            "perp" => Ok(Market::Perp),
            other => Err(Error::Config {
                field: "market".into(),
                message: format!("{other:?}: expected spot or perp"),
            }),
        }
    }
}

/// What a normalization run read, wrote and rejected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NormalizeSummary {
    /// Non-empty input lines.
    pub frames: u64,
    pub events: BTreeMap<EventKind, u64>,
    pub rejected: BTreeMap<RejectReason, u64>,
}

impl fmt::Display for NormalizeSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "frames read: {}", self.frames)?;
        let events: Vec<String> = self
            .events
            .iter()
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        writeln!(
            f,
            "events: {}",
            if events.is_empty() {
                "none".into()
            } else {
                events.join(", ")
            }
        )?;
        let rejected: Vec<String> = self
            .rejected
            .iter()
            .map(|(r, n)| format!("{r}={n}"))
            .collect();
        write!(
            f,
            "rejected: {}",
            if rejected.is_empty() {
                "none".into()
            } else {
                rejected.join(", ")
            }
        )
    }
}

/// A line of the capture format: the raw frame with its receive time and connection.
#[derive(Debug, serde::Deserialize)]
struct CaptureRecord<'a> {
    ts_recv: i64,
    #[serde(borrow)]
    frame: std::borrow::Cow<'a, str>,
    #[serde(default)]
    connection_id: Option<u64>,
}

/// Normalizes raw frames of `exchange`, one per line, from `reader` to event JSON lines on `out`.
///
/// A line is either the frame as the venue sent it, or a capture record
/// `{"ts_recv":<ns>,"connection_id":<n>,"frame":"<the frame as a JSON string>"}`. Raw lines get the wall
/// clock at reading as `ts_recv`. Fails only when the input cannot be read or the output written.
pub fn normalize(
    exchange: Exchange,
    market: Market,
    reader: impl BufRead,
    out: impl Write,
) -> Result<NormalizeSummary, Error> {
    normalize_with_clock(exchange, market, reader, out, UnixNanos::now)
}

/// [`normalize`] with the receive time of raw lines taken from `clock`.
pub fn normalize_with_clock(
    exchange: Exchange,
    market: Market,
    mut reader: impl BufRead,
    mut out: impl Write,
    mut clock: impl FnMut() -> UnixNanos,
) -> Result<NormalizeSummary, Error> {
    let mut venue: Box<dyn Venue> = match (exchange, market) {
        (Exchange::Composite, _) => {
            return Err(Error::Config {
                field: "exchange".into(),
                message: "composite is not a venue".into(),
            });
        }
        (Exchange::Bybit, Market::Perp) => Box::new(Bybit::with_default_depth(
            &[],
            BybitMarket::Linear,
            BookMode::Unsynced,
        )),
        // OKX instrument ids carry their kind (`-SWAP`, dated), spot or not.
        (Exchange::Okx, _) | (_, Market::Spot) => {
            ExchangeSourceConfig::new(exchange, &[]).venue(BookMode::Unsynced)
        }
        (_, Market::Perp) => {
            return Err(Error::Config {
                field: "market".into(),
                message: format!(
                    "{exchange} perpetuals have no connector; perp is for bybit and okx"
                ),
            });
        }
    };
    let mut summary = NormalizeSummary::default();
    let mut line = Vec::new();
    let mut events = Vec::new();
    let mut signals = Vec::new();
    let mut connection: Option<u64> = None;
    let io = |context: &str| {
        let context = context.to_owned();
        move |source| Error::Io { context, source }
    };
    loop {
        line.clear();
        if reader
            .read_until(b'\n', &mut line)
            .map_err(io("reading the input"))?
            == 0
        {
            break;
        }
        let text = match std::str::from_utf8(&line) {
            Ok(text) => text.trim(),
            Err(_) => {
                summary.frames += 1;
                *summary
                    .rejected
                    .entry(RejectReason::ParseError)
                    .or_default() += 1;
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        summary.frames += 1;
        if text.len() > MAX_LINE_BYTES {
            *summary.rejected.entry(RejectReason::Oversized).or_default() += 1;
            continue;
        }
        // Venue frames never carry a "ts_recv" key: its presence marks a capture record.
        let record = if text.contains("\"ts_recv\"") {
            serde_json::from_str::<CaptureRecord<'_>>(text).ok()
        } else {
            None
        };
        if let Some(id) = record.as_ref().and_then(|r| r.connection_id)
            && connection
                .replace(id)
                .is_some_and(|previous| previous != id)
        {
            // A new connection: sequences start over and books wait for their snapshot.
            venue.reset();
        }
        let result = match &record {
            Some(r) => venue.parse(&r.frame, UnixNanos(r.ts_recv), &mut events),
            None => venue.parse(text, clock(), &mut events),
        };
        if let Err(e) = result {
            *summary.rejected.entry(e.reason).or_default() += 1;
        }
        venue.drain_signals(&mut signals);
        signals.clear();
        for event in events.drain(..) {
            *summary.events.entry(event.kind()).or_default() += 1;
            write_event(&mut out, &event).map_err(io("writing the output"))?;
        }
    }
    out.flush().map_err(io("writing the output"))?;
    Ok(summary)
}

fn write_event(out: &mut impl Write, event: &Event) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, event)?;
    out.write_all(b"\n")
}
