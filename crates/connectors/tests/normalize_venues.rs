//! Offline normalization of the Kraken, OKX, Bitstamp and Bybit fixtures: in-stream snapshots give
//! synced books, Bitstamp's REST-joined diffs stay unsynced, Bybit perpetuals come from `--market perp`.

mod common;

use common::normalize_input::{line, run, summary_of};

use tickstream_connectors::normalize::normalize_with_clock;
use tickstream_connectors::{Market, RejectReason};
use tickstream_model::{Event, EventKind, Exchange, UnixNanos};

fn books(events: &[Event]) -> Vec<bool> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Book(b) => Some(b.synced),
            _ => None,
        })
        .collect()
}

#[test]
fn kraken_books_are_checked_and_synced() {
    let lines = [
        line("kraken", "heartbeat.json"),
        line("kraken", "book-snapshot.json"),
        line("kraken", "book-update.json"),
        line("kraken", "trade-update.json"),
        line("kraken", "ticker.json"),
        "{\"channel\":".into(),
    ];
    let (events, summary) = run(Exchange::Kraken, Market::Spot, &lines.join("\n"));
    assert_eq!(
        summary,
        summary_of(
            6,
            &[
                (EventKind::Trade, 1),
                (EventKind::Quote, 2),
                (EventKind::Book, 2)
            ],
            &[(RejectReason::ParseError, 1)]
        )
    );
    assert_eq!(books(&events), [true, true]);
}

#[test]
fn okx_spot_and_swaps_on_one_input() {
    let lines = [
        line("okx", "books-snapshot.json"),
        line("okx", "books-update.json"),
        line("okx", "trades.json"),
        line("okx", "bbo-tbt.json"),
    ];
    let (events, summary) = run(Exchange::Okx, Market::Perp, &lines.join("\n"));
    assert_eq!(summary.frames, 4);
    assert_eq!(books(&events), [true, true]);
    let symbols: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::Quote(q) => Some(q.symbol.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(symbols, ["BTC-USDT", "BCH-USDT-PERP"]);
}

#[test]
fn bitstamp_diffs_without_a_snapshot_stay_unsynced() {
    let lines = [
        line("bitstamp", "live_trades.json"),
        line("bitstamp", "diff_order_book.json"),
        line("bitstamp", "order_book.json"),
        line("bitstamp", "request_reconnect.json"),
    ];
    let (events, summary) = run(Exchange::Bitstamp, Market::Spot, &lines.join("\n"));
    assert_eq!(
        summary,
        summary_of(
            4,
            &[
                (EventKind::Trade, 1),
                (EventKind::Quote, 1),
                (EventKind::Book, 1)
            ],
            &[]
        )
    );
    assert_eq!(books(&events), [false]);
}

#[test]
fn bybit_perp_market_labels_perpetuals() {
    let lines = [
        line("bybit", "orderbook-snapshot.json"),
        line("bybit", "publicTrade.json"),
    ];
    let (events, _) = run(Exchange::Bybit, Market::Perp, &lines.join("\n"));
    let symbols: Vec<&str> = events
        .iter()
        .filter_map(|e| e.symbol())
        .map(|s| s.as_str())
        .collect();
    assert_eq!(symbols, ["BTC-USDT-PERP", "BTC-USDT-PERP", "BTC-USDT-PERP"]);
    let (events, _) = run(Exchange::Bybit, Market::Spot, &lines.join("\n"));
    assert!(
        events
            .iter()
            .filter_map(|e| e.symbol())
            .all(|s| s.as_str() == "BTC-USDT")
    );
    let mut out = Vec::new();
    assert!(
        normalize_with_clock(Exchange::Kraken, Market::Perp, &b""[..], &mut out, || {
            UnixNanos(0)
        })
        .is_err()
    );
}
