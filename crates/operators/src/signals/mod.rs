//! The `signal` operator: named rules from the pipeline file over bars, indicator rows, quotes and feed
//! statuses, each firing once when its condition becomes true, with a deterministic id.

mod bar_rules;
mod config;
mod venue_rules;

use std::collections::{BTreeMap, HashMap};

use serde_json::value::RawValue;
use tickstream_model::{
    Bar, Direction, Event, EventKind, Exchange, IndicatorValues, Interval, Signal, Symbol,
    UnixNanos,
};

use crate::{Error, Operator, OperatorIo, StateJson, restore_json, save_json};
use bar_rules::{BarRuleState, Needs, evaluate};
pub use config::{
    BandBreakRule, CrossoverRule, FeedHealthRule, SignalConfig, SignalRule, SpreadRule,
    ThresholdRule, VolumeSpikeRule,
};
use venue_rules::{HealthState, SpreadState};

const OPERATOR: &str = "signal";
/// Bars or indicator rows waiting for a partner whose side has never delivered anything for the series
/// (at start, or an interval without indicators): older ones are dropped beyond this, which bounds the
/// memory of a series whose partner never comes. Otherwise a part waits until its partner comes or the
/// partner's side has passed it, however far one input runs ahead of the other (as it does while a
/// backlog is read), so that the output does not depend on timing. The bound is about three days of
/// one-minute bars, far more than one series has in flight between two operators.
const MAX_PENDING: usize = 4096;

/// `signal` takes bars, indicator rows, quotes and feed statuses and emits signals.
pub fn signal_io() -> OperatorIo {
    OperatorIo {
        accepts: &[
            EventKind::Bar,
            EventKind::Indicator,
            EventKind::Quote,
            EventKind::Status,
        ],
        emits: &[EventKind::Signal],
    }
}

type SeriesKey = (Exchange, Symbol, Interval);

/// A bar and its indicator row, while one of them waits for the other.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Pending {
    bar: Option<Bar>,
    values: Option<BTreeMap<String, f64>>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct RuleEntry {
    rule: String,
    exchange: Exchange,
    symbol: Symbol,
    interval: Interval,
    state: BarRuleState,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct PendingEntry {
    exchange: Exchange,
    symbol: Symbol,
    interval: Interval,
    open_time: i64,
    pending: Pending,
}

/// How far each side of a series has delivered: the newest open time of a bar and of an indicator row.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct Delivered {
    bars: i64,
    values: i64,
}

