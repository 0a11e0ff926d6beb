//! `ExchangeSourceConfig`: one exchange source of a pipeline file (`kind = "exchange"`), its defaults and
//! its validation, and the venue and subscriptions it turns into.

use std::collections::BTreeMap;
use std::time::Duration;

use tickstream_model::{Exchange, Symbol, duration_text};

use super::capture::CaptureConfig;
use crate::venues::binance::{self, Binance};
use crate::venues::bitstamp::{self, Bitstamp};
use crate::venues::bybit::{self, Bybit, BybitMarket};
use crate::venues::coinbase::{self, CoinbaseAdvanced};
use crate::venues::coinbase_exchange::{self, CoinbaseExchange};
use crate::venues::kraken::{self, Kraken};
use crate::venues::okx::{self, Okx};
use crate::{BookMode, Channel, Error, Subscription, Venue, VenueProfile};

/// An exchange source:
///
/// ```toml
/// [sources.binance]
/// kind = "exchange"
/// exchange = "binance"                 # binance | coinbase | coinbase-exchange | kraken | okx | bitstamp | bybit
/// symbols = ["BTC-USDT", "ETHUSDT"]    # canonical or the venue's own (okx and bybit also -PERP; okx dated futures)
/// channels = ["trades", "bbo", "book"] # trades | agg_trades (binance) | bbo | book
/// url = "ws://127.0.0.1:9900/binance"  # optional: the venue's websocket (the simulator's)
/// rest_url = "http://127.0.0.1:9900/binance" # optional: REST base for book snapshots (binance,
///                                      # bitstamp) and instrument metadata (binance, coinbase)
/// book_depth = 25                      # optional: kraken 10 (default) | 25 | 100 | 500 | 1000; bybit 50 (default) | 200
/// staleness = "30s"                    # no data on a subscription for this long → stale, reconnect
/// staleness_per_channel = { trades = "5m" }
/// max_frame_bytes = 16777216
/// connect_timeout = "10s"
/// max_streams_per_connection = 200    # optional: lower the venue's cap; more streams are sharded
/// max_connection_age = "12h"          # optional: move to a new connection (overlapping) this often
/// instrument_cache = "data/instruments/binance.json" # optional: venue metadata saved for offline starts
/// capture = { dir = "data/capture", rotate = "1h" } # optional: raw frames to zstd files
/// [sources.binance.backoff]
/// initial = "250ms"
/// max = "30s"
/// reset_after = "60s"
/// ```
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeSourceConfig {
    pub exchange: Exchange,
    pub symbols: Vec<String>,
    #[serde(default = "default_channels")]
    pub channels: Vec<Channel>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub rest_url: Option<String>,
    /// Levels per side of the subscribed book, for venues that serve several depths (Kraken, Bybit).
    #[serde(default)]
    pub book_depth: Option<u16>,
    #[serde(default = "default_staleness", with = "duration_text")]
    pub staleness: Duration,
    #[serde(default)]
    pub staleness_per_channel: BTreeMap<Channel, Window>,
    #[serde(default = "default_max_frame_bytes")]
    pub max_frame_bytes: usize,
    #[serde(default = "default_connect_timeout", with = "duration_text")]
    pub connect_timeout: Duration,
    #[serde(default)]
    pub backoff: BackoffConfig,
    /// Streams (channel × symbol) per connection, at most the venue's limit (the default); more
    /// subscriptions are split across several connections.
    #[serde(default)]
    pub max_streams_per_connection: Option<usize>,
    /// The longest a connection is kept, at most the venue's limit (Binance: 24 h, the default); before
    /// it ends, a new connection takes over without a gap.
    #[serde(default)]
    pub max_connection_age: Option<Window>,
    /// Where the venue's instrument metadata is cached (JSON list of instruments); no cache when left out.
    #[serde(default)]
    pub instrument_cache: Option<std::path::PathBuf>,
    /// Raw capture of every received frame; off when left out.
    #[serde(default)]
    pub capture: Option<CaptureConfig>,
}

/// A duration written as text (`"5m"`), for maps of windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Window(#[serde(with = "duration_text")] pub Duration);

/// Reconnect delays: capped exponential with full jitter, reset after a healthy connection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackoffConfig {
    #[serde(default = "default_backoff_initial", with = "duration_text")]
    pub initial: Duration,
    #[serde(default = "default_backoff_max", with = "duration_text")]
    pub max: Duration,
    /// A connection that stayed up this long resets the delay to `initial`.
    #[serde(default = "default_backoff_reset", with = "duration_text")]
    pub reset_after: Duration,
}

