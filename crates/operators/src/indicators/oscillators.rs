//! Oscillators and volume indicators, updated once per closed bar in O(1) with TA-Lib's exact arithmetic:
//! RSI, ATR, Stochastic and OBV; plus the daily VWAP, which TA-Lib does not have.

use std::collections::VecDeque;

use tickstream_model::UnixNanos;

use super::averages::Sma;

/// TA-Lib's zero test (`TA_IS_ZERO`) for the RSI's denominator.
const ZERO_EPSILON: f64 = 0.000_000_01;

/// RSI with Wilder smoothing, seeded by the simple means of the first `period` gains and losses; the first
/// value is at bar `period`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Rsi {
    period: usize,
    previous_close: Option<f64>,
    changes: usize,
    gain: f64,
    loss: f64,
}

impl Rsi {
    pub(crate) fn new(period: usize) -> Rsi {
        Rsi {
            period,
            previous_close: None,
            changes: 0,
            gain: 0.0,
            loss: 0.0,
        }
    }

    pub(crate) fn update(&mut self, close: f64) -> Option<f64> {
        let previous = self.previous_close.replace(close)?;
        let change = close - previous;
        let n = self.period as f64;
        self.changes += 1;
        if self.changes > self.period {
            self.loss *= n - 1.0;
            self.gain *= n - 1.0;
        }
        if change < 0.0 {
            self.loss -= change;
        } else {
            self.gain += change;
        }
        if self.changes < self.period {
            return None;
        }
        self.loss /= n;
        self.gain /= n;
        let total = self.gain + self.loss;
        Some(if -ZERO_EPSILON < total && total < ZERO_EPSILON {
            0.0
        } else {
            100.0 * (self.gain / total)
        })
    }
}

/// The true range of a bar given the previous close, with TA-Lib's order of comparisons.
fn true_range(high: f64, low: f64, previous_close: f64) -> f64 {
    let mut greatest = high - low;
    let to_high = (previous_close - high).abs();
    if to_high > greatest {
        greatest = to_high;
    }
    let to_low = (previous_close - low).abs();
    if to_low > greatest {
        greatest = to_low;
    }
    greatest
}

/// ATR with Wilder smoothing, seeded by the mean of the first `period` true ranges (which start at the
/// second bar); the first value is at bar `period`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Atr {
    period: usize,
    previous_close: Option<f64>,
    ranges: usize,
    seed_total: f64,
    value: Option<f64>,
}

impl Atr {
    pub(crate) fn new(period: usize) -> Atr {
        Atr {
            period,
            previous_close: None,
            ranges: 0,
            seed_total: 0.0,
            value: None,
        }
    }

    pub(crate) fn update(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let previous = self.previous_close.replace(close)?;
        let range = true_range(high, low, previous);
        let n = self.period as f64;
        if let Some(atr) = self.value {
            self.value = Some((atr * (n - 1.0) + range) / n);
            return self.value;
        }
        self.ranges += 1;
        self.seed_total += range;
        if self.ranges == self.period {
            self.value = Some(self.seed_total / n);
        }
        self.value
    }
}

/// The slow stochastic: %K over `k_period` bars smoothed by an SMA of `slow_k`, and %D an SMA of `slow_d`
/// of that. Both appear together once %D exists (bar `k_period + slow_k + slow_d - 3`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Stoch {
    k_period: usize,
    highs: VecDeque<f64>,
    lows: VecDeque<f64>,
    slow_k: Sma,
    slow_d: Sma,
}

impl Stoch {
    pub(crate) fn new(k_period: usize, slow_k: usize, slow_d: usize) -> Stoch {
        Stoch {
            k_period,
            highs: VecDeque::with_capacity(k_period),
            lows: VecDeque::with_capacity(k_period),
            slow_k: Sma::new(slow_k),
            slow_d: Sma::new(slow_d),
        }
    }

