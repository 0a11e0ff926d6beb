//! Moving-average indicators, updated once per closed bar in O(1) and computed with TA-Lib's exact
//! arithmetic (same seeds, same running sums, same order of operations): SMA, EMA, MACD, Bollinger Bands.

use std::collections::VecDeque;

/// TA-Lib's smoothing factor for an EMA of `period` bars.
fn ema_k(period: usize) -> f64 {
    2.0 / (period as f64 + 1.0)
}

/// Simple moving average as TA-Lib's `INT_SMA` computes it: a running total to which the newest value is
/// added before dividing and from which the oldest is taken right after.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Sma {
    period: usize,
    total: f64,
    window: VecDeque<f64>,
}

impl Sma {
    pub(crate) fn new(period: usize) -> Sma {
        Sma {
            period,
            total: 0.0,
            window: VecDeque::with_capacity(period),
        }
    }

    pub(crate) fn update(&mut self, x: f64) -> Option<f64> {
        self.total += x;
        self.window.push_back(x);
        if self.window.len() < self.period {
            return None;
        }
        let value = self.total / self.period as f64;
        if let Some(oldest) = self.window.pop_front() {
            self.total -= oldest;
        }
        Some(value)
    }
}

/// Exponential moving average seeded with the simple mean of its first `period` inputs (TA-Lib's default
/// compatibility), after ignoring the first `skip` inputs (MACD uses this to align its fast average).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Ema {
    period: usize,
    k: f64,
    skip: usize,
    seen: usize,
    seed_total: f64,
    value: Option<f64>,
}

impl Ema {
    pub(crate) fn new(period: usize) -> Ema {
        Ema::skipping(period, 0)
    }

    pub(crate) fn skipping(period: usize, skip: usize) -> Ema {
        Ema {
            period,
            k: ema_k(period),
            skip,
            seen: 0,
            seed_total: 0.0,
            value: None,
        }
    }

    pub(crate) fn update(&mut self, x: f64) -> Option<f64> {
        if let Some(prev) = self.value {
            let next = ((x - prev) * self.k) + prev;
            self.value = Some(next);
            return self.value;
        }
        self.seen += 1;
        if self.seen <= self.skip {
            return None;
        }
        self.seed_total += x;
        if self.seen - self.skip == self.period {
            self.value = Some(self.seed_total / self.period as f64);
        }
        self.value
    }
}

/// MACD as TA-Lib computes it: both averages start on the bar where the slow one has its seed (the fast one
/// is seeded from the `fast` closes ending there), and the signal line is an EMA of the MACD line seeded by
/// the mean of its first `signal` values. The first output is at bar `slow + signal - 2` (33 for 12/26/9).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Macd {
    fast: Ema,
    slow: Ema,
    signal: Ema,
}

impl Macd {
    pub(crate) fn new(fast: usize, slow: usize, signal: usize) -> Macd {
        Macd {
            fast: Ema::skipping(fast, slow - fast),
            slow: Ema::new(slow),
            signal: Ema::new(signal),
        }
    }

    /// `(macd, signal, histogram)` once all three exist.
    pub(crate) fn update(&mut self, close: f64) -> Option<(f64, f64, f64)> {
        let fast = self.fast.update(close);
        let slow = self.slow.update(close)?;
        let macd = fast? - slow;
        let signal = self.signal.update(macd)?;
        Some((macd, signal, macd - signal))
    }
}

/// TA-Lib's zero test for a variance (`TA_IS_ZERO_OR_NEG`): smaller values give a deviation of 0.
const VARIANCE_EPSILON: f64 = 0.000_000_01;

/// Bollinger Bands with an SMA middle and the population standard deviation, computed as TA-Lib's
/// `TA_INT_stddev_using_precalc_ma` does: a running total of squares minus the squared mean.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Bbands {
    deviations: f64,
    middle: Sma,
    squares_total: f64,
    squares: VecDeque<f64>,
}

impl Bbands {
    pub(crate) fn new(period: usize, deviations: f64) -> Bbands {
        Bbands {
            deviations,
            middle: Sma::new(period),
            squares_total: 0.0,
            squares: VecDeque::with_capacity(period),
        }
    }

    /// `(upper, middle, lower)` once `period` closes are in.
    pub(crate) fn update(&mut self, close: f64) -> Option<(f64, f64, f64)> {
        let square = close * close;
        self.squares_total += square;
        self.squares.push_back(square);
        let middle = self.middle.update(close)?;
        let mut mean_of_squares = self.squares_total / self.squares.len() as f64;
        if let Some(oldest) = self.squares.pop_front() {
            self.squares_total -= oldest;
        }
        mean_of_squares -= middle * middle;
        let deviation = if mean_of_squares < VARIANCE_EPSILON {
            0.0
        } else {
            mean_of_squares.sqrt()
        };
        let width = deviation * self.deviations;
        Some((middle + width, middle, middle - width))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sma_and_ema_start_after_their_lookback() {
        let mut sma = Sma::new(3);
        let mut ema = Ema::new(3);
        let xs = [1.0, 2.0, 3.0, 4.0, 5.0];
        let smas: Vec<_> = xs.iter().map(|&x| sma.update(x)).collect();
        assert_eq!(smas, vec![None, None, Some(2.0), Some(3.0), Some(4.0)]);
        let emas: Vec<_> = xs.iter().map(|&x| ema.update(x)).collect();
        assert_eq!(emas, vec![None, None, Some(2.0), Some(3.0), Some(4.0)]);
    }

    #[test]
    fn macd_first_value_is_at_bar_33() {
        let mut macd = Macd::new(12, 26, 9);
        let first = (0..100)
            .map(|i| macd.update(100.0 + (i as f64).sin()))
            .position(|v| v.is_some());
        assert_eq!(first, Some(33));
    }

    #[test]
    fn bands_of_a_flat_series_collapse_onto_the_mean() {
        let mut bands = Bbands::new(4, 2.0);
        let out: Vec<_> = [5.0; 6].iter().map(|&x| bands.update(x)).collect();
        assert_eq!(out[3], Some((5.0, 5.0, 5.0)));
        assert_eq!(out[5], Some((5.0, 5.0, 5.0)));
    }
}
