//! The venue interface the websocket runner drives: a small value per venue with pure parse functions,
//! the subscription it serves, its keepalive rules, and why a frame was rejected.

use std::time::Duration;

use tickstream_model::{Event, Exchange, Symbol, UnixNanos};

use crate::Error;
use crate::venues::connection_state::ConnectionLifecycle;

/// A market data channel a source subscribes to, by its name in pipeline files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Every trade (Binance `trade`, Coinbase `market_trades` / `matches`).
    Trades,
    /// Trades aggregated per taker order (Binance `aggTrade`).
    AggTrades,
    /// Best bid and offer (Binance `bookTicker`, Coinbase `ticker`).
    Bbo,
    /// The L2 book: a snapshot, then deltas, and the BBO derived from it.
    Book,
}

impl Channel {
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Trades => "trades",
            Channel::AggTrades => "agg_trades",
            Channel::Bbo => "bbo",
            Channel::Book => "book",
        }
    }
}

/// One channel of one instrument, with the venue's own symbol.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subscription {
    pub channel: Channel,
    pub symbol: Symbol,
    /// The venue's symbol (`BTCUSDT`, `BTC-USD`).
    pub raw_symbol: String,
}

/// How a venue expects a quiet connection to be kept alive, beyond answering websocket pings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keepalive {
    /// Send a websocket ping this often; `None` when the venue pings us.
    pub ping_interval: Option<Duration>,
    /// Treat the connection as dead when nothing at all arrives for this long.
    pub idle_timeout: Duration,
}

/// Something a venue parser tells the runner after a frame. Parsers never do I/O themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VenueSignal {
    /// The venue acknowledged a subscription request.
    Subscribed { detail: String },
    /// Fetch a REST book snapshot and hand its body to [`Venue::apply_snapshot`].
    FetchSnapshot { raw_symbol: String, url: String },
    /// Drop this connection and reconnect (venue shutdown notice, unrecoverable sequence break).
    Reconnect { reason: String },
    /// Send these text frames, in order, on the current connection (unsubscribe and subscribe again to
    /// get a fresh book snapshot after a sequence or checksum break).
    Send { frames: Vec<String>, reason: String },
}

/// How book deltas are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookMode {
    /// Keep a book from snapshots and in-sequence deltas (live feeds); deltas that cannot be joined wait
    /// for a snapshot and are not published as whole.
    Snapshots,
    /// Emit every delta as it came, flagged `synced: false` (offline normalization without snapshots).
    Unsynced,
}

/// A venue's published limits that the runner respects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueLimits {
    /// Streams (channel × symbol) one connection may carry.
    pub max_streams_per_connection: usize,
    /// Pause between the subscription frames sent on one connection.
    pub subscribe_frame_interval: Duration,
    /// How long the venue keeps a connection open (Binance: 24 h); the runner moves to a new connection
    /// before then. `None` when the venue sets no limit.
    pub max_connection_age: Option<Duration>,
}

/// What a venue only declares: its exchange, its websocket endpoint, how a quiet connection is kept
/// alive and its published limits. One constant per venue, read through [`Venue::profile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueProfile {
    pub exchange: Exchange,
    /// The production websocket base URL, used unless the source configures another.
    pub default_ws_url: &'static str,
    pub keepalive: Keepalive,
    /// The text frame to send every `keepalive.ping_interval` instead of a websocket ping, for venues
    /// that expect an application-level ping (`ping` for OKX, `{"op":"ping"}` for Bybit).
    pub ping_frame: Option<&'static str>,
    pub limits: VenueLimits,
}

/// Why a frame, or part of one, was rejected. The `as_str` form is the `reason` of the `rejected`
/// status and the `reason` label of the `tickstream_connector_rejected_total` counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RejectReason {
    /// Not JSON, or JSON of the wrong shape.
    ParseError,
    /// Well-formed, but a message type the venue parser does not know.
    UnknownMessage,
    /// Larger than the configured frame cap.
    Oversized,
    /// A price that is not a positive finite decimal (NaN, zero, negative, garbage).
    InvalidPrice,
    /// A quantity that is not a decimal, or negative (a trade or BBO quantity must be positive).
    InvalidQuantity,
    /// A timestamp that cannot be read.
    InvalidTimestamp,
    /// A symbol that cannot be mapped to a canonical one.
    InvalidSymbol,
    /// A binary frame where the venue sends text.
    BinaryFrame,
    /// The venue answered a request with an error.
    VenueError,
}