fn default_channels() -> Vec<Channel> {
    vec![Channel::Trades, Channel::Bbo]
}
fn default_staleness() -> Duration {
    Duration::from_secs(30)
}
fn default_max_frame_bytes() -> usize {
    16 * 1024 * 1024
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_backoff_initial() -> Duration {
    Duration::from_millis(250)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(30)
}
fn default_backoff_reset() -> Duration {
    Duration::from_secs(60)
}

impl Default for BackoffConfig {
    fn default() -> BackoffConfig {
        BackoffConfig {
            initial: default_backoff_initial(),
            max: default_backoff_max(),
            reset_after: default_backoff_reset(),
        }
    }
}

impl ExchangeSourceConfig {
    /// A config with every default, for `exchange` and `symbols`.
    pub fn new(exchange: Exchange, symbols: &[&str]) -> ExchangeSourceConfig {
        ExchangeSourceConfig {
            exchange,
            symbols: symbols.iter().map(|s| (*s).to_owned()).collect(),
            channels: default_channels(),
            url: None,
            rest_url: None,
            book_depth: None,
            staleness: default_staleness(),
            staleness_per_channel: BTreeMap::new(),
            max_frame_bytes: default_max_frame_bytes(),
            connect_timeout: default_connect_timeout(),
            backoff: BackoffConfig::default(),
            max_streams_per_connection: None,
            max_connection_age: None,
            instrument_cache: None,
            capture: None,
        }
    }

    pub fn validate(&self) -> Result<(), Error> {
        let bad = |field: &str, message: String| {
            Err(Error::Config {
                field: field.into(),
                message,
            })
        };
        if self.exchange == Exchange::Composite {
            return bad(
                "exchange",
                "composite is not a venue; expected binance, coinbase, coinbase-exchange, kraken, okx, bitstamp or bybit".into(),
            );
        }
        if let Some(depth) = self.book_depth {
            match self.exchange {
                Exchange::Kraken => kraken::check_depth(depth)?,
                Exchange::Bybit => bybit::check_depth(depth)?,
                other => return bad("book_depth", format!("{other} serves one book depth")),
            }
        }
        if self.exchange == Exchange::Bybit {
            let perps = self.symbols.iter().filter(|s| s.ends_with("-PERP")).count();
            if perps != 0 && perps != self.symbols.len() {
                return bad(
                    "symbols",
                    "Bybit spot and perpetual symbols use different endpoints; give each its own source".into(),
                );
            }
        }
        if self.symbols.is_empty() {
            return bad("symbols", "list at least one symbol".into());
        }
        if self.channels.is_empty() {
            return bad("channels", "list at least one channel".into());
        }
        for channel in &self.channels {
            if *channel == Channel::AggTrades && self.exchange != Exchange::Binance {
                return bad(
                    "channels",
                    format!(
                        "agg_trades is a Binance stream; {} has trades",
                        self.exchange
                    ),
                );
            }
        }
        for (i, symbol) in self.symbols.iter().enumerate() {
            if let Err(message) = self.resolve(symbol) {
                return bad(&format!("symbols[{i}]"), message);
            }
        }
        for (field, url, schemes) in [
            ("url", &self.url, ["ws", "wss"]),
            ("rest_url", &self.rest_url, ["http", "https"]),
        ] {
            if let Some(url) = url {
                match url::Url::parse(url) {
                    Ok(u) if schemes.contains(&u.scheme()) && u.host_str().is_some() => {}
                    Ok(_) => {
                        return bad(
                            field,
                            format!("{url:?} must be a {} URL", schemes.join(" or ")),
                        );
                    }
                    Err(e) => return bad(field, format!("{url:?}: {e}")),
                }
            }
        }
        if self.staleness.is_zero() {
            return bad("staleness", "must be longer than 0s".into());
        }
        if let Some((channel, _)) = self
            .staleness_per_channel
            .iter()
            .find(|(_, w)| w.0.is_zero())
        {
            return bad(
                &format!("staleness_per_channel.{}", channel.as_str()),
                "must be longer than 0s".into(),
            );
        }
        if self.max_frame_bytes < 1024 {
            return bad(
                "max_frame_bytes",
                format!("{} is too small; at least 1024", self.max_frame_bytes),
            );
        }
        if self.connect_timeout.is_zero() {
            return bad("connect_timeout", "must be longer than 0s".into());
        }
        if self.backoff.initial.is_zero() {
            return bad("backoff.initial", "must be longer than 0s".into());
        }
        if self.backoff.max < self.backoff.initial {
            return bad(
                "backoff.max",
                "must not be shorter than backoff.initial".into(),
            );
        }
        if self
            .instrument_cache
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return bad("instrument_cache", "name a file".into());
        }
        if let Some(capture) = &self.capture {
            capture.validate()?;
        }
        let limit = self.venue_limit();
        if let Some(cap) = self.max_streams_per_connection
            && (cap == 0 || cap > limit)
        {
            return bad(
                "max_streams_per_connection",
                format!("{cap}: must be between 1 and {}'s {limit}", self.exchange),
            );
        }
        if let Some(Window(age)) = self.max_connection_age {
            let limit = self.profile().limits.max_connection_age;
            if age < Duration::from_secs(1) || limit.is_some_and(|limit| age > limit) {
                return bad(
                    "max_connection_age",
                    format!(
                        "must be at least 1s and at most {}'s limit of {limit:?}",
                        self.exchange
                    ),
                );
            }
        }
        Ok(())
    }

    /// How long a connection is kept before a new one takes over: the configured age or the venue's.
    pub fn connection_age(&self) -> Option<Duration> {
        self.max_connection_age
            .map(|w| w.0)
            .or_else(|| self.profile().limits.max_connection_age)
    }

    fn venue_limit(&self) -> usize {
        self.profile().limits.max_streams_per_connection
    }

    /// Streams one connection carries: the configured cap or the venue's.
    pub fn streams_per_connection(&self) -> usize {
        self.max_streams_per_connection
            .unwrap_or_else(|| self.venue_limit())
    }

    /// The staleness window of a channel.
    pub fn staleness_of(&self, channel: Channel) -> Duration {
        self.staleness_per_channel
            .get(&channel)
            .map_or(self.staleness, |w| w.0)
    }

    /// Every channel × symbol, with the venue's symbols (call after `validate`).
    pub fn subscriptions(&self) -> Result<Vec<Subscription>, Error> {
        let mut subs = Vec::new();
        for (i, text) in self.symbols.iter().enumerate() {
            let (symbol, raw_symbol) = self.resolve(text).map_err(|message| Error::Config {
                field: format!("symbols[{i}]"),
                message,
            })?;
            for channel in &self.channels {
                subs.push(Subscription {
                    channel: *channel,
                    symbol: symbol.clone(),
                    raw_symbol: raw_symbol.clone(),
                });
            }
        }
        Ok(subs)
    }

    /// The websocket base URL: the override or the venue's.
    pub fn ws_url(&self) -> &str {
        self.url.as_deref().unwrap_or(self.profile().default_ws_url)
    }

    /// What the source's venue declares: endpoint, keepalive and limits.
    pub fn profile(&self) -> &'static VenueProfile {
        match self.exchange {
            Exchange::Binance => &binance::PROFILE,
            Exchange::CoinbaseExchange => &coinbase_exchange::PROFILE,
            Exchange::Kraken => &kraken::PROFILE,
            Exchange::Okx => &okx::PROFILE,
            Exchange::Bitstamp => &bitstamp::PROFILE,
            Exchange::Bybit => &bybit::PROFILE,
            _ => &coinbase::PROFILE,
        }
    }

    /// Bybit's endpoint for this source: linear when its symbols are perpetuals.
    pub fn bybit_market(&self) -> BybitMarket {
        if self.symbols.iter().any(|s| s.ends_with("-PERP")) {
            BybitMarket::Linear
        } else {
            BybitMarket::Spot
        }
    }

    fn resolve(&self, text: &str) -> Result<(Symbol, String), String> {
        let linear = self.exchange == Exchange::Bybit && self.bybit_market() == BybitMarket::Linear;
        resolve_venue_symbol(self.exchange, linear, text)
    }

    /// The venue parser for this source's subscriptions.
    pub fn venue(&self, mode: BookMode) -> Box<dyn Venue> {
        self.venue_for(&self.subscriptions().unwrap_or_default(), mode)
    }

    /// The venue parser for some of this source's subscriptions (one shard).
    pub fn venue_for(&self, subs: &[Subscription], mode: BookMode) -> Box<dyn Venue> {
        let subs = subs.to_vec();
        match self.exchange {
            Exchange::Binance => Box::new(Binance::new(
                &subs,
                self.rest_url
                    .as_deref()
                    .unwrap_or(binance::DEFAULT_REST_URL),
                mode,
            )),
            Exchange::CoinbaseExchange => Box::new(CoinbaseExchange::new(&subs, mode)),
            Exchange::Kraken => {
                let mut venue = Kraken::with_default_depth(&subs, mode);
                if let Some(depth) = self.book_depth {
                    venue = Kraken::new(&subs, depth, mode).unwrap_or(venue);
                }
                Box::new(venue)
            }
            Exchange::Okx => Box::new(Okx::new(&subs, mode)),
            Exchange::Bitstamp => Box::new(Bitstamp::new(
                &subs,
                self.rest_url
                    .as_deref()
                    .unwrap_or(bitstamp::DEFAULT_REST_URL),
                mode,
            )),
            Exchange::Bybit => {
                let market = self.bybit_market();
                let mut venue = Bybit::with_default_depth(&subs, market, mode);
                if let Some(depth) = self.book_depth {
                    venue = Bybit::new(&subs, market, depth, mode).unwrap_or(venue);
                }
                Box::new(venue)
            }
            _ => Box::new(CoinbaseAdvanced::new(&subs, mode)),
        }
    }
}

