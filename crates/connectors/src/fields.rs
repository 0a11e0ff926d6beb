//! Checked venue fields shared by the parsers: prices and quantities as exact decimals with the rules
//! every venue obeys, timestamps, the trades and quotes built from them, and the status events parsers
//! emit.

use std::sync::Arc;

use serde_json::value::RawValue;

use tickstream_model::{
    AggressorSide, BookAction, BookUpdate, Decimal, Event, Exchange, FeedState, FeedStatus, Level,
    Quote, Symbol, Trade, UnixNanos,
};

use crate::book::L2Book;
use crate::{ParseError, RejectReason};

/// The aggressor side from the taker's side as a venue writes it: `words` are its words for buy and
/// sell (`["buy", "sell"]`, `["Buy", "Sell"]`).
pub fn taker_side(side: &str, words: [&str; 2]) -> Result<AggressorSide, ParseError> {
    if side == words[0] {
        Ok(AggressorSide::Buy)
    } else if side == words[1] {
        Ok(AggressorSide::Sell)
    } else {
        Err(ParseError::new(
            RejectReason::ParseError,
            format!("unknown side {side:?}"),
        ))
    }
}

/// The items of a JSON array held as raw text (a message's `data`); none when it is absent.
pub fn raw_items<'a, T: serde::Deserialize<'a>>(
    raw: Option<&'a RawValue>,
) -> Result<Vec<T>, ParseError> {
    match raw {
        Some(raw) => serde_json::from_str(raw.get()).map_err(ParseError::json),
        None => Ok(Vec::new()),
    }
}

/// The string value of the first `quoted_key` (written with its quotes, `"\"type\""`) followed by a
/// colon, found without a full parse. For dispatching on a message type whose values are plain words.
pub fn peek_string_field<'a>(body: &'a str, quoted_key: &str) -> Option<&'a str> {
    let bytes = body.as_bytes();
    let mut from = 0;
    while let Some(at) = body[from..].find(quoted_key) {
        let mut i = from + at + quoted_key.len();
        while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if bytes.get(i) == Some(&b':') {
            i += 1;
            while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
                i += 1;
            }
            if bytes.get(i) == Some(&b'"') {
                let rest = &body[i + 1..];
                return rest.find('"').map(|end| &rest[..end]);
            }
            return None;
        }
        from = from + at + quoted_key.len();
    }
    None
}

/// A trade from a venue's fields: `ts` is `(ts_event, ts_recv)`, `price_quantity` the price and the
/// traded quantity as sent, checked here. `side` is the venue's reading of its side word; it is checked
/// after price and quantity, so a bad price or quantity is the reason given.
pub fn trade(
    exchange: Exchange,
    symbol: (Symbol, Arc<str>),
    ts: (UnixNanos, UnixNanos),
    trade_id: String,
    price_quantity: [&str; 2],
    side: Result<AggressorSide, ParseError>,
) -> Result<Trade, ParseError> {
    let [price_text, quantity_text] = price_quantity;
    Ok(Trade {
        exchange,
        symbol: symbol.0,
        raw_symbol: symbol.1,
        ts_event: ts.0,
        ts_recv: ts.1,
        trade_id,
        price: price(price_text)?,
        quantity: trade_quantity(quantity_text)?,
        side: side?,
    })
}

/// A quote from a venue's best bid and offer, each `[price, size]` as sent and checked here (bid
/// first); `ts` is `(ts_event, ts_recv)`.
pub fn quote(
    exchange: Exchange,
    symbol: (Symbol, Arc<str>),
    ts: (UnixNanos, UnixNanos),
    bid: [&str; 2],
    ask: [&str; 2],
) -> Result<Quote, ParseError> {
    let bid = level(bid[0], bid[1])?;
    let ask = level(ask[0], ask[1])?;
    Ok(level_quote(exchange, symbol, ts, bid, ask))
}

/// A quote from checked best bid and ask levels; `ts` is `(ts_event, ts_recv)`.
pub fn level_quote(
    exchange: Exchange,
    symbol: (Symbol, Arc<str>),
    ts: (UnixNanos, UnixNanos),
    bid: Level,
    ask: Level,
) -> Quote {
    Quote {
        exchange,
        symbol: symbol.0,
        raw_symbol: symbol.1,
        ts_event: ts.0,
        ts_recv: ts.1,
        bid_price: bid.price(),
        bid_size: bid.quantity(),
        ask_price: ask.price(),
        ask_size: ask.quantity(),
    }
}

