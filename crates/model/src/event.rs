//! The events that flow through tickstream: ticks from venues (trade, quote, book, status) and the values
//! computed from them (bar, indicator, signal). Their JSON is the Kafka message format in `schemas/`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::{Decimal, Exchange, Interval, Symbol, UnixNanos};

/// Which side took liquidity in a trade.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AggressorSide {
    Buy,
    Sell,
    Unknown,
}

/// One trade as the venue reported it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Trade {
    pub exchange: Exchange,
    /// Canonical symbol, such as `BTC-USDT`.
    pub symbol: Symbol,
    /// The venue's own symbol, such as `BTCUSDT`.
    pub raw_symbol: Arc<str>,
    /// Venue time of the trade.
    pub ts_event: UnixNanos,
    /// When tickstream received the frame.
    pub ts_recv: UnixNanos,
    /// The venue's trade id, exactly as sent.
    pub trade_id: String,
    pub price: Decimal,
    pub quantity: Decimal,
    pub side: AggressorSide,
}

/// Best bid and offer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Quote {
    pub exchange: Exchange,
    pub symbol: Symbol,
    pub raw_symbol: Arc<str>,
    pub ts_event: UnixNanos,
    pub ts_recv: UnixNanos,
    pub bid_price: Decimal,
    pub bid_size: Decimal,
    pub ask_price: Decimal,
    pub ask_size: Decimal,
}

/// A whole book or a change to one.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum BookAction {
    /// Replaces the whole book.
    Snapshot,
    /// Sets the listed levels; a quantity of 0 removes the level.
    Delta,
}

/// One price level: `[price, quantity]` on the wire.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
pub struct Level(pub Decimal, pub Decimal);

impl Level {
    pub fn price(&self) -> Decimal {
        self.0
    }

    pub fn quantity(&self) -> Decimal {
        self.1
    }
}

/// An L2 book snapshot or delta, with the venue's sequence fields kept.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct BookUpdate {
    pub exchange: Exchange,
    pub symbol: Symbol,
    pub raw_symbol: Arc<str>,
    pub ts_event: UnixNanos,
    pub ts_recv: UnixNanos,
    pub action: BookAction,
    /// Bid levels, best first.
    pub bids: Vec<Level>,
    /// Ask levels, best first.
    pub asks: Vec<Level>,
    /// False when the update could not be joined to a snapshot (for example offline normalization
    /// without the REST snapshot): the levels are as sent, but no whole book can be built from them.
    pub synced: bool,
    /// The venue's sequence or update id of this message (Binance `u`, OKX `seqId`, Bybit `u`,
    /// Coinbase `sequence_num`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    /// The first update id this message covers, where the venue sends one (Binance `U`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_sequence: Option<u64>,
    /// The sequence this message follows, where the venue sends one (OKX `prevSeqId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_sequence: Option<u64>,
    /// The venue's checksum of the book after this update, where it sends one (Kraken CRC32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<u32>,
}

/// What happened to a feed.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FeedState {
    Connected,
    Subscribed,
    Disconnected,
    Reconnecting,
    /// A sequence or checksum break: the book is not whole until `resync`.
    Gap,
    /// The book was rebuilt and is whole again.
    Resync,
    /// No data for longer than the subscription's window.
    Stale,
    /// A frame was rejected (see `reason`); the feed goes on.
    Rejected,
    /// Downstream is slower than the feed; the connector is waiting for room.
    Backpressure,
}

/// A change in a feed's health. Flows downstream like any other event.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct FeedStatus {
    pub exchange: Exchange,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<Symbol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_symbol: Option<Arc<str>>,
    /// When it happened, by tickstream's clock (a status is observed, not sent by the venue).
    pub ts_event: UnixNanos,
    pub ts_recv: UnixNanos,
    pub state: FeedState,
    /// A sentence for people.
    pub detail: String,
    /// For `rejected`: a short machine-readable reason, such as `parse_error` or `invalid_price`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Which connection of the source this is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<u64>,
    /// For `gap`: the sequence that was expected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_sequence: Option<u64>,
    /// For `gap`: the sequence that arrived instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_sequence: Option<u64>,
}

/// A time bar of trades: `open_time <= ts_event < close_time`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Bar {
    pub exchange: Exchange,
    pub symbol: Symbol,
    pub interval: Interval,
    pub open_time: UnixNanos,
    /// `open_time + interval`: the first instant after the bar.
    pub close_time: UnixNanos,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    /// Sum of trade quantities.
    pub volume: f64,
    /// Sum of price × quantity.
    pub quote_volume: f64,
    /// Number of trades.
    pub trades: u64,
    /// `quote_volume / volume` of this bar alone.
    pub vwap: f64,
    pub buy_volume: f64,
    pub sell_volume: f64,
    /// True when the feed reported a gap, stale, disconnect or resync overlapping the bar.
    pub gap: bool,
}

