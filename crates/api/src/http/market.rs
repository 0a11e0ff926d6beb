//! The `/v1` reads: instruments, latest state, recent bars and recent signals.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde_json::value::RawValue;
use tickstream_model::{Exchange, Interval, Symbol, UnixNanos};

use super::AppState;
use super::docs::{bar_list_schema, signal_list_schema};
use super::problem::{ApiError, ErrorBody};
use crate::cache::{InstrumentRef, Latest, SignalQuery};

type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

fn params(query: Params) -> Result<HashMap<String, String>, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::bad_parameter("query", e.body_text()))
}

fn required<'a>(q: &'a HashMap<String, String>, name: &str) -> Result<&'a str, ApiError> {
    q.get(name)
        .map(String::as_str)
        .ok_or_else(|| ApiError::bad_parameter(name, "is required"))
}

fn exchange(q: &HashMap<String, String>) -> Result<Exchange, ApiError> {
    required(q, "exchange")?
        .parse()
        .map_err(|e| ApiError::bad_parameter("exchange", e))
}

fn symbol(text: &str) -> Result<Symbol, ApiError> {
    Symbol::parse(text).map_err(|e| ApiError::bad_parameter("symbol", e))
}

fn limit(q: &HashMap<String, String>, default: usize, max: usize) -> Result<usize, ApiError> {
    let Some(text) = q.get("limit") else {
        return Ok(default.min(max));
    };
    match text.parse::<u32>() {
        Ok(0) => Err(ApiError::bad_parameter("limit", "must be at least 1")),
        Ok(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX).min(max)),
        Err(_) => Err(ApiError::bad_parameter(
            "limit",
            format!("{text:?} is not a whole number from 1 to 4294967295"),
        )),
    }
}

/// `since` as integer UTC nanoseconds.
fn since(q: &HashMap<String, String>) -> Result<Option<UnixNanos>, ApiError> {
    let Some(text) = q.get("since") else {
        return Ok(None);
    };
    match text.parse::<i64>() {
        Ok(nanos) => Ok(Some(UnixNanos(nanos))),
        Err(_) => Err(ApiError::bad_parameter(
            "since",
            format!("{text:?} is not integer UTC nanoseconds"),
        )),
    }
}

/// Every instrument the cache holds.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Instruments {
    pub instruments: Vec<InstrumentRef>,
}

#[utoipa::path(get, path = "/v1/instruments", tag = "market", security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = Instruments),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody),
        (status = 503, body = ErrorBody)
    ))]
pub(crate) async fn instruments(
    State(state): State<AppState>,
) -> Result<Json<Instruments>, ApiError> {
    let instruments = state
        .0
        .cache
        .instruments()
        .await
        .map_err(|e| ApiError::cache_unavailable(&e))?;
    Ok(Json(Instruments { instruments }))
}

#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct InstrumentParams {
    /// The venue.
    #[param(
        required = true,
        pattern = "^(binance|coinbase|coinbase-exchange|kraken|okx|bitstamp|bybit|composite)$",
        example = "binance"
    )]
    exchange: String,
    /// Canonical symbol.
    #[param(
        required = true,
        pattern = "^[A-Z0-9]+-[A-Z0-9]+(-(PERP|[0-9]{8}))?$",
        example = "BTC-USDT"
    )]
    symbol: String,
}

/// The last trade, the BBO, and the latest bar and indicator values per interval of one instrument.
#[utoipa::path(get, path = "/v1/latest", tag = "market", params(InstrumentParams),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = Latest),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)
    ))]
pub(crate) async fn latest(
    State(state): State<AppState>,
    query: Params,
) -> Result<Json<Latest>, ApiError> {
    let q = params(query)?;
    let exchange = exchange(&q)?;
    let symbol = symbol(required(&q, "symbol")?)?;
    match state.0.cache.latest(exchange, &symbol).await {
        Ok(Some(latest)) => Ok(Json(latest)),
        Ok(None) => Err(ApiError::unknown_instrument(exchange, symbol)),
        Err(e) => Err(ApiError::cache_unavailable(&e)),
    }
}