impl Default for Delivered {
    fn default() -> Delivered {
        Delivered {
            bars: i64::MIN,
            values: i64::MIN,
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct DeliveredEntry {
    exchange: Exchange,
    symbol: Symbol,
    interval: Interval,
    delivered: Delivered,
}

/// Everything that survives a restart, in a form JSON can hold.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct SavedState {
    now: i64,
    rules: Vec<RuleEntry>,
    pending: Vec<PendingEntry>,
    #[serde(default)]
    delivered: Vec<DeliveredEntry>,
    spreads: SpreadState,
    health: HealthState,
}

/// The `signal` operator.
#[derive(Debug)]
pub struct Signals {
    rules: Vec<SignalRule>,
    needs: Vec<Needs>,
    spread_rules: Vec<SpreadRule>,
    health_rules: Vec<FeedHealthRule>,
    /// Event time: the newest bar close, row close, quote or status time, or watermark seen.
    now: i64,
    states: HashMap<(usize, SeriesKey), BarRuleState>,
    pending: HashMap<SeriesKey, BTreeMap<i64, Pending>>,
    delivered: HashMap<SeriesKey, Delivered>,
    spreads: SpreadState,
    health: HealthState,
}

impl Signals {
    pub fn new(config: SignalConfig) -> Result<Signals, Error> {
        config.validate()?;
        Ok(Signals {
            needs: config.rules.iter().map(Needs::of).collect(),
            spread_rules: config
                .rules
                .iter()
                .filter_map(|r| {
                    if let SignalRule::Spread(s) = r {
                        Some(s.clone())
                    } else {
                        None
                    }
                })
                .collect(),
            health_rules: config
                .rules
                .iter()
                .filter_map(|r| {
                    if let SignalRule::FeedHealth(h) = r {
                        Some(h.clone())
                    } else {
                        None
                    }
                })
                .collect(),
            rules: config.rules,
            now: i64::MIN,
            states: HashMap::new(),
            pending: HashMap::new(),
            delivered: HashMap::new(),
            spreads: SpreadState::default(),
            health: HealthState::default(),
        })
    }

    /// Runs the bar rules with the given needs on one bar's values.
    fn run_bar_rules(
        &mut self,
        key: &SeriesKey,
        close_time: UnixNanos,
        which: Needs,
        pending: &Pending,
        out: &mut Vec<Signal>,
    ) {
        let get = |name: &str| {
            let from_bar = pending
                .bar
                .as_ref()
                .and_then(|b| config::bar_column(b, name));
            from_bar.or_else(|| pending.values.as_ref().and_then(|v| v.get(name).copied()))
        };
        for (i, rule) in self.rules.iter().enumerate() {
            if self.needs[i] != which {
                continue;
            }
            let state = self.states.entry((i, key.clone())).or_default();
            if let Some((direction, values)) = evaluate(rule, state, get) {
                out.push(bar_signal(rule.name(), key, close_time, direction, values));
            }
        }
    }

    fn on_series(
        &mut self,
        key: SeriesKey,
        open_time: i64,
        close_time: UnixNanos,
        part: Pending,
        out: &mut Vec<Signal>,
    ) {
        let alone = if part.bar.is_some() {
            Needs::Bar
        } else {
            Needs::Indicators
        };
        self.run_bar_rules(&key, close_time, alone, &part, out);
        if !self.needs.contains(&Needs::Both) {
            return;
        }
        let delivered = self.delivered.entry(key.clone()).or_default();
        let waiting = self.pending.entry(key.clone()).or_default();
        let entry = waiting.entry(open_time).or_default();
        if part.bar.is_some() {
            entry.bar = part.bar;
            delivered.bars = delivered.bars.max(open_time);
        } else {
            entry.values = part.values;
            delivered.values = delivered.values.max(open_time);
        }
        let Delivered { bars, values } = *delivered;
        let joined = if entry.bar.is_some() && entry.values.is_some() {
            waiting.remove(&open_time)
        } else {
            None
        };
        // Each side delivers in open-time order: a part whose partner's side has passed it never joins.
        waiting.retain(|t, p| {
            !((p.bar.is_none() && *t < bars) || (p.values.is_none() && *t < values))
        });
        if waiting.len() > MAX_PENDING && (bars == i64::MIN || values == i64::MIN) {
            waiting.pop_first();
        }
        if let Some(joined) = joined {
            self.run_bar_rules(&key, close_time, Needs::Both, &joined, out);
        }
    }

    fn handle(&mut self, event: &Event, out: &mut Vec<Signal>) {
        let time = match event {
            Event::Bar(bar) => {
                let key = (bar.exchange, bar.symbol.clone(), bar.interval);
                let part = Pending {
                    bar: Some(bar.clone()),
                    values: None,
                };
                self.on_series(key, bar.open_time.0, bar.close_time, part, out);
                bar.close_time.0
            }
            Event::Indicator(row) => {
                let IndicatorValues {
                    exchange,
                    symbol,
                    interval,
                    open_time,
                    close_time,
                    values,
                } = row;
                let part = Pending {
                    bar: None,
                    values: Some(values.clone()),
                };
                self.on_series(
                    (*exchange, symbol.clone(), *interval),
                    open_time.0,
                    *close_time,
                    part,
                    out,
                );
                close_time.0
            }
            Event::Quote(quote) => {
                self.spreads.on_quote(quote, &self.spread_rules, out);
                quote.ts_event.0
            }
            Event::Status(status) => {
                self.health.on_status(status, &self.health_rules);
                status.ts_event.0
            }
            _ => return,
        };
        self.advance(time, out);
    }

    fn advance(&mut self, time: i64, out: &mut Vec<Signal>) {
        self.now = self.now.max(time);
        if !self.health_rules.is_empty() {
            self.health.advance(self.now, &self.health_rules, out);
        }
    }
}

fn bar_signal(
    rule: &str,
    key: &SeriesKey,
    ts: UnixNanos,
    direction: Direction,
    values: BTreeMap<String, f64>,
) -> Signal {
    let (exchange, symbol, interval) = key;
    let way = match direction {
        Direction::Up => "up",
        Direction::Down => "down",
        Direction::Neutral => "neutral",
    };
    Signal {
        id: format!("{rule}:{exchange}:{symbol}:{interval}:{}:{way}", ts.0),
        ts,
        exchange: *exchange,
        symbol: Some(symbol.clone()),
        interval: Some(*interval),
        rule: rule.to_owned(),
        direction,
        values,
    }
}

impl Operator for Signals {
    fn on_event(&mut self, event: &Event, out: &mut Vec<Event>) {
        let mut signals = Vec::new();
        self.handle(event, &mut signals);
        out.extend(signals.into_iter().map(Event::Signal));
    }

    fn on_watermark(&mut self, watermark: UnixNanos, out: &mut Vec<Event>) {
        let mut signals = Vec::new();
        self.advance(watermark.0, &mut signals);
        out.extend(signals.into_iter().map(Event::Signal));
    }

    fn save_state(&self) -> Result<StateJson, Error> {
        let mut rules: Vec<RuleEntry> = self
            .states
            .iter()
            .map(|((i, (exchange, symbol, interval)), state)| RuleEntry {
                rule: self.rules[*i].name().to_owned(),
                exchange: *exchange,
                symbol: symbol.clone(),
                interval: *interval,
                state: state.clone(),
            })
            .collect();
        rules.sort_by(|a, b| {
            (&a.rule, a.exchange, &a.symbol, a.interval)
                .cmp(&(&b.rule, b.exchange, &b.symbol, b.interval))
        });
        let mut pending: Vec<PendingEntry> = self
            .pending
            .iter()
            .flat_map(|((exchange, symbol, interval), waiting)| {
                waiting.iter().map(|(open_time, p)| PendingEntry {
                    exchange: *exchange,
                    symbol: symbol.clone(),
                    interval: *interval,
                    open_time: *open_time,
                    pending: p.clone(),
                })
            })
            .collect();
        pending.sort_by(|a, b| {
            (a.exchange, &a.symbol, a.interval, a.open_time).cmp(&(
                b.exchange,
                &b.symbol,
                b.interval,
                b.open_time,
            ))
        });
        let mut delivered: Vec<DeliveredEntry> = self
            .delivered
            .iter()
            .map(|((exchange, symbol, interval), d)| DeliveredEntry {
                exchange: *exchange,
                symbol: symbol.clone(),
                interval: *interval,
                delivered: *d,
            })
            .collect();
        delivered.sort_by(|a, b| {
            (a.exchange, &a.symbol, a.interval).cmp(&(b.exchange, &b.symbol, b.interval))
        });
        let saved = SavedState {
            now: self.now,
            rules,
            pending,
            delivered,
            spreads: self.spreads.clone(),
            health: self.health.clone(),
        };
        save_json(OPERATOR, &saved)
    }

    fn restore_state(&mut self, state: &RawValue) -> Result<(), Error> {
        let saved: SavedState = restore_json(OPERATOR, state)?;
        self.now = saved.now;
        // Rules are matched by name: state of a rule no longer declared is dropped.
        self.states = saved
            .rules
            .into_iter()
            .filter_map(|e| {
                let i = self.rules.iter().position(|r| r.name() == e.rule)?;
                Some(((i, (e.exchange, e.symbol, e.interval)), e.state))
            })
            .collect();
        self.pending = HashMap::new();
        for e in saved.pending {
            self.pending
                .entry((e.exchange, e.symbol, e.interval))
                .or_default()
                .insert(e.open_time, e.pending);
        }
        self.delivered = saved
            .delivered
            .into_iter()
            .map(|e| ((e.exchange, e.symbol, e.interval), e.delivered))
            .collect();
        self.spreads = saved.spreads;
        self.health = saved.health;
        Ok(())
    }
}
