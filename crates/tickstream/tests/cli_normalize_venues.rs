//! `tickstream normalize` end to end for Kraken, OKX, Bitstamp and Bybit, on the connectors' fixture
//! frames (sources beside them in `crates/connectors/tests/fixtures/<venue>/SOURCES.md`).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

/// The fixtures of `dir`, one frame a line, each frame's text otherwise as stored (Kraken's numbers
/// keep their digits).
fn frames(dir: &str, names: &[&str]) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../connectors/tests/fixtures");
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

/// Runs `tickstream normalize --exchange <exchange> --market <market>` on `input` through stdin: the
/// events written and the summary printed.
fn normalize(exchange: &str, market: &str, input: String) -> (Vec<Value>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickstream"))
        .args(["normalize", "--exchange", exchange, "--market", market])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    let events = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    (events, stderr)
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
    let (events, stderr) = normalize("kraken", "spot", input);
    assert_eq!(
        outline(&events),
        [
            r#"book "MATIC-USD" snapshot synced=true"#,
            r#"quote "MATIC-USD""#,
            r#"book "MATIC-USD" delta synced=true"#,
            r#"trade "MATIC-USD""#,
            r#"quote "ALGO-USD""#,
        ]
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
    assert_eq!(
        stderr.trim_end(),
        "frames read: 8\nevents: trade=1, quote=2, book=2\nrejected: parse_error=1"
    );
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
    let (events, stderr) = normalize("okx", "perp", input);
    assert_eq!(
        outline(&events),
        [
            r#"book "BTC-USDT" snapshot synced=true"#,
            r#"quote "BTC-USDT""#,
            r#"book "BTC-USDT" delta synced=true"#,
            r#"trade "BTC-USDT""#,
            r#"quote "BCH-USDT-PERP""#,
        ]
    );
    assert_eq!(
        (&events[3]["trade_id"], &events[3]["side"]),
        (&"130639474".into(), &"buy".into())
    );
    assert_eq!(
        stderr.trim_end(),
        "frames read: 6\nevents: trade=1, quote=2, book=2\nrejected: venue_error=1"
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
    let (events, stderr) = normalize("bitstamp", "spot", input);
    assert_eq!(
        outline(&events),
        [
            r#"trade "BTC-USD""#,
            r#"book "BTC-USD" delta synced=false"#,
            r#"quote "BTC-USD""#,
        ]
    );
    // Type 1 is a sell taker; microtimestamps become nanoseconds exactly.
    assert_eq!(
        (&events[0]["side"], &events[0]["ts_event"]),
        (&"sell".into(), &1_580_336_751_488_517_000i64.into())
    );
    assert_eq!(
        stderr.trim_end(),
        "frames read: 4\nevents: trade=1, quote=1, book=1\nrejected: none"
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
    let (events, stderr) = normalize("bybit", "spot", input);
    assert_eq!(
        outline(&events),
        [
            r#"book "BTC-USDT" snapshot synced=true"#,
            r#"quote "BTC-USDT""#,
            r#"book "BTC-USDT" delta synced=true"#,
            r#"quote "BTC-USDT""#,
            r#"status "BTC-USDT" gap"#,
            r#"book "BTC-USDT" snapshot synced=true"#,
            r#"status "BTC-USDT" resync"#,
            r#"quote "BTC-USDT""#,
            r#"trade "BTC-USDT""#,
        ]
    );
    assert_eq!(
        (
            &events[4]["expected_sequence"],
            &events[4]["received_sequence"]
        ),
        (&1_323_398u64.into(), &177_400_507u64.into())
    );
    assert_eq!(events[8]["trade_id"], "2100000000019296063");
    assert_eq!(
        stderr.trim_end(),
        "frames read: 7\nevents: trade=1, quote=3, book=3, status=2\nrejected: none"
    );
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
    let (events, stderr) = normalize("bybit", "perp", input);
    assert_eq!(
        outline(&events),
        [
            r#"quote "BTC-USDT-PERP""#,
            r#"trade "BTC-USDT-PERP""#,
            r#"book "BTC-USDT-PERP" delta synced=false"#,
        ]
    );
    assert_eq!(
        (&events[0]["bid_price"], &events[0]["ask_price"]),
        (&"109378.80".into(), &"109378.90".into())
    );
    assert_eq!(events[2]["sequence"], 21_111_423u64);
    assert_eq!(
        stderr.trim_end(),
        "frames read: 6\nevents: trade=1, quote=1, book=1\nrejected: unknown_message=1"
    );
}
