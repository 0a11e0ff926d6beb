//! The registry: one plain `match` from a node's `kind` to its component's parameters, and what each kind
//! accepts and emits. Adding a component means adding one arm in each function here.

use std::path::{Component, Path, PathBuf};

use tickstream_api::CacheSinkConfig;
use tickstream_connectors::Channel;
use tickstream_connectors::runner::{ExchangeSourceConfig, resolve_symbol};
use tickstream_io::kafka::{KafkaSinkConfig, KafkaSourceConfig};
use tickstream_io::lake::ParquetSinkConfig;
use tickstream_io::ndjson::{FileSinkConfig, FileSourceConfig};
use tickstream_model::EventKind;
use tickstream_operators::{
    FilterConfig, IndicatorsConfig, OperatorIo, SignalConfig, TimeBarsConfig, indicators_io,
    signal_io, time_bars_io,
};

use super::{ParamError, params};

pub const SOURCE_KINDS: &[&str] = &["exchange", "kafka", "file"];
pub const OPERATOR_KINDS: &[&str] = &["filter", "time_bars", "indicators", "signal"];
pub const SINK_KINDS: &[&str] = &["kafka", "parquet", "cache", "file"];

/// A source node's component and parameters.
#[derive(Debug, Clone)]
pub enum SourceSpec {
    Exchange(ExchangeSourceConfig),
    Kafka(KafkaSourceConfig),
    File(FileSourceConfig),
}

/// An operator node's component and parameters.
#[derive(Debug, Clone)]
pub enum OperatorSpec {
    Filter(FilterConfig),
    TimeBars(TimeBarsConfig),
    Indicators(IndicatorsConfig),
    Signal(SignalConfig),
}

/// A sink node's component and parameters.
#[derive(Debug, Clone)]
pub enum SinkSpec {
    Kafka(KafkaSinkConfig),
    Parquet(ParquetSinkConfig),
    Cache(CacheSinkConfig),
    File(FileSinkConfig),
}

pub fn source(kind: &str, value: toml::Value) -> Result<SourceSpec, ParamError> {
    match kind {
        "exchange" => {
            let config: ExchangeSourceConfig = params(value)?;
            config.validate()?;
            Ok(SourceSpec::Exchange(config))
        }
        "kafka" => {
            let config: KafkaSourceConfig = params(value)?;
            config.validate()?;
            Ok(SourceSpec::Kafka(config))
        }
        "file" => {
            let config: FileSourceConfig = params(value)?;
            config.validate()?;
            Ok(SourceSpec::File(config))
        }
        _ => Err(unknown(kind, SOURCE_KINDS)),
    }
}

pub fn operator(kind: &str, value: toml::Value) -> Result<OperatorSpec, ParamError> {
    match kind {
        "filter" => Ok(OperatorSpec::Filter(params(value)?)),
        "time_bars" => {
            let config: TimeBarsConfig = params(value)?;
            config.validate()?;
            Ok(OperatorSpec::TimeBars(config))
        }
        "indicators" => {
            let config: IndicatorsConfig = params(value)?;
            config.validate()?;
            Ok(OperatorSpec::Indicators(config))
        }
        "signal" => {
            let config: SignalConfig = params(value)?;
            config.validate()?;
            Ok(OperatorSpec::Signal(config))
        }
        _ => Err(unknown(kind, OPERATOR_KINDS)),
    }
}

pub fn sink(kind: &str, value: toml::Value) -> Result<SinkSpec, ParamError> {
    match kind {
        "file" => {
            let config: FileSinkConfig = params(value)?;
            config.validate()?;
            Ok(SinkSpec::File(config))
        }
        "parquet" => {
            let config: ParquetSinkConfig = params(value)?;
            config.validate()?;
            Ok(SinkSpec::Parquet(config))
        }
        "kafka" => {
            let config: KafkaSinkConfig = params(value)?;
            config.validate()?;
            Ok(SinkSpec::Kafka(config))
        }
        "cache" => {
            let config: CacheSinkConfig = params(value)?;
            config.validate()?;
            Ok(SinkSpec::Cache(config))
        }
        _ => Err(unknown(kind, SINK_KINDS)),
    }
}

fn unknown(kind: &str, kinds: &[&str]) -> ParamError {
    ParamError {
        field: Some("kind".into()),
        message: format!(
            "unknown kind '{kind}'; expected one of: {}",
            kinds.join(", ")
        ),
    }
}

