//! Pure parse functions for Kraken spot v2: trades, BBO tickers, book levels, the pair symbol mapping
//! and the book checksum.

use std::sync::Arc;

use tickstream_model::{Decimal, Exchange, Level, Quote, Symbol, Trade, UnixNanos};

use super::messages::{LevelMsg, TickerMsg, TradeMsg};
use crate::ParseError;
use crate::book::L2Book;
use crate::fields::{level, quote, raw_text, rfc3339, taker_side, trade};

/// Levels the checksum covers on each side.
pub const CHECKSUM_LEVELS: usize = 10;

/// `BTC/USD` (or the older `XBT/USD`) → `BTC-USD`.
pub fn pair_symbol(pair: &str) -> Option<Symbol> {
    let (base, quote) = pair.split_once('/')?;
    let valid = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    (valid(base) && valid(quote)).then(|| Symbol::spot(base, quote))
}

pub fn parse_trade(
    msg: &TradeMsg<'_>,
    symbol: (Symbol, Arc<str>),
    ts_recv: UnixNanos,
) -> Result<Trade, ParseError> {
    trade(
        Exchange::Kraken,
        symbol,
        (rfc3339(msg.timestamp)?, ts_recv),
        raw_text(msg.trade_id).to_owned(),
        [raw_text(msg.price), raw_text(msg.qty)],
        taker_side(msg.side, ["buy", "sell"]),
    )
}

/// A `ticker` message's best bid and offer; without a timestamp `ts_event` is `ts_recv`.
pub fn parse_ticker(
    msg: &TickerMsg<'_>,
    symbol: (Symbol, Arc<str>),
    ts_recv: UnixNanos,
) -> Result<Quote, ParseError> {
    let ts_event = msg.timestamp.map(rfc3339).transpose()?.unwrap_or(ts_recv);
    quote(
        Exchange::Kraken,
        symbol,
        (ts_event, ts_recv),
        [raw_text(msg.bid), raw_text(msg.bid_qty)],
        [raw_text(msg.ask), raw_text(msg.ask_qty)],
    )
}

/// Book levels in the order sent (the order matters: a level may change twice in one message).
pub fn parse_levels(levels: &[LevelMsg<'_>]) -> Result<Vec<Level>, ParseError> {
    levels
        .iter()
        .map(|l| level(raw_text(l.price), raw_text(l.qty)))
        .collect()
}

/// `00` to `99`, for writing digits two at a time.
const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends a decimal's digits written with `scale` decimals, without the point and leading zeros
/// (`0.5660` at scale 4 → `5660`; `0.566` at scale 4 → `5660`).
fn push_digits(out: &mut Vec<u8>, value: Decimal, scale: u8) {
    let mut tmp = [0u8; 40];
    let mut at = tmp.len();
    let magnitude = value.mantissa().unsigned_abs();
    if magnitude == 0 {
        return;
    }
    if let Ok(mut n) = u64::try_from(magnitude) {
        while n >= 100 {
            let pair = usize::try_from(n % 100).unwrap_or_default() * 2;
            n /= 100;
            at -= 2;
            tmp[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        }
        if n >= 10 {
            let pair = usize::try_from(n).unwrap_or_default() * 2;
            at -= 2;
            tmp[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        } else {
            at -= 1;
            tmp[at] = b'0' + u8::try_from(n).unwrap_or_default();
        }
    } else {
        let mut n = magnitude;
        while n > 0 {
            at -= 1;
            tmp[at] = b'0' + u8::try_from(n % 10).unwrap_or_default();
            n /= 10;
        }
    }
    out.extend_from_slice(&tmp[at..]);
    let pad = scale.saturating_sub(value.scale()) as usize;
    out.extend(std::iter::repeat_n(b'0', pad));
}

/// Kraken's CRC32 over the top ten asks (best first) then the top ten bids (best first), each level as
/// price digits then quantity digits, written with the pair's price and quantity decimals
/// (<https://docs.kraken.com/api/docs/guides/spot-ws-book-v2>). `buf` is scratch space.
pub fn book_checksum(book: &L2Book, price_scale: u8, qty_scale: u8, buf: &mut Vec<u8>) -> u32 {
    buf.clear();
    for level in book.asks().take(CHECKSUM_LEVELS) {
        push_digits(buf, level.price(), price_scale);
        push_digits(buf, level.quantity(), qty_scale);
    }
    for level in book.bids().take(CHECKSUM_LEVELS) {
        push_digits(buf, level.price(), price_scale);
        push_digits(buf, level.quantity(), qty_scale);
    }
    crc32fast::hash(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickstream_model::AggressorSide;

    fn digits(text: &str, scale: u8) -> String {
        let mut out = Vec::new();
        push_digits(&mut out, text.parse().unwrap(), scale);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn checksum_digits_follow_the_documented_rules() {
        // The guide's examples: "45285.2" → "452852", "0.00100000" → "100000".
        assert_eq!(digits("45285.2", 1), "452852");
        assert_eq!(digits("0.00100000", 8), "100000");
        // A JSON number that lost its trailing zeros is written at the pair's precision.
        assert_eq!(digits("0.566", 4), "5660");
        assert_eq!(digits("18097.1547", 8), "1809715470000");
        assert_eq!(
            digits("123456789012345678901234.5", 1),
            "1234567890123456789012345"
        );
    }

    #[test]
    fn pairs_map_to_canonical_symbols() {
        assert_eq!(pair_symbol("BTC/USD").unwrap().as_str(), "BTC-USD");
        assert_eq!(pair_symbol("XBT/EUR").unwrap().as_str(), "BTC-EUR");
        assert_eq!(pair_symbol("XDG/USD").unwrap().as_str(), "DOGE-USD");
        assert_eq!(pair_symbol("BTCUSD"), None);
        assert_eq!(
            taker_side("sell", ["buy", "sell"]).unwrap(),
            AggressorSide::Sell
        );
        assert!(taker_side("Buy", ["buy", "sell"]).is_err());
    }
}
