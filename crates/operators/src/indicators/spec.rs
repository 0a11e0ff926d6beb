//! `IndicatorSpec`: one indicator with its parameters, written in pipeline files as its column prefix.

use std::fmt;
use std::str::FromStr;

const MAX_PERIOD: usize = 100_000;

/// One indicator with its parameters. Written in pipeline files as its column prefix: `sma_20`,
/// `ema_12`, `rsi_14`, `macd_12_26_9`, `bbands_20_2`, `atr_14`, `stoch_14_3_3`, `obv`, `vwap_daily`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum IndicatorSpec {
    Sma {
        period: usize,
    },
    Ema {
        period: usize,
    },
    Rsi {
        period: usize,
    },
    Macd {
        fast: usize,
        slow: usize,
        signal: usize,
    },
    Bbands {
        period: usize,
        deviations: f64,
    },
    Atr {
        period: usize,
    },
    Stoch {
        k_period: usize,
        slow_k: usize,
        slow_d: usize,
    },
    Obv,
    VwapDaily,
}

impl IndicatorSpec {
    /// The output columns, in a fixed order.
    pub fn columns(&self) -> Vec<String> {
        let name = self.to_string();
        let suffixed = |suffixes: &[&str]| suffixes.iter().map(|s| format!("{name}_{s}")).collect();
        match self {
            IndicatorSpec::Macd { .. } => vec![
                name.clone(),
                format!("{name}_signal"),
                format!("{name}_hist"),
            ],
            IndicatorSpec::Bbands { .. } => suffixed(&["upper", "middle", "lower"]),
            IndicatorSpec::Stoch { .. } => suffixed(&["k", "d"]),
            _ => vec![name],
        }
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        let periods: &[(usize, usize)] = match self {
            IndicatorSpec::Sma { period }
            | IndicatorSpec::Ema { period }
            | IndicatorSpec::Rsi { period } => &[(*period, 2)],
            IndicatorSpec::Bbands { period, .. } => &[(*period, 2)],
            IndicatorSpec::Atr { period } => &[(*period, 1)],
            IndicatorSpec::Macd { fast, slow, signal } => &[(*fast, 2), (*slow, 2), (*signal, 1)],
            IndicatorSpec::Stoch {
                k_period,
                slow_k,
                slow_d,
            } => &[(*k_period, 1), (*slow_k, 1), (*slow_d, 1)],
            IndicatorSpec::Obv | IndicatorSpec::VwapDaily => &[],
        };
        for &(period, min) in periods {
            if !(min..=MAX_PERIOD).contains(&period) {
                return Err(format!(
                    "periods must be from {min} to {MAX_PERIOD}, got {period}"
                ));
            }
        }
        match self {
            IndicatorSpec::Macd { fast, slow, .. } if fast >= slow => Err(format!(
                "the fast period ({fast}) must be shorter than the slow one ({slow})"
            )),
            IndicatorSpec::Bbands { deviations, .. }
                if !(deviations.is_finite() && *deviations > 0.0) =>
            {
                Err("the number of standard deviations must be a positive number".to_owned())
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for IndicatorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndicatorSpec::Sma { period } => write!(f, "sma_{period}"),
            IndicatorSpec::Ema { period } => write!(f, "ema_{period}"),
            IndicatorSpec::Rsi { period } => write!(f, "rsi_{period}"),
            IndicatorSpec::Macd { fast, slow, signal } => write!(f, "macd_{fast}_{slow}_{signal}"),
            IndicatorSpec::Bbands { period, deviations } => {
                write!(f, "bbands_{period}_{deviations}")
            }
            IndicatorSpec::Atr { period } => write!(f, "atr_{period}"),
            IndicatorSpec::Stoch {
                k_period,
                slow_k,
                slow_d,
            } => write!(f, "stoch_{k_period}_{slow_k}_{slow_d}"),
            IndicatorSpec::Obv => f.write_str("obv"),
            IndicatorSpec::VwapDaily => f.write_str("vwap_daily"),
        }
    }
}

impl FromStr for IndicatorSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<IndicatorSpec, String> {
        let mut parts = text.split('_');
        let name = parts.next().unwrap_or_default();
        let params: Vec<&str> = parts.collect();
        let int = |i: usize| -> Result<usize, String> {
            params[i]
                .parse()
                .map_err(|_| format!("{text:?}: parameter {:?} is not a whole number", params[i]))
        };
        let spec = match (name, params.len()) {
            ("sma", 1) => IndicatorSpec::Sma { period: int(0)? },
            ("ema", 1) => IndicatorSpec::Ema { period: int(0)? },
            ("rsi", 1) => IndicatorSpec::Rsi { period: int(0)? },
            ("atr", 1) => IndicatorSpec::Atr { period: int(0)? },
            ("macd", 3) => IndicatorSpec::Macd {
                fast: int(0)?,
                slow: int(1)?,
                signal: int(2)?,
            },
            ("stoch", 3) => IndicatorSpec::Stoch {
                k_period: int(0)?,
                slow_k: int(1)?,
                slow_d: int(2)?,
            },
            ("bbands", 2) => IndicatorSpec::Bbands {
                period: int(0)?,
                deviations: params[1]
                    .parse()
                    .map_err(|_| format!("{text:?}: {:?} is not a number", params[1]))?,
            },
            ("obv", 0) => IndicatorSpec::Obv,
            ("vwap", 1) if params[0] == "daily" => IndicatorSpec::VwapDaily,
            _ => {
                return Err(format!(
                    "unknown indicator {text:?}; expected one of sma_N, ema_N, rsi_N, atr_N, macd_FAST_SLOW_SIGNAL, \
                     bbands_N_DEVIATIONS, stoch_K_SLOWK_SLOWD, obv, vwap_daily"
                ));
            }
        };
        spec.validate()
            .map_err(|message| format!("{text:?}: {message}"))?;
        Ok(spec)
    }
}

impl TryFrom<String> for IndicatorSpec {
    type Error = String;
    fn try_from(text: String) -> Result<IndicatorSpec, String> {
        text.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IndicatorsConfig;

    #[test]
    fn specs_read_from_their_column_prefix_and_print_back() {
        for name in [
            "sma_20",
            "ema_12",
            "rsi_14",
            "macd_12_26_9",
            "bbands_20_2",
            "bbands_20_2.5",
            "atr_14",
            "stoch_14_3_3",
            "obv",
            "vwap_daily",
        ] {
            assert_eq!(name.parse::<IndicatorSpec>().unwrap().to_string(), name);
        }
        let columns: Vec<String> = IndicatorsConfig::default()
            .indicators
            .iter()
            .flat_map(|s| s.columns())
            .collect();
        assert_eq!(
            columns,
            [
                "sma_20",
                "ema_12",
                "ema_26",
                "rsi_14",
                "macd_12_26_9",
                "macd_12_26_9_signal",
                "macd_12_26_9_hist",
                "bbands_20_2_upper",
                "bbands_20_2_middle",
                "bbands_20_2_lower",
                "atr_14",
                "stoch_14_3_3_k",
                "stoch_14_3_3_d",
                "obv",
                "vwap_daily"
            ]
        );
    }
}
