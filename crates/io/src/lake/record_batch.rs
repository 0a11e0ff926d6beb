//! Conversion of events to Arrow record batches: one dataset's rows at a time, columns looked up by the names
//! in `LAKE_TABLES`, so a batch either has exactly the published schema or is refused.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, ListArray, MapArray, StringArray,
    StringDictionaryBuilder, StructArray, TimestampNanosecondArray, UInt64Array,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::Int32Type;
use arrow::record_batch::RecordBatch;
use tickstream_model::{
    AggressorSide, Bar, BookAction, BookUpdate, Direction, Event, EventKind, FeedState, FeedStatus,
    IndicatorValues, Level, Quote, Signal, Trade, UnixNanos,
};

use super::arrow_schema::{
    arrow_schema, lake_table, level_fields, level_item, value_map_entries, value_map_fields,
};
use crate::Error;

/// Sorts events by their event time (`ts_event`, a bar's `open_time`, a signal's `ts`), keeping the arrival
/// order of equal times.
pub fn sort_by_event_time(events: &mut [Event]) {
    events.sort_by_key(|e| e.ts_event());
}

/// The rows of `events`, all of `kind`, in the given order, as a batch with the dataset's schema.
pub fn record_batch(kind: EventKind, events: &[Event]) -> Result<RecordBatch, Error> {
    let table = lake_table(kind);
    let schema = arrow_schema(table);
    if let Some(other) = events.iter().find(|e| e.kind() != kind) {
        return Err(Error::Lake {
            path: table.dataset.to_owned(),
            message: format!(
                "a {} event cannot be written to the {} dataset",
                other.kind(),
                table.dataset
            ),
        });
    }
    let mut columns = Vec::with_capacity(table.columns.len());
    for column in table.columns {
        let array = match kind {
            EventKind::Trade => trade_column(column.name, &rows(events, as_trade)),
            EventKind::Quote => quote_column(column.name, &rows(events, as_quote)),
            EventKind::Book => book_column(column.name, &rows(events, as_book)),
            EventKind::Status => status_column(column.name, &rows(events, as_status)),
            EventKind::Bar => bar_column(column.name, &rows(events, as_bar)),
            EventKind::Indicator => indicator_column(column.name, &rows(events, as_indicator)),
            EventKind::Signal => signal_column(column.name, &rows(events, as_signal)),
        };
        columns.push(array.ok_or_else(|| Error::Lake {
            path: table.dataset.to_owned(),
            message: format!("no conversion for column `{}`", column.name),
        })?);
    }
    Ok(RecordBatch::try_new(schema, columns)?)
}

fn rows<'a, T>(events: &'a [Event], pick: fn(&'a Event) -> Option<&'a T>) -> Vec<&'a T> {
    events.iter().filter_map(pick).collect()
}

fn as_trade(e: &Event) -> Option<&Trade> {
    if let Event::Trade(t) = e {
        Some(t)
    } else {
        None
    }
}
fn as_quote(e: &Event) -> Option<&Quote> {
    if let Event::Quote(q) = e {
        Some(q)
    } else {
        None
    }
}
fn as_book(e: &Event) -> Option<&BookUpdate> {
    if let Event::Book(b) = e {
        Some(b)
    } else {
        None
    }
}
fn as_status(e: &Event) -> Option<&FeedStatus> {
    if let Event::Status(s) = e {
        Some(s)
    } else {
        None
    }
}
fn as_bar(e: &Event) -> Option<&Bar> {
    if let Event::Bar(b) = e { Some(b) } else { None }
}
fn as_indicator(e: &Event) -> Option<&IndicatorValues> {
    if let Event::Indicator(i) = e {
        Some(i)
    } else {
        None
    }
}
fn as_signal(e: &Event) -> Option<&Signal> {
    if let Event::Signal(s) = e {
        Some(s)
    } else {
        None
    }
}

fn trade_column(name: &str, rows: &[&Trade]) -> Option<ArrayRef> {
    Some(match name {
        "raw_symbol" => dict(rows.iter().map(|r| Some(&*r.raw_symbol))),
        "ts_event" => timestamps(rows.iter().map(|r| r.ts_event)),
        "ts_recv" => timestamps(rows.iter().map(|r| r.ts_recv)),
        "trade_id" => Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| &r.trade_id),
        )),
        "price" => floats(rows.iter().map(|r| r.price.to_f64())),
        "quantity" => floats(rows.iter().map(|r| r.quantity.to_f64())),
        "side" => dict(rows.iter().map(|r| Some(side_text(r.side)))),
        _ => return None,
    })
}

