//! Bar rules (crossover, threshold, band break, volume spike): the per-series state that makes each fire
//! once on the bar where its condition becomes true.

use std::collections::{BTreeMap, VecDeque};

use tickstream_model::Direction;

use super::config::{BAR_COLUMNS, SignalRule};

/// What a bar rule reads: bar columns, indicator columns, or both (then bars and rows are joined).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Needs {
    Bar,
    Indicators,
    Both,
    /// Not a bar rule.
    Nothing,
}

impl Needs {
    pub(crate) fn of(rule: &SignalRule) -> Needs {
        let operands = rule.operands();
        let from_bar = operands
            .iter()
            .filter(|(_, o)| BAR_COLUMNS.contains(o))
            .count();
        match (from_bar, operands.len() - from_bar) {
            (0, 0) => Needs::Nothing,
            (_, 0) => Needs::Bar,
            (0, _) => Needs::Indicators,
            _ => Needs::Both,
        }
    }
}

/// The memory of one bar rule for one (exchange, symbol, interval).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct BarRuleState {
    /// Crossover: the side `fast` was last strictly on (1 above `slow`, -1 below, 0 not yet known).
    side: i8,
    /// Threshold and band break: whether the upper or the lower condition held on the last bar.
    above: bool,
    below: bool,
    /// Volume spike: the volumes of the last bars, their total, and whether the last bar spiked.
    volumes: VecDeque<f64>,
    volume_total: f64,
    spiking: bool,
}

/// Applies one bar's values to a rule; returns the direction and the values that fired it, if it fired.
pub(crate) fn evaluate(
    rule: &SignalRule,
    state: &mut BarRuleState,
    get: impl Fn(&str) -> Option<f64>,
) -> Option<(Direction, BTreeMap<String, f64>)> {
    let values = |pairs: &[(&str, f64)]| pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    match rule {
        SignalRule::Crossover(r) => {
            let (fast, slow) = (get(&r.fast)?, get(&r.slow)?);
            let side = if fast > slow {
                1
            } else if fast < slow {
                -1
            } else {
                return None;
            };
            let previous = std::mem::replace(&mut state.side, side);
            (previous != 0 && previous != side).then(|| {
                let direction = if side > 0 {
                    Direction::Up
                } else {
                    Direction::Down
                };
                (direction, values(&[(&r.fast, fast), (&r.slow, slow)]))
            })
        }
        SignalRule::Threshold(r) => {
            let value = get(&r.value)?;
            let above = r.above.is_some_and(|a| value > a);
            let below = r.below.is_some_and(|b| value < b);
            let fired = transition(state, above, below)?;
            let level = if fired == Direction::Up {
                r.above
            } else {
                r.below
            };
            Some((
                fired,
                values(&[(&r.value, value), ("threshold", level.unwrap_or_default())]),
            ))
        }
        SignalRule::BandBreak(r) => {
            let (price, upper, lower) = (get(&r.price)?, get(&r.upper)?, get(&r.lower)?);
            let fired = transition(state, price > upper, price < lower)?;
            Some((
                fired,
                values(&[(&r.price, price), (&r.upper, upper), (&r.lower, lower)]),
            ))
        }
        SignalRule::VolumeSpike(r) => {
            let volume = get("volume")?;
            let average =
                (state.volumes.len() == r.bars).then(|| state.volume_total / r.bars as f64);
            let spiking = average.is_some_and(|avg| volume > r.factor * avg);
            state.volumes.push_back(volume);
            state.volume_total += volume;
            if state.volumes.len() > r.bars
                && let Some(oldest) = state.volumes.pop_front()
            {
                state.volume_total -= oldest;
            }
            let fired = spiking && !state.spiking;
            state.spiking = spiking;
            fired.then(|| {
                let average = average.unwrap_or_default();
                (
                    Direction::Up,
                    values(&[("volume", volume), ("average_volume", average)]),
                )
            })
        }
        SignalRule::Spread(_) | SignalRule::FeedHealth(_) => None,
    }
}

/// Records whether the upper and lower conditions hold; returns the one that just became true.
fn transition(state: &mut BarRuleState, above: bool, below: bool) -> Option<Direction> {
    let fired = if above && !state.above {
        Some(Direction::Up)
    } else if below && !state.below {
        Some(Direction::Down)
    } else {
        None
    };
    state.above = above;
    state.below = below;
    fired
}
