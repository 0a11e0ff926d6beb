//! Venue rules: the cross-venue spread of one canonical symbol's mid prices, and feed health (a venue
//! impaired for longer than a window of event time).

use std::collections::BTreeMap;

use tickstream_model::{
    Direction, Exchange, FeedState, FeedStatus, Quote, Signal, Symbol, UnixNanos,
};

use super::config::{FeedHealthRule, SpreadRule};

/// The latest mid price of one symbol on one venue.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct VenueMid {
    symbol: Symbol,
    exchange: Exchange,
    mid: f64,
    ts: i64,
}

/// A pair of venues whose spread rule currently holds (it fired and has not reset).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct WidePair {
    rule: String,
    symbol: Symbol,
    venues: (Exchange, Exchange),
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SpreadState {
    mids: Vec<VenueMid>,
    wide: Vec<WidePair>,
}

impl SpreadState {
    /// Records a quote and checks every spread rule against the other venues' mids of its symbol.
    pub(crate) fn on_quote(&mut self, quote: &Quote, rules: &[SpreadRule], out: &mut Vec<Signal>) {
        if !(quote.bid_price.is_positive() && quote.ask_price.is_positive()) {
            return;
        }
        let (bid, ask) = (quote.bid_price.to_f64(), quote.ask_price.to_f64());
        let mid = (bid + ask) / 2.0;
        let ts = quote.ts_event.0;
        match self
            .mids
            .iter_mut()
            .find(|m| m.exchange == quote.exchange && m.symbol == quote.symbol)
        {
            // A quote older than the one held does not replace it.
            Some(held) if held.ts > ts => return,
            Some(held) => (held.mid, held.ts) = (mid, ts),
            None => self.mids.push(VenueMid {
                symbol: quote.symbol.clone(),
                exchange: quote.exchange,
                mid,
                ts,
            }),
        }
        for rule in rules {
            let watched = |e: Exchange| rule.exchanges.is_empty() || rule.exchanges.contains(&e);
            if !watched(quote.exchange) {
                continue;
            }
            let freshness = i64::try_from(rule.freshness.as_nanos()).unwrap_or(i64::MAX);
            let others: Vec<&VenueMid> = self
                .mids
                .iter()
                .filter(|m| {
                    m.symbol == quote.symbol && m.exchange != quote.exchange && watched(m.exchange)
                })
                .collect();
            for other in others {
                let venues = if quote.exchange < other.exchange {
                    (quote.exchange, other.exchange)
                } else {
                    (other.exchange, quote.exchange)
                };
                let fresh = (ts - other.ts).abs() <= freshness;
                let bps = (mid - other.mid).abs() / ((mid + other.mid) / 2.0) * 10_000.0;
                let wide = fresh && bps > rule.bps;
                let held = self.wide.iter().position(|w| {
                    w.rule == rule.name && w.symbol == quote.symbol && w.venues == venues
                });
                match (wide, held) {
                    (true, None) => {
                        self.wide.push(WidePair {
                            rule: rule.name.clone(),
                            symbol: quote.symbol.clone(),
                            venues,
                        });
                        let mut values = BTreeMap::new();
                        values.insert(format!("mid_{}", quote.exchange), mid);
                        values.insert(format!("mid_{}", other.exchange), other.mid);
                        values.insert("spread_bps".to_owned(), bps);
                        out.push(Signal {
                            id: format!(
                                "{}:{}:{}-{}:{}",
                                rule.name, quote.symbol, venues.0, venues.1, ts
                            ),
                            ts: UnixNanos(ts),
                            exchange: quote.exchange,
                            symbol: Some(quote.symbol.clone()),
                            interval: None,
                            rule: rule.name.clone(),
                            direction: Direction::Neutral,
                            values,
                        });
                    }
                    (false, Some(i)) => {
                        self.wide.swap_remove(i);
                    }
                    _ => {}
                }
            }
        }
    }
}

/// A feed that reported trouble and has not recovered.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Impaired {
    exchange: Exchange,
    symbol: Option<Symbol>,
    state: FeedState,
    since: i64,
    /// Rules that already fired for this impairment.
    fired: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct HealthState {
    impaired: Vec<Impaired>,
}

impl HealthState {
    pub(crate) fn on_status(&mut self, status: &FeedStatus, rules: &[FeedHealthRule]) {
        let ts = status.ts_event.0;
        match status.state {
            FeedState::Connected | FeedState::Subscribed | FeedState::Resync => {
                self.impaired.retain(|i| {
                    i.exchange != status.exchange
                        || (status.symbol.is_some() && i.symbol != status.symbol)
                });
            }
            state if rules.iter().any(|r| r.states.contains(&state)) => {
                let known = self
                    .impaired
                    .iter()
                    .any(|i| i.exchange == status.exchange && i.symbol == status.symbol);
                if !known {
                    self.impaired.push(Impaired {
                        exchange: status.exchange,
                        symbol: status.symbol.clone(),
                        state,
                        since: ts,
                        fired: Vec::new(),
                    });
                }
            }
            _ => {}
        }
    }

    /// Fires every rule whose window has passed by event time `now`. A signal's time is the instant its
    /// window ended, whenever the event that revealed it arrived.
    pub(crate) fn advance(&mut self, now: i64, rules: &[FeedHealthRule], out: &mut Vec<Signal>) {
        let mut fired = Vec::new();
        for impaired in &mut self.impaired {
            for rule in rules {
                let window = i64::try_from(rule.window.as_nanos()).unwrap_or(i64::MAX);
                let due = impaired.since.saturating_add(window);
                let watched =
                    rule.exchanges.is_empty() || rule.exchanges.contains(&impaired.exchange);
                if !watched
                    || !rule.states.contains(&impaired.state)
                    || due > now
                    || impaired.fired.contains(&rule.name)
                {
                    continue;
                }
                impaired.fired.push(rule.name.clone());
                let mut values = BTreeMap::new();
                values.insert(
                    "impaired_seconds".to_owned(),
                    (due - impaired.since) as f64 / 1e9,
                );
                let scope = impaired.symbol.as_ref().map_or("*", Symbol::as_str);
                fired.push(Signal {
                    id: format!(
                        "{}:{}:{}:{}:{}",
                        rule.name,
                        impaired.exchange,
                        scope,
                        state_name(impaired.state),
                        due
                    ),
                    ts: UnixNanos(due),
                    exchange: impaired.exchange,
                    symbol: impaired.symbol.clone(),
                    interval: None,
                    rule: rule.name.clone(),
                    direction: Direction::Neutral,
                    values,
                });
            }
        }
        fired.sort_by(|a, b| (a.ts, &a.id).cmp(&(b.ts, &b.id)));
        out.extend(fired);
    }
}

/// The state's name as on the wire (`gap`, `stale`, ...).
fn state_name(state: FeedState) -> String {
    format!("{state:?}").to_lowercase()
}