/// The indicator values computed on one closed bar, keyed like the bar.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct IndicatorValues {
    pub exchange: Exchange,
    pub symbol: Symbol,
    pub interval: Interval,
    pub open_time: UnixNanos,
    pub close_time: UnixNanos,
    /// Values by column name (`sma_20`, `macd_12_26_9_signal`, ...). An indicator whose lookback is not
    /// yet satisfied is absent, never zero or NaN.
    pub values: BTreeMap<String, f64>,
}

/// Which way a signal points.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Crossed above, rose above a threshold or band, spiked.
    Up,
    /// Crossed below, fell below a threshold or band.
    Down,
    /// No direction (feed health, spread).
    Neutral,
}

/// A rule from the pipeline file that became true.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Signal {
    /// Deterministic: the same input always gives the same id.
    pub id: String,
    /// Event time of the bar or quote that fired it.
    pub ts: UnixNanos,
    pub exchange: Exchange,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<Symbol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Interval>,
    /// The rule's name in the pipeline file.
    pub rule: String,
    pub direction: Direction,
    /// The values that fired it, by name.
    pub values: BTreeMap<String, f64>,
}

/// Every event, tagged by `type` on the wire (written first; read in any place, see `event_json.rs`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Trade(Trade),
    Quote(Quote),
    Book(BookUpdate),
    Status(FeedStatus),
    Bar(Bar),
    Indicator(IndicatorValues),
    Signal(Signal),
}

/// The kinds of event, for routing and for checking that a pipeline's nodes fit together.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Trade,
    Quote,
    Book,
    Status,
    Bar,
    Indicator,
    Signal,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        EventKind::Trade,
        EventKind::Quote,
        EventKind::Book,
        EventKind::Status,
        EventKind::Bar,
        EventKind::Indicator,
        EventKind::Signal,
    ];

    /// The `type` tag on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Trade => "trade",
            EventKind::Quote => "quote",
            EventKind::Book => "book",
            EventKind::Status => "status",
            EventKind::Bar => "bar",
            EventKind::Indicator => "indicator",
            EventKind::Signal => "signal",
        }
    }

    /// The schema id, such as `trade.v1` (the file `schemas/trade.v1.json`).
    pub const fn schema(self) -> &'static str {
        match self {
            EventKind::Trade => "trade.v1",
            EventKind::Quote => "quote.v1",
            EventKind::Book => "book.v1",
            EventKind::Status => "status.v1",
            EventKind::Bar => "bar.v1",
            EventKind::Indicator => "indicator.v1",
            EventKind::Signal => "signal.v1",
        }
    }

    /// The plural used in topic and dataset names: `trades`, `quotes`, ...
    pub const fn plural(self) -> &'static str {
        match self {
            EventKind::Trade => "trades",
            EventKind::Quote => "quotes",
            EventKind::Book => "book",
            EventKind::Status => "status",
            EventKind::Bar => "bars",
            EventKind::Indicator => "indicators",
            EventKind::Signal => "signals",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Trade(_) => EventKind::Trade,
            Event::Quote(_) => EventKind::Quote,
            Event::Book(_) => EventKind::Book,
            Event::Status(_) => EventKind::Status,
            Event::Bar(_) => EventKind::Bar,
            Event::Indicator(_) => EventKind::Indicator,
            Event::Signal(_) => EventKind::Signal,
        }
    }

    pub fn exchange(&self) -> Exchange {
        match self {
            Event::Trade(e) => e.exchange,
            Event::Quote(e) => e.exchange,
            Event::Book(e) => e.exchange,
            Event::Status(e) => e.exchange,
            Event::Bar(e) => e.exchange,
            Event::Indicator(e) => e.exchange,
            Event::Signal(e) => e.exchange,
        }
    }

    pub fn symbol(&self) -> Option<&Symbol> {
        match self {
            Event::Trade(e) => Some(&e.symbol),
            Event::Quote(e) => Some(&e.symbol),
            Event::Book(e) => Some(&e.symbol),
            Event::Status(e) => e.symbol.as_ref(),
            Event::Bar(e) => Some(&e.symbol),
            Event::Indicator(e) => Some(&e.symbol),
            Event::Signal(e) => e.symbol.as_ref(),
        }
    }

    /// The event's own time: venue time for ticks, the bar's open for bars and indicators, the firing
    /// time for signals.
    pub fn ts_event(&self) -> UnixNanos {
        match self {
            Event::Trade(e) => e.ts_event,
            Event::Quote(e) => e.ts_event,
            Event::Book(e) => e.ts_event,
            Event::Status(e) => e.ts_event,
            Event::Bar(e) => e.open_time,
            Event::Indicator(e) => e.open_time,
            Event::Signal(e) => e.ts,
        }
    }

    /// The Kafka message key: the canonical instrument, so that every venue's events for one instrument
    /// share a partition in order; the venue's name for events without an instrument.
    pub fn key(&self) -> &str {
        match self.symbol() {
            Some(symbol) => symbol.as_str(),
            None => self.exchange().as_str(),
        }
    }
}