    /// `(slow %K, slow %D)`.
    pub(crate) fn update(&mut self, high: f64, low: f64, close: f64) -> Option<(f64, f64)> {
        if self.highs.len() == self.k_period {
            self.highs.pop_front();
            self.lows.pop_front();
        }
        self.highs.push_back(high);
        self.lows.push_back(low);
        if self.highs.len() < self.k_period {
            return None;
        }
        let highest = self.highs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lowest = self.lows.iter().copied().fold(f64::INFINITY, f64::min);
        let range = highest - lowest;
        let fast_k = if range != 0.0 {
            (close - lowest) / range * 100.0
        } else {
            0.0
        };
        let k = self.slow_k.update(fast_k)?;
        let d = self.slow_d.update(k)?;
        Some((k, d))
    }
}

/// On-balance volume; TA-Lib starts it at the first bar's volume.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Obv {
    previous_close: Option<f64>,
    value: f64,
}

impl Obv {
    pub(crate) fn new() -> Obv {
        Obv {
            previous_close: None,
            value: 0.0,
        }
    }

    pub(crate) fn update(&mut self, close: f64, volume: f64) -> f64 {
        match self.previous_close.replace(close) {
            None => self.value = volume,
            Some(previous) if close > previous => self.value += volume,
            Some(previous) if close < previous => self.value -= volume,
            Some(_) => {}
        }
        self.value
    }
}

/// The volume-weighted average price of the UTC day so far: the sum of the bars' quote volumes (each bar's
/// `vwap × volume`) over the sum of their volumes, since the bar that opened at or after 00:00 UTC.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct VwapDaily {
    day: Option<UnixNanos>,
    quote_volume: f64,
    volume: f64,
}

impl VwapDaily {
    pub(crate) fn new() -> VwapDaily {
        VwapDaily {
            day: None,
            quote_volume: 0.0,
            volume: 0.0,
        }
    }

    pub(crate) fn update(
        &mut self,
        open_time: UnixNanos,
        quote_volume: f64,
        volume: f64,
    ) -> Option<f64> {
        let day = open_time.utc_day_start();
        if self.day != Some(day) {
            *self = VwapDaily {
                day: Some(day),
                quote_volume: 0.0,
                volume: 0.0,
            };
        }
        self.quote_volume += quote_volume;
        self.volume += volume;
        (self.volume > 0.0).then(|| self.quote_volume / self.volume)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsi_of_a_rising_series_is_100_and_starts_at_bar_period() {
        let mut rsi = Rsi::new(3);
        let out: Vec<_> = [1.0, 2.0, 3.0, 4.0, 5.0]
            .iter()
            .map(|&x| rsi.update(x))
            .collect();
        assert_eq!(out, vec![None, None, None, Some(100.0), Some(100.0)]);
    }

    #[test]
    fn atr_is_seeded_by_the_mean_true_range() {
        let mut atr = Atr::new(2);
        assert_eq!(atr.update(10.0, 9.0, 9.5), None);
        assert_eq!(atr.update(11.0, 10.0, 10.5), None);
        // Ranges 1.5 (11 - 9.5) and 2.0 (12.5 - 10.5).
        assert_eq!(atr.update(12.5, 11.0, 12.0), Some(1.75));
        assert_eq!(atr.update(12.5, 12.0, 12.0), Some((1.75 + 0.5) / 2.0));
    }

    #[test]
    fn daily_vwap_restarts_at_midnight_utc() {
        let day = 86_400_000_000_000;
        let mut vwap = VwapDaily::new();
        assert_eq!(vwap.update(UnixNanos(day), 100.0, 1.0), Some(100.0));
        assert_eq!(vwap.update(UnixNanos(day + 60), 330.0, 3.0), Some(107.5));
        assert_eq!(vwap.update(UnixNanos(2 * day), 0.0, 0.0), None);
        assert_eq!(vwap.update(UnixNanos(2 * day + 1), 50.0, 1.0), Some(50.0));
    }
}
