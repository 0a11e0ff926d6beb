//! The `filter` operator: passes on only the events of the listed kinds, exchanges and symbols.

use serde_json::value::RawValue;
use tickstream_model::{Event, EventKind, Exchange, Symbol, UnixNanos};

use crate::{Error, Operator, StateJson};

/// `kind = "filter"`: every list that is non-empty must match; an empty list matches everything.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    #[serde(default)]
    pub kinds: Vec<EventKind>,
    #[serde(default)]
    pub exchanges: Vec<Exchange>,
    #[serde(default)]
    pub symbols: Vec<Symbol>,
}

impl FilterConfig {
    pub fn emits(&self) -> Vec<EventKind> {
        if self.kinds.is_empty() {
            EventKind::ALL.to_vec()
        } else {
            self.kinds.clone()
        }
    }

    pub fn matches(&self, event: &Event) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&event.kind()))
            && (self.exchanges.is_empty() || self.exchanges.contains(&event.exchange()))
            && (self.symbols.is_empty() || event.symbol().is_some_and(|s| self.symbols.contains(s)))
    }
}

/// The `filter` operator: stateless, it keeps the events its configuration matches.
#[derive(Debug, Clone)]
pub struct Filter {
    config: FilterConfig,
}

impl Filter {
    pub fn new(config: FilterConfig) -> Filter {
        Filter { config }
    }
}

impl Operator for Filter {
    fn on_event(&mut self, event: &Event, out: &mut Vec<Event>) {
        if self.config.matches(event) {
            out.push(event.clone());
        }
    }

    fn on_watermark(&mut self, _watermark: UnixNanos, _out: &mut Vec<Event>) {}

    fn is_stateful(&self) -> bool {
        false
    }

    fn save_state(&self) -> Result<StateJson, Error> {
        crate::save_json("filter", &())
    }

    fn restore_state(&mut self, _state: &RawValue) -> Result<(), Error> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_lists_match_everything_and_lists_narrow() {
        let trade: Event =
            serde_json::from_str(include_str!("../../../schemas/examples/trade.v1.json")).unwrap();
        assert!(FilterConfig::default().matches(&trade));
        let only_quotes = FilterConfig {
            kinds: vec![EventKind::Quote],
            ..FilterConfig::default()
        };
        assert!(!only_quotes.matches(&trade));
        let coinbase_btc = FilterConfig {
            exchanges: vec![Exchange::Coinbase],
            symbols: vec![Symbol::parse("BTC-USD").unwrap()],
            ..FilterConfig::default()
        };
        assert!(coinbase_btc.matches(&trade));
        let eth = FilterConfig {
            symbols: vec![Symbol::parse("ETH-USD").unwrap()],
            ..FilterConfig::default()
        };
        assert!(!eth.matches(&trade));
    }
}
