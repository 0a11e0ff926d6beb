//! Binance spot parser tests on the documentation's frames (see `fixtures/binance/SOURCES.md`).

use tickstream_connectors::binance::Binance;
use tickstream_connectors::{BookMode, Channel, RejectReason, Subscription, Venue, VenueSignal};
use tickstream_model::{AggressorSide, BookAction, Event, FeedState, Symbol, UnixNanos};

const TS: UnixNanos = UnixNanos(1_700_000_000_000_000_000);

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/binance/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The documented frame with some fields replaced (for sequences and bad values).
fn edited(name: &str, edits: &[(&str, serde_json::Value)]) -> String {
    let mut value: serde_json::Value = serde_json::from_str(&fixture(name)).unwrap();
    for (key, new) in edits {
        value[*key] = new.clone();
    }
    value.to_string()
}

fn sub(channel: Channel, canonical: &str, raw: &str) -> Subscription {
    Subscription {
        channel,
        symbol: Symbol::parse(canonical).unwrap(),
        raw_symbol: raw.into(),
    }
}

fn venue(mode: BookMode) -> Binance {
    Binance::new(
        &[sub(Channel::Book, "BNB-BTC", "BNBBTC")],
        "http://127.0.0.1:9",
        mode,
    )
}

fn parse(v: &mut Binance, frame: &str) -> Vec<Event> {
    let mut out = Vec::new();
    v.parse(frame, TS, &mut out).unwrap();
    out
}

fn signals(v: &mut Binance) -> Vec<VenueSignal> {
    let mut s = Vec::new();
    v.drain_signals(&mut s);
    s
}

