//! The `signal` operator's configuration: named rules, each tagged by `kind` in the pipeline file.

use std::time::Duration;

use tickstream_model::{Bar, Exchange, FeedState, duration_text};

use crate::Error;

/// A `signal` node of a pipeline file: `[[operators.<name>.rules]]` tables.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalConfig {
    pub rules: Vec<SignalRule>,
}

/// One rule. Bar rules name their operands by column: a bar column (`open`, `high`, `low`, `close`,
/// `volume`, `quote_volume`, `vwap`, `buy_volume`, `sell_volume`, `trades`) or an indicator column
/// (`ema_12`, `bbands_20_2_upper`, ...).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SignalRule {
    Crossover(CrossoverRule),
    Threshold(ThresholdRule),
    BandBreak(BandBreakRule),
    VolumeSpike(VolumeSpikeRule),
    Spread(SpreadRule),
    FeedHealth(FeedHealthRule),
}

/// `fast` crosses above `slow` (direction up) or below it (down), such as `ema_12` over `ema_26` or
/// `macd_12_26_9` over `macd_12_26_9_signal`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossoverRule {
    pub name: String,
    pub fast: String,
    pub slow: String,
}

/// `value` rises above `above` (up) or falls below `below` (down), such as `rsi_14` with 70 and 30.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdRule {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub above: Option<f64>,
    #[serde(default)]
    pub below: Option<f64>,
}

/// `price` (default `close`) breaks above `upper` (up) or below `lower` (down).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandBreakRule {
    pub name: String,
    #[serde(default = "default_price")]
    pub price: String,
    pub upper: String,
    pub lower: String,
}

fn default_price() -> String {
    "close".to_owned()
}

/// A bar's volume exceeds `factor` times the average volume of the `bars` bars before it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpikeRule {
    pub name: String,
    pub factor: f64,
    pub bars: usize,
}

/// The mid prices of one canonical symbol on two venues differ by more than `bps` basis points of their
/// mean while both quotes are at most `freshness` apart in event time.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpreadRule {
    pub name: String,
    pub bps: f64,
    #[serde(with = "duration_text", default = "default_freshness")]
    pub freshness: Duration,
    /// Venues to compare; empty: every venue.
    #[serde(default)]
    pub exchanges: Vec<Exchange>,
}

fn default_freshness() -> Duration {
    Duration::from_secs(5)
}

/// A venue (or one of its symbols) stays impaired (by default: gap, stale, disconnected or reconnecting)
/// for longer than `window` of event time, until a connected, subscribed or resync status ends it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedHealthRule {
    pub name: String,
    #[serde(with = "duration_text")]
    pub window: Duration,
    #[serde(default = "default_impaired_states")]
    pub states: Vec<FeedState>,
    /// Venues to watch; empty: every venue.
    #[serde(default)]
    pub exchanges: Vec<Exchange>,
}

fn default_impaired_states() -> Vec<FeedState> {
    vec![
        FeedState::Gap,
        FeedState::Stale,
        FeedState::Disconnected,
        FeedState::Reconnecting,
    ]
}

/// The bar columns a rule may name.
pub(crate) const BAR_COLUMNS: [&str; 10] = [
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "vwap",
    "buy_volume",
    "sell_volume",
    "trades",
];

pub(crate) fn bar_column(bar: &Bar, name: &str) -> Option<f64> {
    Some(match name {
        "open" => bar.open,
        "high" => bar.high,
        "low" => bar.low,
        "close" => bar.close,
        "volume" => bar.volume,
        "quote_volume" => bar.quote_volume,
        "vwap" => bar.vwap,
        "buy_volume" => bar.buy_volume,
        "sell_volume" => bar.sell_volume,
        "trades" => bar.trades as f64,
        _ => return None,
    })
}

impl SignalRule {
    pub fn name(&self) -> &str {
        match self {
            SignalRule::Crossover(r) => &r.name,
            SignalRule::Threshold(r) => &r.name,
            SignalRule::BandBreak(r) => &r.name,
            SignalRule::VolumeSpike(r) => &r.name,
            SignalRule::Spread(r) => &r.name,
            SignalRule::FeedHealth(r) => &r.name,
        }
    }

    /// The columns a bar rule reads, by field; empty for quote and status rules.
    pub(crate) fn operands(&self) -> Vec<(&'static str, &str)> {
        match self {
            SignalRule::Crossover(r) => vec![("fast", &r.fast), ("slow", &r.slow)],
            SignalRule::Threshold(r) => vec![("value", &r.value)],
            SignalRule::BandBreak(r) => vec![
                ("price", &r.price),
                ("upper", &r.upper),
                ("lower", &r.lower),
            ],
            SignalRule::VolumeSpike(_) => vec![("volume", "volume")],
            SignalRule::Spread(_) | SignalRule::FeedHealth(_) => vec![],
        }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.name().trim().is_empty() {
            return Err(("name", "must not be empty".to_owned()));
        }
        for (field, operand) in self.operands() {
            if operand.trim().is_empty() {
                return Err((field, "must name a bar or indicator column".to_owned()));
            }
        }
        let positive = |x: f64| x.is_finite() && x > 0.0;
        match self {
            SignalRule::Threshold(r) => match (r.above, r.below) {
                (None, None) => Err(("above", "give `above`, `below` or both".to_owned())),
                (Some(a), _) if !a.is_finite() => Err(("above", "must be a number".to_owned())),
                (_, Some(b)) if !b.is_finite() => Err(("below", "must be a number".to_owned())),
                (Some(a), Some(b)) if b > a => {
                    Err(("below", format!("{b} is above `above` ({a})")))
                }
                _ => Ok(()),
            },
            SignalRule::VolumeSpike(r) if !positive(r.factor) => {
                Err(("factor", "must be a positive number".to_owned()))
            }
            SignalRule::VolumeSpike(r) if !(1..=100_000).contains(&r.bars) => {
                Err(("bars", "must be from 1 to 100000".to_owned()))
            }
            SignalRule::Spread(r) if !positive(r.bps) => {
                Err(("bps", "must be a positive number".to_owned()))
            }
            SignalRule::Spread(r) if r.freshness.is_zero() => {
                Err(("freshness", "must be more than 0".to_owned()))
            }
            SignalRule::FeedHealth(r) if r.window.is_zero() => {
                Err(("window", "must be more than 0".to_owned()))
            }
            SignalRule::FeedHealth(r) if r.states.is_empty() => {
                Err(("states", "list at least one state".to_owned()))
            }
            _ => Ok(()),
        }
    }
}

impl SignalConfig {
    pub fn validate(&self) -> Result<(), Error> {
        if self.rules.is_empty() {
            return Err(Error::config("rules", "declare at least one rule"));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            rule.validate().map_err(|(field, message)| {
                Error::config(format!("rules[{i}].{field}"), message)
            })?;
            if self.rules[..i].iter().any(|r| r.name() == rule.name()) {
                return Err(Error::config(
                    format!("rules[{i}].name"),
                    format!("{:?} is used twice", rule.name()),
                ));
            }
        }
        Ok(())
    }
}
