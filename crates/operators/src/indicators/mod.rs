//! The `indicators` operator: TA-Lib-exact indicators computed incrementally on closed bars, one state per
//! (exchange, symbol, interval), emitted as one `IndicatorValues` row per bar.

mod averages;
mod oscillators;
mod spec;

use std::collections::{BTreeMap, HashMap};

use serde_json::value::RawValue;
use tickstream_model::{
    Bar, Event, EventKind, Exchange, IndicatorValues, Interval, Symbol, UnixNanos,
};

use crate::{Error, Operator, OperatorIo, StateJson, restore_json, save_json};
use averages::{Bbands, Ema, Macd, Sma};
use oscillators::{Atr, Obv, Rsi, Stoch, VwapDaily};
pub use spec::IndicatorSpec;

const OPERATOR: &str = "indicators";

/// `indicators` takes bars and emits indicator rows.
pub fn indicators_io() -> OperatorIo {
    OperatorIo {
        accepts: &[EventKind::Bar],
        emits: &[EventKind::Indicator],
    }
}

/// An `indicators` node of a pipeline file.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndicatorsConfig {
    /// The indicators to compute on every bar of every (exchange, symbol, interval).
    pub indicators: Vec<IndicatorSpec>,
}

impl Default for IndicatorsConfig {
    fn default() -> IndicatorsConfig {
        let names = [
            "sma_20",
            "ema_12",
            "ema_26",
            "rsi_14",
            "macd_12_26_9",
            "bbands_20_2",
            "atr_14",
            "stoch_14_3_3",
            "obv",
            "vwap_daily",
        ];
        IndicatorsConfig {
            indicators: names.iter().filter_map(|n| n.parse().ok()).collect(),
        }
    }
}

impl IndicatorsConfig {
    pub fn validate(&self) -> Result<(), Error> {
        if self.indicators.is_empty() {
            return Err(Error::config(
                "indicators",
                "list at least one indicator, such as \"sma_20\"",
            ));
        }
        for (i, spec) in self.indicators.iter().enumerate() {
            spec.validate()
                .map_err(|m| Error::config(format!("indicators[{i}]"), m))?;
            if self.indicators[..i]
                .iter()
                .any(|s| s.to_string() == spec.to_string())
            {
                return Err(Error::config(
                    format!("indicators[{i}]"),
                    format!("{spec} is listed twice"),
                ));
            }
        }
        Ok(())
    }
}

/// A fresh calculator for `spec`.
fn calculator(spec: &IndicatorSpec) -> Calculator {
    match *spec {
        IndicatorSpec::Sma { period } => Calculator::Sma(Sma::new(period)),
        IndicatorSpec::Ema { period } => Calculator::Ema(Ema::new(period)),
        IndicatorSpec::Rsi { period } => Calculator::Rsi(Rsi::new(period)),
        IndicatorSpec::Macd { fast, slow, signal } => {
            Calculator::Macd(Macd::new(fast, slow, signal))
        }
        IndicatorSpec::Bbands { period, deviations } => {
            Calculator::Bbands(Bbands::new(period, deviations))
        }
        IndicatorSpec::Atr { period } => Calculator::Atr(Atr::new(period)),
        IndicatorSpec::Stoch {
            k_period,
            slow_k,
            slow_d,
        } => Calculator::Stoch(Stoch::new(k_period, slow_k, slow_d)),
        IndicatorSpec::Obv => Calculator::Obv(Obv::new()),
        IndicatorSpec::VwapDaily => Calculator::VwapDaily(VwapDaily::new()),
    }
}

/// The running state of one indicator.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum Calculator {
    Sma(Sma),
    Ema(Ema),
    Rsi(Rsi),
    Macd(Macd),
    Bbands(Bbands),
    Atr(Atr),
    Stoch(Stoch),
    Obv(Obv),
    VwapDaily(VwapDaily),
}