fn quote_column(name: &str, rows: &[&Quote]) -> Option<ArrayRef> {
    Some(match name {
        "raw_symbol" => dict(rows.iter().map(|r| Some(&*r.raw_symbol))),
        "ts_event" => timestamps(rows.iter().map(|r| r.ts_event)),
        "ts_recv" => timestamps(rows.iter().map(|r| r.ts_recv)),
        "bid_price" => floats(rows.iter().map(|r| r.bid_price.to_f64())),
        "bid_size" => floats(rows.iter().map(|r| r.bid_size.to_f64())),
        "ask_price" => floats(rows.iter().map(|r| r.ask_price.to_f64())),
        "ask_size" => floats(rows.iter().map(|r| r.ask_size.to_f64())),
        _ => return None,
    })
}

fn book_column(name: &str, rows: &[&BookUpdate]) -> Option<ArrayRef> {
    Some(match name {
        "raw_symbol" => dict(rows.iter().map(|r| Some(&*r.raw_symbol))),
        "ts_event" => timestamps(rows.iter().map(|r| r.ts_event)),
        "ts_recv" => timestamps(rows.iter().map(|r| r.ts_recv)),
        "action" => dict(rows.iter().map(|r| Some(action_text(r.action)))),
        "bids" => levels(rows.iter().map(|r| r.bids.as_slice())),
        "asks" => levels(rows.iter().map(|r| r.asks.as_slice())),
        "synced" => Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.synced)))),
        "sequence" => Arc::new(UInt64Array::from_iter(rows.iter().map(|r| r.sequence))),
        "first_sequence" => Arc::new(UInt64Array::from_iter(
            rows.iter().map(|r| r.first_sequence),
        )),
        "prev_sequence" => Arc::new(UInt64Array::from_iter(rows.iter().map(|r| r.prev_sequence))),
        _ => return None,
    })
}

fn status_column(name: &str, rows: &[&FeedStatus]) -> Option<ArrayRef> {
    Some(match name {
        "exchange" => dict(rows.iter().map(|r| Some(r.exchange.as_str()))),
        "symbol" => dict(rows.iter().map(|r| r.symbol.as_ref().map(|s| s.as_str()))),
        "ts_event" => timestamps(rows.iter().map(|r| r.ts_event)),
        "state" => dict(rows.iter().map(|r| Some(state_text(r.state)))),
        "detail" => Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| &r.detail),
        )),
        "reason" => dict(rows.iter().map(|r| r.reason.as_deref())),
        "expected_sequence" => Arc::new(UInt64Array::from_iter(
            rows.iter().map(|r| r.expected_sequence),
        )),
        "received_sequence" => Arc::new(UInt64Array::from_iter(
            rows.iter().map(|r| r.received_sequence),
        )),
        _ => return None,
    })
}

fn bar_column(name: &str, rows: &[&Bar]) -> Option<ArrayRef> {
    Some(match name {
        "open_time" => timestamps(rows.iter().map(|r| r.open_time)),
        "close_time" => timestamps(rows.iter().map(|r| r.close_time)),
        "open" => floats(rows.iter().map(|r| r.open)),
        "high" => floats(rows.iter().map(|r| r.high)),
        "low" => floats(rows.iter().map(|r| r.low)),
        "close" => floats(rows.iter().map(|r| r.close)),
        "volume" => floats(rows.iter().map(|r| r.volume)),
        "quote_volume" => floats(rows.iter().map(|r| r.quote_volume)),
        "trades" => Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.trades))),
        "vwap" => floats(rows.iter().map(|r| r.vwap)),
        "buy_volume" => floats(rows.iter().map(|r| r.buy_volume)),
        "sell_volume" => floats(rows.iter().map(|r| r.sell_volume)),
        "gap" => Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.gap)))),
        _ => return None,
    })
}

fn indicator_column(name: &str, rows: &[&IndicatorValues]) -> Option<ArrayRef> {
    Some(match name {
        "open_time" => timestamps(rows.iter().map(|r| r.open_time)),
        "close_time" => timestamps(rows.iter().map(|r| r.close_time)),
        "values" => value_map(rows.iter().map(|r| &r.values)),
        _ => return None,
    })
}