/// The BBO of a synced book as a quote, when it changed since the last one published.
pub fn top_quote(
    exchange: Exchange,
    sym: (&Symbol, &Arc<str>),
    book: &mut L2Book,
    ts_event: UnixNanos,
    ts_recv: UnixNanos,
) -> Option<Event> {
    let (bid, ask) = book.take_top_change()?;
    let symbol = (sym.0.clone(), sym.1.clone());
    Some(Event::Quote(level_quote(
        exchange,
        symbol,
        (ts_event, ts_recv),
        bid,
        ask,
    )))
}

/// A book update with the venue's sequence, levels sorted best first.
#[allow(clippy::too_many_arguments)]
pub fn book_event(
    exchange: Exchange,
    sym: (&Symbol, &Arc<str>),
    action: BookAction,
    mut bids: Vec<Level>,
    mut asks: Vec<Level>,
    synced: bool,
    ts_event: UnixNanos,
    ts_recv: UnixNanos,
) -> BookUpdate {
    bids.sort_by_key(|l| std::cmp::Reverse(l.price()));
    asks.sort_by_key(Level::price);
    BookUpdate {
        exchange,
        symbol: sym.0.clone(),
        raw_symbol: sym.1.clone(),
        ts_event,
        ts_recv,
        action,
        bids,
        asks,
        synced,
        sequence: None,
        first_sequence: None,
        prev_sequence: None,
        checksum: None,
    }
}

/// The whole book as a synced snapshot event.
pub fn snapshot_event(
    exchange: Exchange,
    sym: (&Symbol, &Arc<str>),
    book: &L2Book,
    ts_event: UnixNanos,
    ts_recv: UnixNanos,
) -> BookUpdate {
    let mut update = book_event(
        exchange,
        sym,
        BookAction::Snapshot,
        Vec::new(),
        Vec::new(),
        true,
        ts_event,
        ts_recv,
    );
    update.bids = book.bids().collect();
    update.asks = book.asks().collect();
    update.sequence = book.sequence();
    update
}

/// A price: a decimal that is strictly positive (NaN, infinities, zero and negatives are rejected).
pub fn price(text: &str) -> Result<Decimal, ParseError> {
    match text.parse::<Decimal>() {
        Ok(p) if p.is_positive() => Ok(p),
        Ok(p) => Err(ParseError::new(
            RejectReason::InvalidPrice,
            format!("price {p} is not positive"),
        )),
        Err(e) => Err(ParseError::new(RejectReason::InvalidPrice, e.to_string())),
    }
}

/// A quantity that may be zero (a book level to remove, an empty side of a BBO).
pub fn quantity(text: &str) -> Result<Decimal, ParseError> {
    match text.parse::<Decimal>() {
        Ok(q) if !q.is_negative() => Ok(q),
        Ok(q) => Err(ParseError::new(
            RejectReason::InvalidQuantity,
            format!("quantity {q} is negative"),
        )),
        Err(e) => Err(ParseError::new(
            RejectReason::InvalidQuantity,
            e.to_string(),
        )),
    }
}

/// A traded quantity: strictly positive.
pub fn trade_quantity(text: &str) -> Result<Decimal, ParseError> {
    let q = quantity(text)?;
    if q.is_zero() {
        return Err(ParseError::new(
            RejectReason::InvalidQuantity,
            "traded quantity is zero",
        ));
    }
    Ok(q)
}

/// A book level from `[price, quantity]` text.
pub fn level(price_text: &str, quantity_text: &str) -> Result<Level, ParseError> {
    Ok(Level(price(price_text)?, quantity(quantity_text)?))
}

/// Levels from a list of `[price, quantity]` pairs.
pub fn levels(pairs: &[[&str; 2]]) -> Result<Vec<Level>, ParseError> {
    pairs.iter().map(|[p, q]| level(p, q)).collect()
}

/// The text of a JSON number or string exactly as sent (`0.5666` or `"0.5666"` → `0.5666`), so that
/// numbers become exact decimals without passing through `f64`.
pub fn raw_text(raw: &RawValue) -> &str {
    let text = raw.get();
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text)
}

/// Milliseconds sent as a JSON number or a string of digits.
pub fn millis_value(raw: &RawValue) -> Result<UnixNanos, ParseError> {
    UnixNanos::parse_millis(raw_text(raw))
        .map_err(|e| ParseError::new(RejectReason::InvalidTimestamp, e.to_string()))
}