impl Calculator {
    /// Feeds one bar and writes the values that exist to `slots`, one per output column (the others keep
    /// their NaN: absent).
    fn update(&mut self, bar: &Bar, slots: &mut [f64]) {
        let mut put = |i: usize, value: f64| slots[i] = value;
        match self {
            Calculator::Sma(c) => c.update(bar.close).into_iter().for_each(|v| put(0, v)),
            Calculator::Ema(c) => c.update(bar.close).into_iter().for_each(|v| put(0, v)),
            Calculator::Rsi(c) => c.update(bar.close).into_iter().for_each(|v| put(0, v)),
            Calculator::Atr(c) => c
                .update(bar.high, bar.low, bar.close)
                .into_iter()
                .for_each(|v| put(0, v)),
            Calculator::Obv(c) => put(0, c.update(bar.close, bar.volume)),
            Calculator::VwapDaily(c) => c
                .update(bar.open_time, bar.quote_volume, bar.volume)
                .into_iter()
                .for_each(|v| put(0, v)),
            Calculator::Macd(c) => {
                if let Some((a, b, h)) = c.update(bar.close) {
                    put(0, a);
                    put(1, b);
                    put(2, h);
                }
            }
            Calculator::Bbands(c) => {
                if let Some((upper, middle, lower)) = c.update(bar.close) {
                    put(0, upper);
                    put(1, middle);
                    put(2, lower);
                }
            }
            Calculator::Stoch(c) => {
                if let Some((k, d)) = c.update(bar.high, bar.low, bar.close) {
                    put(0, k);
                    put(1, d);
                }
            }
        }
    }
}

/// The indicators of one (exchange, symbol, interval).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct SeriesState {
    exchange: Exchange,
    symbol: Symbol,
    interval: Interval,
    /// Open time of the last bar taken; bars must come in order.
    last_open_time: UnixNanos,
    /// By indicator name, in configured order.
    indicators: Vec<(String, Calculator)>,
}

/// Everything that survives a restart.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct IndicatorsState {
    series: Vec<SeriesState>,
    rejected_bars: u64,
}

/// The `indicators` operator.
#[derive(Debug)]
pub struct Indicators {
    names: Vec<String>,
    specs: Vec<IndicatorSpec>,
    columns: Vec<Vec<String>>,
    /// Where each indicator's first column sits in `slots`.
    offsets: Vec<usize>,
    /// Every (slot, column name), sorted by name: the row's map is built from it in one pass.
    sorted_columns: Vec<(usize, String)>,
    slots: Vec<f64>,
    state: IndicatorsState,
    index: HashMap<(Exchange, Symbol, Interval), usize>,
}

impl Indicators {
    pub fn new(config: IndicatorsConfig) -> Result<Indicators, Error> {
        config.validate()?;
        let columns: Vec<Vec<String>> = config
            .indicators
            .iter()
            .map(IndicatorSpec::columns)
            .collect();
        let offsets = columns
            .iter()
            .scan(0, |next, c| {
                let offset = *next;
                *next += c.len();
                Some(offset)
            })
            .collect();
        let mut sorted_columns: Vec<(usize, String)> =
            columns.iter().flatten().cloned().enumerate().collect();
        sorted_columns.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(Indicators {
            names: config.indicators.iter().map(|s| s.to_string()).collect(),
            slots: vec![f64::NAN; sorted_columns.len()],
            offsets,
            sorted_columns,
            columns,
            specs: config.indicators,
            state: IndicatorsState::default(),
            index: HashMap::new(),
        })
    }

    /// Bars refused: out of order or repeated for their series, or with prices that are not positive numbers.
    pub fn rejected_bars(&self) -> u64 {
        self.state.rejected_bars
    }

