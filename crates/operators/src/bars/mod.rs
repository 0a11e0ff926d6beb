//! The `time_bars` operator: OHLCV bars per (exchange, symbol, interval) from trades, closed by event-time
//! watermarks, flagged when the feed was impaired, optionally filled when empty and combined across venues.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde_json::value::RawValue;
use tickstream_model::{
    Bar, Event, EventKind, Exchange, FeedState, FeedStatus, Interval, Symbol, Trade, UnixNanos,
    duration_text,
};

use crate::{Error, Operator, OperatorIo, StateJson, restore_json, save_json};
use assemble::{OpenBar, add_composites, finish_bar, flat_bar};

mod assemble;

const OPERATOR: &str = "time_bars";
/// How far a watermark may run ahead of the newest trade: one day.
const MAX_IDLE_NANOS: i64 = 86_400 * 1_000_000_000;

/// `time_bars` takes trades and feed statuses and emits bars.
pub fn time_bars_io() -> OperatorIo {
    OperatorIo {
        accepts: &[EventKind::Trade, EventKind::Status],
        emits: &[EventKind::Bar],
    }
}

/// A `time_bars` node of a pipeline file.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeBarsConfig {
    /// Bar lengths to build, each aligned to multiples of itself since the Unix epoch.
    pub intervals: Vec<Interval>,
    /// How far behind the newest trade's time the watermark trails; a bar is emitted once the watermark
    /// passes its close, and a trade for an emitted bar is counted as late and dropped.
    #[serde(with = "duration_text")]
    pub allowed_lateness: Duration,
    /// Emit a flat bar at the previous close with zero volume for intervals without trades.
    pub fill_empty: bool,
    /// Also emit bars with `exchange = "composite"` per canonical symbol, volume-weighted across venues.
    pub composite: bool,
    /// A trade stamped further than this after its own receive time is rejected: one bogus future
    /// timestamp would otherwise push the watermark ahead and make every later trade late.
    #[serde(with = "duration_text")]
    pub max_clock_skew: Duration,
}

impl Default for TimeBarsConfig {
    fn default() -> TimeBarsConfig {
        TimeBarsConfig {
            intervals: vec![Interval::M1],
            allowed_lateness: Duration::from_secs(2),
            fill_empty: false,
            composite: false,
            max_clock_skew: Duration::from_secs(60),
        }
    }
}

impl TimeBarsConfig {
    pub fn validate(&self) -> Result<(), Error> {
        if self.intervals.is_empty() {
            return Err(Error::config(
                "intervals",
                "list at least one interval, such as \"1m\"",
            ));
        }
        for (i, interval) in self.intervals.iter().enumerate() {
            if self.intervals[..i].contains(interval) {
                return Err(Error::config(
                    format!("intervals[{i}]"),
                    format!("{interval} is listed twice"),
                ));
            }
        }
        if self.allowed_lateness > Duration::from_secs(86_400) {
            return Err(Error::config("allowed_lateness", "must be at most 1 day"));
        }
        if self.max_clock_skew.is_zero() || self.max_clock_skew > Duration::from_secs(86_400) {
            return Err(Error::config(
                "max_clock_skew",
                "must be more than 0 and at most 1 day",
            ));
        }
        Ok(())
    }
}

/// The bars of one (exchange, symbol) at one interval.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Series {
    interval: Interval,
    /// Bars collecting trades, by open time (several when the lateness spans more than one interval).
    open: VecDeque<OpenBar>,
    /// Close of the last emitted bar, for flat bars.
    last_close: Option<f64>,
    /// Close time of the last emitted bar: where the next bar starts when empty bars are filled.
    emitted_until: Option<i64>,
}

impl Series {
    fn new(interval: Interval) -> Series {
        Series {
            interval,
            open: VecDeque::new(),
            last_close: None,
            emitted_until: None,
        }
    }

    /// The earliest close time at which this series has something to emit.
    fn deadline(&self, fill_empty: bool) -> i64 {
        let n = self.interval.nanos();
        let real = self.open.front().map_or(i64::MAX, |b| b.open_time + n);
        match (fill_empty, self.emitted_until, self.last_close) {
            (true, Some(next), Some(_)) => real.min(next.saturating_add(n)),
            _ => real,
        }
    }
}