#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct BarParams {
    /// The venue.
    #[param(
        required = true,
        pattern = "^(binance|coinbase|coinbase-exchange|kraken|okx|bitstamp|bybit|composite)$",
        example = "binance"
    )]
    exchange: String,
    /// Canonical symbol.
    #[param(
        required = true,
        pattern = "^[A-Z0-9]+-[A-Z0-9]+(-(PERP|[0-9]{8}))?$",
        example = "BTC-USDT"
    )]
    symbol: String,
    /// Bar interval.
    #[param(
        required = true,
        pattern = "^(1s|5s|15s|1m|5m|15m|1h|4h|1d)$",
        example = "1m"
    )]
    interval: String,
    /// How many bars (newest first); larger values are cut to the server's maximum.
    #[param(minimum = 1, maximum = 4294967295_u64)]
    limit: Option<u32>,
}

/// Recent bars of one instrument and interval.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Bars {
    #[schema(value_type = String, example = "binance")]
    pub exchange: Exchange,
    #[schema(value_type = String, example = "BTC-USDT")]
    pub symbol: Symbol,
    #[schema(value_type = String, example = "1m")]
    pub interval: Interval,
    /// Newest first (`bar.v1`).
    #[schema(schema_with = bar_list_schema)]
    pub bars: Vec<Arc<RawValue>>,
}

#[utoipa::path(get, path = "/v1/bars", tag = "market", params(BarParams),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = Bars),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)
    ))]
pub(crate) async fn bars(
    State(state): State<AppState>,
    query: Params,
) -> Result<Json<Bars>, ApiError> {
    let q = params(query)?;
    let exchange = exchange(&q)?;
    let symbol = symbol(required(&q, "symbol")?)?;
    let interval: Interval = required(&q, "interval")?
        .parse()
        .map_err(|e| ApiError::bad_parameter("interval", e))?;
    let config = &state.0.config;
    let limit = limit(&q, config.default_limit, config.max_bars_limit)?;
    match state.0.cache.bars(exchange, &symbol, interval, limit).await {
        Ok(Some(bars)) => Ok(Json(Bars {
            exchange,
            symbol,
            interval,
            bars,
        })),
        Ok(None) => Err(ApiError::unknown_instrument(exchange, symbol)),
        Err(e) => Err(ApiError::cache_unavailable(&e)),
    }
}

#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct SignalParams {
    /// Only this venue's signals.
    #[param(
        pattern = "^(binance|coinbase|coinbase-exchange|kraken|okx|bitstamp|bybit|composite)$"
    )]
    exchange: Option<String>,
    /// Only this instrument's signals.
    #[param(
        pattern = "^[A-Z0-9]+-[A-Z0-9]+(-(PERP|[0-9]{8}))?$",
        example = "BTC-USDT"
    )]
    symbol: Option<String>,
    /// Only signals at or after this time, in integer UTC nanoseconds.
    since: Option<i64>,
    /// How many signals (newest first); larger values are cut to the server's maximum.
    #[param(minimum = 1, maximum = 4294967295_u64)]
    limit: Option<u32>,
}

/// Recent signals, newest first.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Signals {
    /// `signal.v1` messages.
    #[schema(schema_with = signal_list_schema)]
    pub signals: Vec<Arc<RawValue>>,
}

#[utoipa::path(get, path = "/v1/signals", tag = "market", params(SignalParams),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, body = Signals),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)
    ))]
pub(crate) async fn signals(
    State(state): State<AppState>,
    query: Params,
) -> Result<Json<Signals>, ApiError> {
    let q = params(query)?;
    let exchange = match q.get("exchange") {
        Some(_) => Some(exchange(&q)?),
        None => None,
    };
    let symbol = q.get("symbol").map(|s| symbol(s)).transpose()?;
    let since = since(&q)?;
    let config = &state.0.config;
    let limit = limit(&q, config.default_limit, config.max_signals_limit)?;
    let query = SignalQuery {
        exchange,
        symbol,
        since,
        limit,
    };
    let signals = state
        .0
        .cache
        .signals(&query)
        .await
        .map_err(|e| ApiError::cache_unavailable(&e))?;
    Ok(Json(Signals { signals }))
}