impl SourceSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            SourceSpec::Exchange(_) => "exchange",
            SourceSpec::Kafka(_) => "kafka",
            SourceSpec::File(_) => "file",
        }
    }

    pub fn emits(&self) -> Vec<EventKind> {
        match self {
            SourceSpec::Exchange(c) => {
                let mut kinds = vec![EventKind::Status];
                for channel in &c.channels {
                    kinds.extend_from_slice(match channel {
                        Channel::Trades | Channel::AggTrades => &[EventKind::Trade],
                        Channel::Bbo => &[EventKind::Quote],
                        Channel::Book => &[EventKind::Book, EventKind::Quote],
                    });
                }
                kinds.sort();
                kinds.dedup();
                kinds
            }
            SourceSpec::Kafka(c) => c.kinds.clone(),
            SourceSpec::File(c) => c.emits(),
        }
    }

    /// In a replay, the events of the captured files this source would have produced itself.
    pub fn replay_filter(&self) -> FilterConfig {
        match self {
            SourceSpec::Exchange(c) => FilterConfig {
                kinds: self.emits(),
                exchanges: vec![c.exchange],
                symbols: c
                    .symbols
                    .iter()
                    .filter_map(|s| resolve_symbol(c.exchange, s).ok())
                    .map(|(symbol, _)| symbol)
                    .collect(),
            },
            SourceSpec::Kafka(c) => FilterConfig {
                kinds: c.kinds.clone(),
                ..FilterConfig::default()
            },
            SourceSpec::File(c) => FilterConfig {
                kinds: c.kinds.clone(),
                ..FilterConfig::default()
            },
        }
    }
}

impl OperatorSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            OperatorSpec::Filter(_) => "filter",
            OperatorSpec::TimeBars(_) => "time_bars",
            OperatorSpec::Indicators(_) => "indicators",
            OperatorSpec::Signal(_) => "signal",
        }
    }

    fn io(&self) -> Option<OperatorIo> {
        match self {
            OperatorSpec::Filter(_) => None,
            OperatorSpec::TimeBars(_) => Some(time_bars_io()),
            OperatorSpec::Indicators(_) => Some(indicators_io()),
            OperatorSpec::Signal(_) => Some(signal_io()),
        }
    }

    pub fn accepts(&self) -> Vec<EventKind> {
        match (self, self.io()) {
            (OperatorSpec::Filter(c), _) => c.emits(),
            (_, Some(io)) => io.accepts.to_vec(),
            (_, None) => Vec::new(),
        }
    }

    pub fn emits(&self) -> Vec<EventKind> {
        match (self, self.io()) {
            (OperatorSpec::Filter(c), _) => c.emits(),
            (_, Some(io)) => io.emits.to_vec(),
            (_, None) => Vec::new(),
        }
    }
}

impl SinkSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            SinkSpec::Kafka(_) => "kafka",
            SinkSpec::Parquet(_) => "parquet",
            SinkSpec::Cache(_) => "cache",
            SinkSpec::File(_) => "file",
        }
    }

    pub fn accepts(&self) -> Vec<EventKind> {
        match self {
            SinkSpec::Kafka(_) | SinkSpec::File(_) => EventKind::ALL.to_vec(),
            SinkSpec::Parquet(c) => c.kinds(),
            SinkSpec::Cache(_) => vec![
                EventKind::Trade,
                EventKind::Quote,
                EventKind::Bar,
                EventKind::Indicator,
                EventKind::Signal,
            ],
        }
    }

    /// Moves the files this sink writes under `dir` (for `replay --out`); standard output stays.
    pub fn place_under(&mut self, dir: &Path) {
        match self {
            SinkSpec::File(c) if c.path.as_os_str() != "-" => c.path = under(dir, &c.path),
            SinkSpec::File(_) => {}
            SinkSpec::Parquet(c) => c.root = under(dir, &c.root),
            SinkSpec::Kafka(_) | SinkSpec::Cache(_) => {}
        }
    }
}

/// `path` re-rooted below `dir`: `dir/path` for relative paths, `dir/<path without its root>` otherwise.
fn under(dir: &Path, path: &Path) -> PathBuf {
    let relative: PathBuf = path
        .components()
        .filter(|c| {
            matches!(
                c,
                Component::Normal(_) | Component::CurDir | Component::ParentDir
            )
        })
        .collect();
    dir.join(relative)
}