/// A configured spot symbol, canonical (`BTC-USDT`) or the venue's own (`BTCUSDT`, `btcusdt`), as
/// (canonical, venue symbol).
pub fn resolve_symbol(exchange: Exchange, text: &str) -> Result<(Symbol, String), String> {
    resolve_venue_symbol(exchange, false, text)
}

/// A configured symbol as (canonical, venue symbol); `linear` picks Bybit's perpetual endpoint.
pub fn resolve_venue_symbol(
    exchange: Exchange,
    linear: bool,
    text: &str,
) -> Result<(Symbol, String), String> {
    if let Ok(symbol) = Symbol::parse(text) {
        return venue_symbol(exchange, &symbol)
            .map(|raw| (symbol, raw))
            .ok_or_else(|| format!("{text:?}: {exchange} has no such instrument kind here"));
    }
    let found = match exchange {
        Exchange::Binance => {
            binance::parse::symbol_from_suffix(text).map(|s| (s, text.to_ascii_uppercase()))
        }
        Exchange::Kraken => kraken::parse::pair_symbol(text).map(|s| (s, text.to_owned())),
        Exchange::Okx => okx::parse::inst_symbol(text).map(|s| (s, text.to_owned())),
        Exchange::Bitstamp => {
            binance::parse::symbol_from_suffix(text).map(|s| (s, text.to_ascii_lowercase()))
        }
        Exchange::Bybit => {
            let market = if linear {
                BybitMarket::Linear
            } else {
                BybitMarket::Spot
            };
            bybit::parse::market_symbol(market, text).map(|s| (s, text.to_owned()))
        }
        _ => coinbase::parse::product_symbol(&text.to_ascii_uppercase())
            .map(|symbol| (symbol.clone(), symbol.as_str().to_owned())),
    };
    found.ok_or_else(|| {
        format!("{text:?} is neither a canonical symbol (BTC-USDT) nor a {exchange} symbol")
    })
}