#[test]
fn trade_stream() {
    let events = parse(&mut venue(BookMode::Snapshots), &fixture("trade.json"));
    let [Event::Trade(t)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(t.symbol.as_str(), "BNB-BTC");
    assert_eq!(&*t.raw_symbol, "BNBBTC");
    assert_eq!(t.trade_id, "12345");
    assert_eq!(t.price.to_string(), "0.001");
    assert_eq!(t.quantity.to_string(), "100");
    // "m": true, the buyer is the maker, so the seller took liquidity.
    assert_eq!(t.side, AggressorSide::Sell);
    assert_eq!(t.ts_event, UnixNanos(1_672_515_782_136_000_000));
    assert_eq!(t.ts_recv, TS);
}

#[test]
fn agg_trade_stream_and_combined_wrapper() {
    let framed = format!(
        "{{\"stream\":\"bnbbtc@aggTrade\",\"data\":{}}}",
        fixture("aggTrade.json")
    );
    for frame in [fixture("aggTrade.json"), framed] {
        let events = parse(&mut venue(BookMode::Snapshots), &frame);
        let [Event::Trade(t)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!(t.trade_id, "12345");
        assert_eq!(t.side, AggressorSide::Sell);
        assert_eq!(t.quantity.to_string(), "100");
    }
    let buy = edited("aggTrade.json", &[("m", false.into())]);
    let events = parse(&mut venue(BookMode::Snapshots), &buy);
    let [Event::Trade(t)] = events.as_slice() else {
        panic!()
    };
    assert_eq!(t.side, AggressorSide::Buy);
}

#[test]
fn book_ticker_keeps_the_venue_digits() {
    let framed = format!(
        "{{\"stream\":\"bnbusdt@bookTicker\",\"data\":{}}}",
        fixture("bookTicker.json")
    );
    for frame in [fixture("bookTicker.json"), framed] {
        let events = parse(&mut venue(BookMode::Snapshots), &frame);
        let [Event::Quote(q)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!(q.symbol.as_str(), "BNB-USDT");
        assert_eq!(q.bid_price.to_string(), "25.35190000");
        assert_eq!(q.bid_size.to_string(), "31.21000000");
        assert_eq!(q.ask_price.to_string(), "25.36520000");
        assert_eq!(q.ask_size.to_string(), "40.66000000");
        assert_eq!(q.ts_event, TS);
    }
}

#[test]
fn depth_without_snapshots_is_emitted_unsynced() {
    let events = parse(&mut venue(BookMode::Unsynced), &fixture("depthUpdate.json"));
    let [Event::Book(b)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(b.action, BookAction::Delta);
    assert!(!b.synced);
    assert_eq!((b.first_sequence, b.sequence), (Some(157), Some(160)));
    assert_eq!(b.bids[0].price().to_string(), "0.0024");
    assert_eq!(b.asks[0].quantity().to_string(), "100");
}

fn depth(first: u64, last: u64) -> String {
    edited(
        "depthUpdate.json",
        &[("U", first.into()), ("u", last.into())],
    )
}

fn snapshot(last_update_id: u64) -> String {
    let mut value: serde_json::Value =
        serde_json::from_str(&fixture("depth-snapshot.json")).unwrap();
    value["lastUpdateId"] = last_update_id.into();
    value.to_string()
}

#[test]
fn depth_joins_the_rest_snapshot_and_resyncs_after_a_gap() {
    let mut v = venue(BookMode::Snapshots);
    // Buffered until the snapshot arrives; nothing is published as whole.
    assert!(parse(&mut v, &depth(157, 160)).is_empty());
    assert_eq!(
        signals(&mut v),
        vec![VenueSignal::FetchSnapshot {
            raw_symbol: "BNBBTC".into(),
            url: "http://127.0.0.1:9/api/v3/depth?symbol=BNBBTC&limit=1000".into()
        }]
    );
    assert!(parse(&mut v, &depth(161, 163)).is_empty());
    assert!(signals(&mut v).is_empty(), "one snapshot request at a time");

    // Snapshot at 158: the event 157..160 straddles it, so it and 161..163 apply.
    let mut out = Vec::new();
    v.apply_snapshot("BNBBTC", &snapshot(158), TS, &mut out)
        .unwrap();
    let kinds: Vec<_> = out.iter().map(|e| e.kind().as_str()).collect();
    assert_eq!(kinds, ["book", "book", "book"]);
    let Event::Book(snap) = &out[0] else { panic!() };
    assert_eq!(
        (snap.action, snap.synced, snap.sequence),
        (BookAction::Snapshot, true, Some(158))
    );
    let Event::Book(last) = &out[2] else { panic!() };
    assert_eq!((last.synced, last.sequence), (true, Some(163)));
    // The documentation's snapshot (bid 4) and delta (ask 0.0026) cross: no BBO is published from that.
    let book = v.book("BNBBTC").unwrap().book();
    assert_eq!(book.sequence(), Some(163));
    assert!(book.is_crossed());

    // Stale events are ignored; the next in sequence applies, and once the book is uncrossed its BBO is
    // published.
    assert!(parse(&mut v, &depth(150, 163)).is_empty());
    let uncross = edited(
        "depthUpdate.json",
        &[
            ("U", 164.into()),
            ("u", 165.into()),
            ("b", serde_json::json!([["4.00000000", "0"]])),
        ],
    );
    let out = parse(&mut v, &uncross);
    let [Event::Book(_), Event::Quote(q)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(q.bid_price.to_string(), "0.0024");
    assert_eq!(q.ask_price.to_string(), "0.0026");

    // 167 does not follow 165: gap, snapshot again, then resync.
    let out = parse(&mut v, &depth(167, 170));
    let [Event::Status(gap)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(gap.state, FeedState::Gap);
    assert_eq!(
        (gap.expected_sequence, gap.received_sequence),
        (Some(166), Some(167))
    );
    assert_eq!(gap.symbol.as_ref().unwrap().as_str(), "BNB-BTC");
    assert!(matches!(
        signals(&mut v).as_slice(),
        [VenueSignal::FetchSnapshot { .. }]
    ));

    // A snapshot older than the buffered event is fetched again.
    let mut out = Vec::new();
    v.apply_snapshot("BNBBTC", &snapshot(100), TS, &mut out)
        .unwrap();
    assert!(out.is_empty());
    assert!(matches!(
        signals(&mut v).as_slice(),
        [VenueSignal::FetchSnapshot { .. }]
    ));

    let mut out = Vec::new();
    v.apply_snapshot("BNBBTC", &snapshot(168), TS, &mut out)
        .unwrap();
    let states: Vec<String> = out
        .iter()
        .map(|e| match e {
            Event::Status(s) => format!("{:?}", s.state),
            other => other.kind().to_string(),
        })
        .collect();
    assert_eq!(states, ["book", "Resync", "book"]);
}

#[test]
fn reconnect_reset_makes_the_next_snapshot_a_resync() {
    let mut v = venue(BookMode::Snapshots);
    parse(&mut v, &depth(157, 160));
    let mut out = Vec::new();
    v.apply_snapshot("BNBBTC", &snapshot(158), TS, &mut out)
        .unwrap();
    v.reset();
    assert!(parse(&mut v, &depth(300, 301)).is_empty());
    assert_eq!(signals(&mut v).len(), 1);
    let mut out = Vec::new();
    v.apply_snapshot("BNBBTC", &snapshot(300), TS, &mut out)
        .unwrap();
    assert!(
        out.iter()
            .any(|e| matches!(e, Event::Status(s) if s.state == FeedState::Resync))
    );
}

#[test]
fn server_shutdown_asks_for_a_reconnect() {
    let mut v = venue(BookMode::Snapshots);
    assert!(parse(&mut v, &fixture("serverShutdown.json")).is_empty());
    assert!(matches!(
        signals(&mut v).as_slice(),
        [VenueSignal::Reconnect { .. }]
    ));
}

#[test]
fn responses_acknowledge_or_reject() {
    let mut v = venue(BookMode::Snapshots);
    assert!(parse(&mut v, &fixture("subscribe-response.json")).is_empty());
    assert_eq!(
        signals(&mut v),
        vec![VenueSignal::Subscribed {
            detail: "request 1 acknowledged".into()
        }]
    );
    let mut out = Vec::new();
    let err = v
        .parse(&fixture("error-response.json"), TS, &mut out)
        .unwrap_err();
    assert_eq!(err.reason, RejectReason::VenueError);
}

#[test]
fn subscription_frames_are_exact() {
    let subs = [
        sub(Channel::AggTrades, "BTC-USDT", "BTCUSDT"),
        sub(Channel::Book, "BTC-USDT", "BTCUSDT"),
    ];
    let v = Binance::new(&subs, "https://api.binance.com", BookMode::Snapshots);
    assert_eq!(
        v.subscribe_frames(&subs),
        [r#"{"id":1,"method":"SUBSCRIBE","params":["btcusdt@aggTrade","btcusdt@depth@100ms"]}"#]
    );
    // Same request as the documentation's, apart from the 100 ms depth stream and key order.
    let doc: serde_json::Value = serde_json::from_str(&fixture("subscribe-request.json")).unwrap();
    let ours: serde_json::Value = serde_json::from_str(&v.subscribe_frames(&subs)[0]).unwrap();
    assert_eq!(doc["method"], ours["method"]);
    assert_eq!(doc["params"][0], ours["params"][0]);
    let subs = [
        sub(Channel::Trades, "ETH-BTC", "ETHBTC"),
        sub(Channel::Bbo, "ETH-BTC", "ETHBTC"),
    ];
    assert_eq!(
        v.subscribe_frames(&subs),
        [r#"{"id":1,"method":"SUBSCRIBE","params":["ethbtc@trade","ethbtc@bookTicker"]}"#]
    );
    assert_eq!(
        v.url("wss://stream.binance.com:9443", &subs).unwrap(),
        "wss://stream.binance.com:9443/stream"
    );
}

#[test]
fn bad_frames_are_rejected_with_a_reason() {
    let mut v = venue(BookMode::Snapshots);
    let cases = [
        (
            edited("trade.json", &[("p", "0".into())]),
            RejectReason::InvalidPrice,
        ),
        (
            edited("trade.json", &[("p", "-0.001".into())]),
            RejectReason::InvalidPrice,
        ),
        (
            edited("trade.json", &[("p", "NaN".into())]),
            RejectReason::InvalidPrice,
        ),
        (
            edited("trade.json", &[("q", "0".into())]),
            RejectReason::InvalidQuantity,
        ),
        (
            edited("bookTicker.json", &[("b", "NaN".into())]),
            RejectReason::InvalidPrice,
        ),
        (
            edited("trade.json", &[("s", "???".into())]),
            RejectReason::InvalidSymbol,
        ),
        (
            edited("trade.json", &[("e", "kline".into())]),
            RejectReason::UnknownMessage,
        ),
        (
            edited("trade.json", &[("t", "not a number".into())]),
            RejectReason::ParseError,
        ),
        (
            "{\"stream\":\"bnbbtc@kline_1m\",\"data\":{}}".to_owned(),
            RejectReason::UnknownMessage,
        ),
        ("not json at all".to_owned(), RejectReason::ParseError),
        ("".to_owned(), RejectReason::ParseError),
        ("[1,2,3]".to_owned(), RejectReason::ParseError),
    ];
    for (frame, reason) in cases {
        let mut out = Vec::new();
        let err = v.parse(&frame, TS, &mut out).unwrap_err();
        assert_eq!(err.reason, reason, "{frame}");
        assert!(out.is_empty());
    }
}