impl RejectReason {
    pub const ALL: [RejectReason; 9] = [
        RejectReason::ParseError,
        RejectReason::UnknownMessage,
        RejectReason::Oversized,
        RejectReason::InvalidPrice,
        RejectReason::InvalidQuantity,
        RejectReason::InvalidTimestamp,
        RejectReason::InvalidSymbol,
        RejectReason::BinaryFrame,
        RejectReason::VenueError,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            RejectReason::ParseError => "parse_error",
            RejectReason::UnknownMessage => "unknown_message",
            RejectReason::Oversized => "oversized",
            RejectReason::InvalidPrice => "invalid_price",
            RejectReason::InvalidQuantity => "invalid_quantity",
            RejectReason::InvalidTimestamp => "invalid_timestamp",
            RejectReason::InvalidSymbol => "invalid_symbol",
            RejectReason::BinaryFrame => "binary_frame",
            RejectReason::VenueError => "venue_error",
        }
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected frame: the reason and a short detail for the log and the status event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct ParseError {
    pub reason: RejectReason,
    pub detail: String,
}

impl ParseError {
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> ParseError {
        ParseError {
            reason,
            detail: detail.into(),
        }
    }

    /// An `unknown_message` rejection naming what was not known: `unknown_message("channel", "foo")`
    /// reads `channel "foo"`.
    pub fn unknown_message(what: &str, value: impl std::fmt::Debug) -> ParseError {
        ParseError::new(RejectReason::UnknownMessage, format!("{what} {value:?}"))
    }

    pub(crate) fn json(err: serde_json::Error) -> ParseError {
        ParseError::new(RejectReason::ParseError, err.to_string())
    }
}

/// A venue as the runner drives it: pure parsing with the receive time passed in, plus the frames and
/// rules of its protocol. One value serves one connection's subscriptions; it keeps the books.
pub trait Venue: Send + Sync {
    /// What the venue declares: exchange, endpoint, keepalive and limits.
    fn profile(&self) -> &'static VenueProfile;

    /// The websocket URL to connect to for these subscriptions (`base` is the venue default or the
    /// configured override); `base` itself unless the venue adds a path.
    fn url(&self, base: &str, _subs: &[Subscription]) -> Result<String, Error> {
        Ok(base.to_owned())
    }

    /// The text frames that subscribe to `subs`, sent in order after connecting.
    fn subscribe_frames(&self, subs: &[Subscription]) -> Vec<String>;

    /// Parses one text frame, appending normalized events (and `gap` / `resync` statuses) to `out`.
    fn parse(
        &mut self,
        frame: &str,
        ts_recv: UnixNanos,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError>;

    /// Applies a REST snapshot body fetched for a [`VenueSignal::FetchSnapshot`]. Venues whose book
    /// snapshots come on the websocket never ask for one, and reject it.
    fn apply_snapshot(
        &mut self,
        _raw_symbol: &str,
        _body: &str,
        _ts_recv: UnixNanos,
        _out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        Err(ParseError::new(
            RejectReason::UnknownMessage,
            format!(
                "{} sends its book snapshots on the websocket",
                self.profile().exchange
            ),
        ))
    }

    /// The venue's per-connection state: its pending signals and its books.
    fn connection(&mut self) -> &mut dyn ConnectionLifecycle;

    /// Moves the parser's pending signals into `signals`.
    fn drain_signals(&mut self, signals: &mut Vec<VenueSignal>) {
        self.connection().drain_signals(signals);
    }

    /// Forgets per-connection state before a new connection: books become unsynced and wait for a new
    /// snapshot, sequence tracking starts over.
    fn reset(&mut self) {
        self.connection().reset();
    }
}