/// Every interval of one (exchange, symbol).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Stream {
    exchange: Exchange,
    symbol: Symbol,
    series: Vec<Series>,
}

/// A span during which a feed reported trouble; bars overlapping it are flagged `gap`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Impairment {
    exchange: Exchange,
    /// `None`: the whole venue connection.
    symbol: Option<Symbol>,
    start: i64,
    /// `None` while the trouble lasts.
    end: Option<i64>,
}

impl Impairment {
    fn overlaps(
        &self,
        exchange: Exchange,
        symbol: &Symbol,
        open_time: i64,
        close_time: i64,
    ) -> bool {
        self.exchange == exchange
            && self.symbol.as_ref().is_none_or(|s| s == symbol)
            && self.start < close_time
            && self.end.is_none_or(|end| end >= open_time)
    }
}

/// Everything that survives a restart.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct BarsState {
    watermark: i64,
    /// The newest trade time seen.
    newest_trade: i64,
    streams: Vec<Stream>,
    impairments: Vec<Impairment>,
    /// Last composite close per (symbol, interval), for flat composite bars.
    composite_closes: Vec<(Symbol, Interval, f64)>,
    late_trades: u64,
    rejected_trades: u64,
}

/// The `time_bars` operator.
#[derive(Debug)]
pub struct TimeBars {
    config: TimeBarsConfig,
    lateness: i64,
    max_skew: i64,
    state: BarsState,
    index: HashMap<(Exchange, Symbol), usize>,
    /// The stream of the previous trade: consecutive trades are usually for the same instrument.
    last_stream: Option<usize>,
    /// No series has anything to emit before the watermark reaches this.
    next_deadline: i64,
    closed: Vec<Bar>,
}

impl TimeBars {
    pub fn new(config: TimeBarsConfig) -> Result<TimeBars, Error> {
        config.validate()?;
        Ok(TimeBars {
            lateness: nanos(config.allowed_lateness),
            max_skew: nanos(config.max_clock_skew),
            config,
            state: BarsState {
                watermark: i64::MIN,
                newest_trade: i64::MIN,
                ..BarsState::default()
            },
            index: HashMap::new(),
            last_stream: None,
            next_deadline: i64::MAX,
            closed: Vec::new(),
        })
    }

    /// Trades dropped because the watermark had already passed their bar (for at least one interval).
    pub fn late_trades(&self) -> u64 {
        self.state.late_trades
    }

    /// Trades refused as invalid: a price or quantity that is not positive, or a time far in the future.
    pub fn rejected_trades(&self) -> u64 {
        self.state.rejected_trades
    }

    /// The operator's event time: no bar closing at or before it is still open.
    pub fn watermark(&self) -> UnixNanos {
        UnixNanos(self.state.watermark)
    }

    fn stream_index(&mut self, exchange: Exchange, symbol: &Symbol) -> usize {
        if let Some(i) = self.last_stream {
            let s = &self.state.streams[i];
            if s.exchange == exchange && s.symbol == *symbol {
                return i;
            }
        }
        let i = match self.index.get(&(exchange, symbol.clone())) {
            Some(&i) => i,
            None => {
                let i = self.state.streams.len();
                let series = self
                    .config
                    .intervals
                    .iter()
                    .map(|&iv| Series::new(iv))
                    .collect();
                self.state.streams.push(Stream {
                    exchange,
                    symbol: symbol.clone(),
                    series,
                });
                self.index.insert((exchange, symbol.clone()), i);
                i
            }
        };
        self.last_stream = Some(i);
        i
    }

