//! The in-process cache: the same reads as Redis, held in memory, so a single binary serves without Redis.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, PoisonError, RwLock};

use serde_json::value::RawValue;
use tickstream_model::{Event, Exchange, Interval, Symbol, UnixNanos};
use tokio::sync::broadcast;

use super::entry::insert_newest_first;
use super::{CacheConfig, Channel, InstrumentRef, IntervalLatest, Latest, SignalQuery, Update};

type Json = Arc<RawValue>;

#[derive(Debug, Default)]
struct InstrumentState {
    trade: Option<Json>,
    quote: Option<Json>,
    /// Recent bars per interval, newest first; the first is the latest bar.
    bars: BTreeMap<Interval, VecDeque<(UnixNanos, Json)>>,
    indicators: BTreeMap<Interval, (UnixNanos, Json)>,
}

#[derive(Debug, Default)]
struct State {
    instruments: HashMap<(Exchange, Symbol), InstrumentState>,
    /// Oldest first.
    signals: VecDeque<Update>,
}

/// The in-process cache.
#[derive(Debug)]
pub struct EmbeddedCache {
    state: RwLock<State>,
    updates: broadcast::Sender<Arc<Update>>,
    bars_cap: usize,
    signals_cap: usize,
}

impl EmbeddedCache {
    pub fn new(config: &CacheConfig) -> EmbeddedCache {
        EmbeddedCache {
            state: RwLock::default(),
            updates: broadcast::channel(config.broadcast_capacity.max(1)).0,
            bars_cap: config.bars_cap.max(1),
            signals_cap: config.signals_cap.max(1),
        }
    }

    pub fn write(&self, events: &[Event]) {
        let updates: Vec<Update> = events.iter().filter_map(Update::from_event).collect();
        {
            let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
            for update in &updates {
                self.apply(&mut state, update);
            }
        }
        for update in updates {
            // No receivers is not an error: nobody is streaming.
            let _ = self.updates.send(Arc::new(update));
        }
    }

    fn apply(&self, state: &mut State, update: &Update) {
        if update.channel == Channel::Signals {
            state.signals.push_back(update.clone());
            while state.signals.len() > self.signals_cap {
                state.signals.pop_front();
            }
            return;
        }
        let Some(symbol) = update.symbol.clone() else {
            return;
        };
        let instrument = state
            .instruments
            .entry((update.exchange, symbol))
            .or_default();
        let json = update.json.clone();
        match (update.channel, update.interval) {
            (Channel::Trades, _) => instrument.trade = Some(json),
            (Channel::Quotes, _) => instrument.quote = Some(json),
            (Channel::Bars, Some(interval)) => {
                let list = instrument.bars.entry(interval).or_default();
                insert_newest_first(list, update.ts, json, self.bars_cap);
            }
            (Channel::Indicators, Some(interval)) => {
                let slot = instrument
                    .indicators
                    .entry(interval)
                    .or_insert((update.ts, json.clone()));
                if update.ts >= slot.0 {
                    *slot = (update.ts, json);
                }
            }
            _ => {}
        }
    }

    pub fn instruments(&self) -> Vec<InstrumentRef> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let mut list: Vec<InstrumentRef> = state
            .instruments
            .keys()
            .map(|(exchange, symbol)| InstrumentRef {
                exchange: *exchange,
                symbol: symbol.clone(),
            })
            .collect();
        list.sort();
        list
    }

    pub fn latest(&self, exchange: Exchange, symbol: &Symbol) -> Option<Latest> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let instrument = state.instruments.get(&(exchange, symbol.clone()))?;
        let mut intervals: BTreeMap<String, IntervalLatest> = BTreeMap::new();
        for (interval, bars) in &instrument.bars {
            intervals
                .entry(interval.as_str().to_owned())
                .or_default()
                .bar = bars.front().map(|b| b.1.clone());
        }
        for (interval, (_, values)) in &instrument.indicators {
            intervals
                .entry(interval.as_str().to_owned())
                .or_default()
                .indicators = Some(values.clone());
        }
        Some(Latest {
            exchange,
            symbol: symbol.clone(),
            trade: instrument.trade.clone(),
            quote: instrument.quote.clone(),
            intervals,
        })
    }

    pub fn bars(
        &self,
        exchange: Exchange,
        symbol: &Symbol,
        interval: Interval,
        limit: usize,
    ) -> Option<Vec<Json>> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let instrument = state.instruments.get(&(exchange, symbol.clone()))?;
        let bars = instrument.bars.get(&interval);
        Some(
            bars.map(|list| list.iter().take(limit).map(|b| b.1.clone()).collect())
                .unwrap_or_default(),
        )
    }

    pub fn signals(&self, query: &SignalQuery) -> Vec<Json> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state
            .signals
            .iter()
            .rev()
            .filter(|s| query.matches(s.exchange, s.symbol.as_ref(), s.ts))
            .take(query.limit)
            .map(|s| s.json.clone())
            .collect()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Update>> {
        self.updates.subscribe()
    }
}