/// Microseconds sent as a JSON number or a string of digits (Bitstamp's `microtimestamp`).
pub fn micros_value(raw: &RawValue) -> Result<UnixNanos, ParseError> {
    UnixNanos::parse_micros(raw_text(raw))
        .map_err(|e| ParseError::new(RejectReason::InvalidTimestamp, e.to_string()))
}

pub fn millis(ms: i64) -> Result<UnixNanos, ParseError> {
    UnixNanos::from_millis(ms).ok_or_else(|| {
        ParseError::new(
            RejectReason::InvalidTimestamp,
            format!("{ms} ms is out of range"),
        )
    })
}

pub fn rfc3339(text: &str) -> Result<UnixNanos, ParseError> {
    UnixNanos::parse_rfc3339(text)
        .map_err(|e| ParseError::new(RejectReason::InvalidTimestamp, e.to_string()))
}

/// A feed status about one instrument (or the whole feed when `symbol` is `None`).
pub fn status(
    exchange: Exchange,
    symbol: Option<(&Symbol, &Arc<str>)>,
    state: FeedState,
    detail: String,
    ts: UnixNanos,
) -> FeedStatus {
    FeedStatus {
        exchange,
        symbol: symbol.map(|(s, _)| s.clone()),
        raw_symbol: symbol.map(|(_, r)| r.clone()),
        ts_event: ts,
        ts_recv: ts,
        state,
        detail,
        reason: None,
        connection_id: None,
        expected_sequence: None,
        received_sequence: None,
    }
}

/// A `gap` status with the expected and received sequence.
pub fn gap(
    exchange: Exchange,
    symbol: (&Symbol, &Arc<str>),
    expected: Option<u64>,
    received: Option<u64>,
    detail: String,
    ts: UnixNanos,
) -> Event {
    let mut s = status(exchange, Some(symbol), FeedState::Gap, detail, ts);
    s.expected_sequence = expected;
    s.received_sequence = received;
    Event::Status(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_peeked_with_or_without_spaces() {
        assert_eq!(
            peek_string_field(r#"{"e":"trade","E":1}"#, "\"e\""),
            Some("trade")
        );
        assert_eq!(
            peek_string_field("{\n  \"e\": \"aggTrade\",\n  \"E\": 1}", "\"e\""),
            Some("aggTrade")
        );
        assert_eq!(
            peek_string_field(r#"{"u":1,"s":"BNBUSDT","b":"1"}"#, "\"e\""),
            None
        );
        assert_eq!(peek_string_field(r#"{"e":1}"#, "\"e\""), None);
        assert_eq!(
            peek_string_field(r#"{"x":"type","type" : "match"}"#, "\"type\""),
            Some("match")
        );
    }

    #[test]
    fn raw_numbers_and_strings_keep_their_text() {
        let number: Box<RawValue> = serde_json::from_str("0.5660").unwrap();
        let string: Box<RawValue> = serde_json::from_str("\"1672304486865\"").unwrap();
        assert_eq!(raw_text(&number), "0.5660");
        assert_eq!(price(raw_text(&number)).unwrap().to_string(), "0.5660");
        assert_eq!(
            millis_value(&string).unwrap(),
            UnixNanos(1_672_304_486_865_000_000)
        );
        let micros: Box<RawValue> = serde_json::from_str("\"1580336904228758\"").unwrap();
        assert_eq!(
            micros_value(&micros).unwrap(),
            UnixNanos(1_580_336_904_228_758_000)
        );
        let bad: Box<RawValue> = serde_json::from_str("1.5").unwrap();
        assert_eq!(
            millis_value(&bad).unwrap_err().reason,
            RejectReason::InvalidTimestamp
        );
    }

    #[test]
    fn prices_must_be_positive_decimals() {
        assert_eq!(price("0.001").unwrap().to_string(), "0.001");
        for bad in ["0", "0.000", "-1", "NaN", "nan", "inf", "", "1e999", "abc"] {
            assert_eq!(
                price(bad).unwrap_err().reason,
                RejectReason::InvalidPrice,
                "{bad}"
            );
        }
    }

    #[test]
    fn quantities_may_be_zero_but_trades_may_not() {
        assert!(quantity("0").unwrap().is_zero());
        assert_eq!(
            quantity("-0.1").unwrap_err().reason,
            RejectReason::InvalidQuantity
        );
        assert_eq!(
            trade_quantity("0.0").unwrap_err().reason,
            RejectReason::InvalidQuantity
        );
        assert_eq!(
            trade_quantity("NaN").unwrap_err().reason,
            RejectReason::InvalidQuantity
        );
    }
}