    /// Every output column, in configured order.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().flatten().map(String::as_str)
    }

    fn reject(&mut self, bar: &Bar, reason: &'static str) {
        self.state.rejected_bars += 1;
        metrics::counter!("tickstream_operator_rejected_total", "operator" => OPERATOR, "exchange" => bar.exchange.as_str(), "reason" => reason)
            .increment(1);
    }

    fn on_bar(&mut self, bar: &Bar, out: &mut Vec<Event>) {
        let prices = [bar.open, bar.high, bar.low, bar.close];
        if prices.iter().any(|p| !(p.is_finite() && *p > 0.0))
            || !(bar.volume.is_finite() && bar.volume >= 0.0)
        {
            return self.reject(bar, "invalid_bar");
        }
        let key = (bar.exchange, bar.symbol.clone(), bar.interval);
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                self.state.series.push(SeriesState {
                    exchange: bar.exchange,
                    symbol: bar.symbol.clone(),
                    interval: bar.interval,
                    last_open_time: UnixNanos(i64::MIN),
                    indicators: self
                        .names
                        .iter()
                        .cloned()
                        .zip(self.specs.iter().map(calculator))
                        .collect(),
                });
                self.index.insert(key, self.state.series.len() - 1);
                self.state.series.len() - 1
            }
        };
        let series = &mut self.state.series[i];
        if bar.open_time <= series.last_open_time {
            return self.reject(bar, "out_of_order_bar");
        }
        series.last_open_time = bar.open_time;
        self.slots.fill(f64::NAN);
        for ((_, calculator), &offset) in series.indicators.iter_mut().zip(&self.offsets) {
            calculator.update(bar, &mut self.slots[offset..]);
        }
        // Built from names already in order, the map is filled in one pass; NaN and infinities are absent.
        let values: BTreeMap<String, f64> = self
            .sorted_columns
            .iter()
            .filter(|(slot, _)| self.slots[*slot].is_finite())
            .map(|(slot, name)| (name.clone(), self.slots[*slot]))
            .collect();
        if values.is_empty() {
            return;
        }
        out.push(Event::Indicator(IndicatorValues {
            exchange: bar.exchange,
            symbol: bar.symbol.clone(),
            interval: bar.interval,
            open_time: bar.open_time,
            close_time: bar.close_time,
            values,
        }));
    }
}

impl Operator for Indicators {
    fn on_event(&mut self, event: &Event, out: &mut Vec<Event>) {
        if let Event::Bar(bar) = event {
            self.on_bar(bar, out);
        }
    }

    /// Indicators move with bars only: bars are already final when they arrive.
    fn on_watermark(&mut self, _watermark: UnixNanos, _out: &mut Vec<Event>) {}

    fn save_state(&self) -> Result<StateJson, Error> {
        save_json(OPERATOR, &self.state)
    }

    fn restore_state(&mut self, state: &RawValue) -> Result<(), Error> {
        let mut state: IndicatorsState = restore_json(OPERATOR, state)?;
        // Keep the configured indicators, in configured order; drop others, start new ones empty.
        for series in &mut state.series {
            let mut saved = std::mem::take(&mut series.indicators);
            series.indicators = self
                .names
                .iter()
                .zip(&self.specs)
                .map(
                    |(name, spec)| match saved.iter().position(|(n, _)| n == name) {
                        Some(p) => saved.swap_remove(p),
                        None => (name.clone(), calculator(spec)),
                    },
                )
                .collect();
        }
        self.index = state
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| ((s.exchange, s.symbol.clone(), s.interval), i))
            .collect();
        self.state = state;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_specs_are_refused_with_the_reason() {
        for (text, expect) in [
            ("sma", "unknown indicator"),
            ("wma_10", "unknown indicator"),
            ("sma_x", "not a whole number"),
            ("sma_1", "periods must be from 2"),
            ("macd_26_12_9", "must be shorter"),
            ("bbands_20_0", "positive number"),
        ] {
            let err = text.parse::<IndicatorSpec>().unwrap_err();
            assert!(err.contains(expect), "{text}: {err}");
        }
        let err = toml::from_str::<IndicatorsConfig>("indicators = [\"sma_20\", \"nope_3\"]")
            .unwrap_err();
        assert!(
            err.to_string().contains("unknown indicator \"nope_3\""),
            "{err}"
        );
        let cfg: IndicatorsConfig =
            toml::from_str("indicators = [\"sma_20\", \"sma_20\"]").unwrap();
        assert!(
            cfg.validate()
                .unwrap_err()
                .to_string()
                .starts_with("indicators[1]:")
        );
        let cfg: IndicatorsConfig = toml::from_str("indicators = []").unwrap();
        assert!(
            cfg.validate()
                .unwrap_err()
                .to_string()
                .starts_with("indicators:")
        );
        assert_eq!(
            toml::from_str::<IndicatorsConfig>("")
                .unwrap()
                .indicators
                .len(),
            10
        );
    }
}