    fn on_trade(&mut self, trade: &Trade, out: &mut Vec<Event>) {
        let ts = trade.ts_event.0;
        let reason = if !trade.price.is_positive() {
            Some("invalid_price")
        } else if !trade.quantity.is_positive() {
            Some("invalid_quantity")
        } else if ts > trade.ts_recv.0.saturating_add(self.max_skew) {
            Some("future_timestamp")
        } else {
            None
        };
        if let Some(reason) = reason {
            self.state.rejected_trades += 1;
            metrics::counter!("tickstream_operator_rejected_total", "operator" => OPERATOR, "exchange" => trade.exchange.as_str(), "reason" => reason)
                .increment(1);
            return;
        }
        let price = trade.price.to_f64();
        let quantity = trade.quantity.to_f64();
        let watermark = self.state.watermark;
        self.state.newest_trade = self.state.newest_trade.max(ts);
        let i = self.stream_index(trade.exchange, &trade.symbol);
        let mut late = false;
        for series in &mut self.state.streams[i].series {
            let n = series.interval.nanos();
            let open_time = ts - ts.rem_euclid(n);
            if open_time.saturating_add(n) <= watermark {
                late = true;
                continue;
            }
            // Most trades belong to the newest open bar: search from the back.
            let pos = series.open.iter().rposition(|b| b.open_time <= open_time);
            match pos {
                Some(p) if series.open[p].open_time == open_time => {
                    series.open[p].add(ts, price, quantity, trade.side)
                }
                _ => {
                    let mut bar = OpenBar::new(open_time, ts, price);
                    bar.add(ts, price, quantity, trade.side);
                    series.open.insert(pos.map_or(0, |p| p + 1), bar);
                    self.next_deadline = self.next_deadline.min(open_time + n);
                }
            }
        }
        if late {
            self.state.late_trades += 1;
            metrics::counter!("tickstream_late_trades_total", "exchange" => trade.exchange.as_str()).increment(1);
        }
        self.advance(ts.saturating_sub(self.lateness), out);
    }

    fn on_status(&mut self, status: &FeedStatus) {
        let ts = status.ts_event.0;
        let impairments = &mut self.state.impairments;
        let is_open = |w: &Impairment| {
            w.exchange == status.exchange && w.end.is_none() && w.symbol == status.symbol
        };
        match status.state {
            FeedState::Gap
            | FeedState::Stale
            | FeedState::Disconnected
            | FeedState::Reconnecting => {
                if !impairments.iter().any(is_open) {
                    impairments.push(Impairment {
                        exchange: status.exchange,
                        symbol: status.symbol.clone(),
                        start: ts,
                        end: None,
                    });
                }
            }
            FeedState::Connected | FeedState::Subscribed | FeedState::Resync => {
                let mut closed_one = false;
                for w in impairments.iter_mut() {
                    let covered = status.symbol.is_none() || w.symbol == status.symbol;
                    if w.exchange == status.exchange && w.end.is_none() && covered {
                        w.end = Some(ts.max(w.start));
                        closed_one = true;
                    }
                }
                // A resync means the book had to be rebuilt: data was missing even without a gap report.
                if status.state == FeedState::Resync && !closed_one {
                    impairments.push(Impairment {
                        exchange: status.exchange,
                        symbol: status.symbol.clone(),
                        start: ts,
                        end: Some(ts),
                    });
                }
            }
            FeedState::Rejected | FeedState::Backpressure => {}
        }
    }

    /// Moves the watermark forward and emits every bar it closed.
    fn advance(&mut self, watermark: i64, out: &mut Vec<Event>) {
        if watermark <= self.state.watermark {
            return;
        }
        self.state.watermark = watermark;
        if watermark < self.next_deadline {
            return;
        }
        self.close_bars(out);
    }