fn signal_column(name: &str, rows: &[&Signal]) -> Option<ArrayRef> {
    Some(match name {
        "id" => Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.id))),
        "ts" => timestamps(rows.iter().map(|r| r.ts)),
        "exchange" => dict(rows.iter().map(|r| Some(r.exchange.as_str()))),
        "symbol" => dict(rows.iter().map(|r| r.symbol.as_ref().map(|s| s.as_str()))),
        "interval" => dict(rows.iter().map(|r| r.interval.map(|i| i.as_str()))),
        "rule" => dict(rows.iter().map(|r| Some(r.rule.as_str()))),
        "direction" => dict(rows.iter().map(|r| Some(direction_text(r.direction)))),
        "values" => value_map(rows.iter().map(|r| &r.values)),
        _ => return None,
    })
}

/// Distinct values and their bytes a dictionary column starts with room for; more grow it.
const DICT_VALUES: usize = 4;
const DICT_BYTES: usize = 32;

fn timestamps(values: impl Iterator<Item = UnixNanos>) -> ArrayRef {
    Arc::new(TimestampNanosecondArray::from_iter_values(values.map(|t| t.0)).with_timezone("UTC"))
}

fn floats(values: impl Iterator<Item = f64>) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values(values))
}

/// A dictionary column sized to its rows: `StringDictionaryBuilder::new` reserves room for 1,024 keys and
/// values, which its arrays keep, many times what a small batch of rows needs.
fn dict<'a>(values: impl ExactSizeIterator<Item = Option<&'a str>>) -> ArrayRef {
    let mut builder =
        StringDictionaryBuilder::<Int32Type>::with_capacity(values.len(), DICT_VALUES, DICT_BYTES);
    for value in values {
        builder.append_option(value);
    }
    Arc::new(builder.finish())
}

fn levels<'a>(rows: impl Iterator<Item = &'a [Level]>) -> ArrayRef {
    let mut lengths = Vec::new();
    let (mut prices, mut quantities) = (Vec::new(), Vec::new());
    for row in rows {
        lengths.push(row.len());
        prices.extend(row.iter().map(|l| l.price().to_f64()));
        quantities.extend(row.iter().map(|l| l.quantity().to_f64()));
    }
    let entries = StructArray::new(
        level_fields(),
        vec![
            Arc::new(Float64Array::from(prices)),
            Arc::new(Float64Array::from(quantities)),
        ],
        None,
    );
    Arc::new(ListArray::new(
        level_item(),
        OffsetBuffer::from_lengths(lengths),
        Arc::new(entries),
        None,
    ))
}

fn value_map<'a>(rows: impl Iterator<Item = &'a BTreeMap<String, f64>>) -> ArrayRef {
    let mut lengths = Vec::new();
    let (mut keys, mut values) = (Vec::new(), Vec::new());
    for row in rows {
        lengths.push(row.len());
        keys.extend(row.keys().map(String::as_str));
        values.extend(row.values().copied());
    }
    let entries = StructArray::new(
        value_map_fields(),
        vec![
            Arc::new(StringArray::from(keys)),
            Arc::new(Float64Array::from(values)),
        ],
        None,
    );
    Arc::new(MapArray::new(
        value_map_entries(),
        OffsetBuffer::from_lengths(lengths),
        entries,
        None,
        false,
    ))
}

fn side_text(side: AggressorSide) -> &'static str {
    match side {
        AggressorSide::Buy => "buy",
        AggressorSide::Sell => "sell",
        AggressorSide::Unknown => "unknown",
    }
}

fn action_text(action: BookAction) -> &'static str {
    match action {
        BookAction::Snapshot => "snapshot",
        BookAction::Delta => "delta",
    }
}

fn direction_text(direction: Direction) -> &'static str {
    match direction {
        Direction::Up => "up",
        Direction::Down => "down",
        Direction::Neutral => "neutral",
    }
}

fn state_text(state: FeedState) -> &'static str {
    match state {
        FeedState::Connected => "connected",
        FeedState::Subscribed => "subscribed",
        FeedState::Disconnected => "disconnected",
        FeedState::Reconnecting => "reconnecting",
        FeedState::Gap => "gap",
        FeedState::Resync => "resync",
        FeedState::Stale => "stale",
        FeedState::Rejected => "rejected",
        FeedState::Backpressure => "backpressure",
    }
}