/// The venue's symbol for a canonical one: `BTCUSDT` (Binance, Bybit), `BTC/USD` (Kraken),
/// `BTC-USDT-SWAP` (OKX perpetual), `btcusd` (Bitstamp); `None` for a kind the venue does not list.
pub fn venue_symbol(exchange: Exchange, symbol: &Symbol) -> Option<String> {
    use tickstream_model::InstrumentKind::{Future, Perpetual, Spot};
    let (base, quote) = (symbol.base(), symbol.quote());
    match (exchange, symbol.kind()) {
        (Exchange::Binance, Spot) => Some(format!("{base}{quote}")),
        (Exchange::Coinbase | Exchange::CoinbaseExchange | Exchange::Okx, Spot) => {
            Some(symbol.as_str().to_owned())
        }
        (Exchange::Kraken, Spot) => Some(format!("{base}/{quote}")),
        (Exchange::Okx, Perpetual) => Some(format!("{base}-{quote}-SWAP")),
        (Exchange::Okx, Future { expiry }) => Some(format!("{base}-{quote}-{}", expiry.get(2..)?)),
        (Exchange::Bitstamp, Spot) => Some(format!("{base}{quote}").to_ascii_lowercase()),
        (Exchange::Bybit, Spot | Perpetual) => Some(format!("{base}{quote}")),
        _ => None,
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