    fn close_bars(&mut self, out: &mut Vec<Event>) {
        let watermark = self.state.watermark;
        let fill_empty = self.config.fill_empty;
        let mut next_deadline = i64::MAX;
        let mut closed = std::mem::take(&mut self.closed);
        for stream in &mut self.state.streams {
            for series in &mut stream.series {
                let n = series.interval.nanos();
                while series.deadline(fill_empty) <= watermark {
                    let front = series.open.front().map(|b| b.open_time);
                    let flat_at = match (fill_empty, series.emitted_until, series.last_close) {
                        (true, Some(next), Some(close)) if front != Some(next) => {
                            Some((next, close))
                        }
                        _ => None,
                    };
                    let bar = match (flat_at, series.open.pop_front()) {
                        (Some((open_time, close)), front_bar) => {
                            if let Some(b) = front_bar {
                                series.open.push_front(b);
                            }
                            flat_bar(
                                stream.exchange,
                                &stream.symbol,
                                series.interval,
                                open_time,
                                close,
                            )
                        }
                        (None, Some(b)) => {
                            finish_bar(stream.exchange, &stream.symbol, series.interval, b)
                        }
                        (None, None) => break,
                    };
                    series.last_close = Some(bar.close);
                    series.emitted_until = Some(bar.open_time.0 + n);
                    closed.push(bar);
                }
                next_deadline = next_deadline.min(series.deadline(fill_empty));
            }
        }
        self.next_deadline = next_deadline;
        for bar in &mut closed {
            bar.gap =
                self.state.impairments.iter().any(|w| {
                    w.overlaps(bar.exchange, &bar.symbol, bar.open_time.0, bar.close_time.0)
                });
        }
        if self.config.composite {
            add_composites(&mut self.state.composite_closes, &mut closed);
        }
        closed.sort_by(|a, b| {
            (a.close_time, a.interval, &a.symbol, a.exchange).cmp(&(
                b.close_time,
                b.interval,
                &b.symbol,
                b.exchange,
            ))
        });
        out.extend(closed.drain(..).map(Event::Bar));
        self.closed = closed;
        // No bar still to come can overlap an impairment that ended before the longest interval.
        let longest = self
            .config
            .intervals
            .iter()
            .map(|i| i.nanos())
            .max()
            .unwrap_or(0);
        let horizon = watermark.saturating_sub(longest);
        self.state
            .impairments
            .retain(|w| w.end.is_none_or(|end| end >= horizon));
    }

    fn rebuild_index(&mut self) {
        self.index = self
            .state
            .streams
            .iter()
            .enumerate()
            .map(|(i, s)| ((s.exchange, s.symbol.clone()), i))
            .collect();
        self.last_stream = None;
        self.next_deadline = self
            .state
            .streams
            .iter()
            .flat_map(|s| &s.series)
            .map(|s| s.deadline(self.config.fill_empty))
            .min()
            .unwrap_or(i64::MAX);
    }
}

impl Operator for TimeBars {
    fn on_event(&mut self, event: &Event, out: &mut Vec<Event>) {
        match event {
            Event::Trade(trade) => self.on_trade(trade, out),
            Event::Status(status) => self.on_status(status),
            _ => {}
        }
    }

    /// A watermark more than a day past the newest trade is held there, so that an idle feed (or a
    /// sentinel such as `i64::MAX`) cannot make `fill_empty` produce bars without end.
    fn on_watermark(&mut self, watermark: UnixNanos, out: &mut Vec<Event>) {
        let ceiling = self.state.newest_trade.saturating_add(MAX_IDLE_NANOS);
        self.advance(watermark.0.min(ceiling), out);
    }

    fn allowed_lateness(&self) -> Duration {
        self.config.allowed_lateness
    }

    /// Closes every open bar: up to the close of the last bar holding a trade, without filling empty
    /// bars past the data.
    fn finish(&mut self, out: &mut Vec<Event>) {
        let end = self
            .state
            .streams
            .iter()
            .flat_map(|s| &s.series)
            .filter_map(|s| {
                s.open
                    .back()
                    .map(|b| b.open_time.saturating_add(s.interval.nanos()))
            })
            .max();
        if let Some(end) = end {
            let fill_empty = std::mem::replace(&mut self.config.fill_empty, false);
            self.advance(end, out);
            self.config.fill_empty = fill_empty;
        }
    }

    fn save_state(&self) -> Result<StateJson, Error> {
        save_json(OPERATOR, &self.state)
    }

    fn restore_state(&mut self, state: &RawValue) -> Result<(), Error> {
        let mut state: BarsState = restore_json(OPERATOR, state)?;
        // Keep the configured intervals, in configured order; drop others, start new ones empty.
        for stream in &mut state.streams {
            let mut old = std::mem::take(&mut stream.series);
            stream.series = self
                .config
                .intervals
                .iter()
                .map(|&iv| match old.iter().position(|s| s.interval == iv) {
                    Some(p) => old.swap_remove(p),
                    None => Series::new(iv),
                })
                .collect();
        }
        self.state = state;
        self.rebuild_index();
        Ok(())
    }
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}
