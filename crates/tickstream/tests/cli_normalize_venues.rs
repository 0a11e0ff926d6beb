//! `tickstream normalize` end to end for Kraken, OKX, Bitstamp and Bybit, on the connectors' fixture
//! frames (sources beside them in `crates/connectors/tests/fixtures/<venue>/SOURCES.md`).

mod common;

use serde_json::Value;

use common::{Tickstream, parse_ndjson, repo_path};

/// The fixtures of `dir`, one frame a line, each frame's text otherwise as stored (Kraken's numbers
/// keep their digits).
fn frames(dir: &str, names: &[&str]) -> String {
    let root = repo_path("crates/connectors/tests/fixtures");
    names
        .iter()
        .map(|name| {
            let path = root.join(dir).join(format!("{name}.json"));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            text.lines().map(str::trim).collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `tickstream normalize --exchange <exchange> --market <market>` on `input` through stdin, checks
/// the [`outline`] of the events written and the summary printed, and returns the events.
fn normalize(
    (exchange, market): (&str, &str),
    input: String,
    expected: &[&str],
    summary: &str,
) -> Vec<Value> {
    let out = Tickstream::new(["normalize", "--exchange", exchange, "--market", market])
        .output_with_stdin(input);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    let events = parse_ndjson(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(outline(&events), expected);
    assert_eq!(stderr.trim_end(), summary);
    events
}

/// Each event as `type symbol`, with the book action and whether it is synced.
fn outline(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let mut text = format!("{} {}", e["type"].as_str().unwrap(), e["symbol"]);
            if let Some(action) = e["action"].as_str() {
                text.push_str(&format!(" {action} synced={}", e["synced"]));
            }
            if let Some(state) = e["state"].as_str() {
                text.push_str(&format!(" {state}"));
            }
            text
        })
        .collect()
}

#[test]
fn kraken_books_checked_by_checksum() {
    let mut input = frames(
        "kraken",
        &[
            "book-subscribe-ack",
            "heartbeat",
            "book-snapshot",
            "book-update",
            "trade-update",
            "ticker",
            "pong",
        ],
    );
    input.push_str("\n{\"channel\":\n");
    let events = normalize(
        ("kraken", "spot"),
        input,
        &[
            r#"book "MATIC-USD" snapshot synced=true"#,
            r#"quote "MATIC-USD""#,
            r#"book "MATIC-USD" delta synced=true"#,
            r#"trade "MATIC-USD""#,
            r#"quote "ALGO-USD""#,
        ],
        "frames read: 8\nevents: trade=1, quote=2, book=2\nrejected: parse_error=1",
    );
    assert_eq!(events[2]["checksum"], 2_114_181_697u32);
    assert_eq!(
        (
            &events[3]["trade_id"],
            &events[3]["price"],
            &events[3]["side"]
        ),
        (&"4665906".into(), &"0.5117".into(), &"sell".into())
    );
    assert_eq!(events[3]["ts_event"], 1_695_628_177_708_706_000i64);
}

#[test]
fn okx_spot_and_swaps_keep_their_kind() {
    let input = frames(
        "okx",
        &[
            "subscribe-response",
            "books-snapshot",
            "books-update",
            "trades",
            "bbo-tbt",
            "error-response",
        ],
    );
    let events = normalize(
        ("okx", "perp"),
        input,
        &[
            r#"book "BTC-USDT" snapshot synced=true"#,
            r#"quote "BTC-USDT""#,
            r#"book "BTC-USDT" delta synced=true"#,
            r#"trade "BTC-USDT""#,
            r#"quote "BCH-USDT-PERP""#,
        ],
        "frames read: 6\nevents: trade=1, quote=2, book=2\nrejected: venue_error=1",
    );
    assert_eq!(
        (&events[3]["trade_id"], &events[3]["side"]),
        (&"130639474".into(), &"buy".into())
    );
}

#[test]
fn bitstamp_diffs_stay_unsynced_without_the_rest_snapshot() {
    let input = frames(
        "bitstamp",
        &[
            "live_trades",
            "diff_order_book",
            "order_book",
            "request_reconnect",
        ],
    );
    let events = normalize(
        ("bitstamp", "spot"),
        input,
        &[
            r#"trade "BTC-USD""#,
            r#"book "BTC-USD" delta synced=false"#,
            r#"quote "BTC-USD""#,
        ],
        "frames read: 4\nevents: trade=1, quote=1, book=1\nrejected: none",
    );
    // Type 1 is a sell taker; microtimestamps become nanoseconds exactly.
    assert_eq!(
        (&events[0]["side"], &events[0]["ts_event"]),
        (&"sell".into(), &1_580_336_751_488_517_000i64.into())
    );
}

#[test]
fn bybit_spot_book_breaks_and_resyncs() {
    // The recorded snapshot and its next delta, the documented delta from much later (a break), then
    // the snapshot again as a resubscription brings it.
    let input = frames(
        "bybit",
        &[
            "subscribe-response-spot",
            "spot-orderbook50-snapshot",
            "spot-orderbook50-delta",
            "orderbook-delta",
            "spot-orderbook50-snapshot",
            "spot-publicTrade",
            "pong-spot",
        ],
    );
    let events = normalize(
        ("bybit", "spot"),
        input,
        &[
            r#"book "BTC-USDT" snapshot synced=true"#,
            r#"quote "BTC-USDT""#,
            r#"book "BTC-USDT" delta synced=true"#,
            r#"quote "BTC-USDT""#,
            r#"status "BTC-USDT" gap"#,
            r#"book "BTC-USDT" snapshot synced=true"#,
            r#"status "BTC-USDT" resync"#,
            r#"quote "BTC-USDT""#,
            r#"trade "BTC-USDT""#,
        ],
        "frames read: 7\nevents: trade=1, quote=3, book=3, status=2\nrejected: none",
    );
    assert_eq!(
        (
            &events[4]["expected_sequence"],
            &events[4]["received_sequence"]
        ),
        (&1_323_398u64.into(), &177_400_507u64.into())
    );
    assert_eq!(events[8]["trade_id"], "2100000000019296063");
}

#[test]
fn bybit_linear_frames_are_perpetuals() {
    let input = frames(
        "bybit",
        &[
            "subscribe-response-linear",
            "linear-orderbook1-snapshot",
            "linear-publicTrade",
            "linear-orderbook50-delta",
            "pong-linear",
            "kline",
        ],
    );
    let events = normalize(
        ("bybit", "perp"),
        input,
        &[
            r#"quote "BTC-USDT-PERP""#,
            r#"trade "BTC-USDT-PERP""#,
            r#"book "BTC-USDT-PERP" delta synced=false"#,
        ],
        "frames read: 6\nevents: trade=1, quote=1, book=1\nrejected: unknown_message=1",
    );
    assert_eq!(
        (&events[0]["bid_price"], &events[0]["ask_price"]),
        (&"109378.80".into(), &"109378.90".into())
    );
    assert_eq!(events[2]["sequence"], 21_111_423u64);
}
