//! Bybit v5 public parser tests on the documentation's messages (see `fixtures/bybit/SOURCES.md`).

use serde_json::{Value, json};
use tickstream_connectors::bybit::{Bybit, BybitMarket};
use tickstream_connectors::{BookMode, Channel, RejectReason, Subscription, Venue, VenueSignal};
use tickstream_model::{AggressorSide, BookAction, Event, FeedState, Symbol, UnixNanos};

const TS: UnixNanos = UnixNanos(1_700_000_000_000_000_000);

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/bybit/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .unwrap()
}

fn sub(channel: Channel, canonical: &str, raw: &str) -> Subscription {
    Subscription {
        channel,
        symbol: Symbol::parse(canonical).unwrap(),
        raw_symbol: raw.into(),
    }
}

fn spot(mode: BookMode) -> Bybit {
    Bybit::new(
        &[sub(Channel::Book, "BTC-USDT", "BTCUSDT")],
        BybitMarket::Spot,
        50,
        mode,
    )
    .unwrap()
}

fn parse(v: &mut Bybit, frame: &Value) -> Vec<Event> {
    let mut out = Vec::new();
    v.parse(&frame.to_string(), TS, &mut out).unwrap();
    out
}

fn signals(v: &mut Bybit) -> Vec<VenueSignal> {
    let mut s = Vec::new();
    v.drain_signals(&mut s);
    s
}

/// The documented snapshot turned into a delta with update id `u`.
fn delta(u: u64, bids: Value, asks: Value) -> Value {
    let mut frame = fixture("orderbook-snapshot.json");
    frame["type"] = json!("delta");
    frame["data"]["u"] = u.into();
    frame["data"]["b"] = bids;
    frame["data"]["a"] = asks;
    frame
}

#[test]
fn urls_and_subscription_frames() {
    let subs: Vec<Subscription> = (0..4)
        .flat_map(|i| {
            let raw = format!("COIN{i}USDT");
            let canonical = format!("COIN{i}-USDT-PERP");
            [Channel::Trades, Channel::Bbo, Channel::Book].map(|c| sub(c, &canonical, &raw))
        })
        .collect();
    let v = Bybit::new(&subs, BybitMarket::Linear, 200, BookMode::Snapshots).unwrap();
    assert_eq!(
        v.url("wss://stream.bybit.com", &subs).unwrap(),
        "wss://stream.bybit.com/v5/public/linear"
    );
    assert_eq!(
        v.url("ws://127.0.0.1:9000/v5/public/linear", &subs)
            .unwrap(),
        "ws://127.0.0.1:9000/v5/public/linear"
    );
    let frames = v.subscribe_frames(&subs);
    // Twelve topics: ten in the first request, two in the second.
    assert_eq!(frames.len(), 2);
    assert_eq!(
        frames[1],
        r#"{"args":["orderbook.1.COIN3USDT","orderbook.200.COIN3USDT"],"op":"subscribe"}"#
    );
    assert!(frames[0].starts_with(
        r#"{"args":["publicTrade.COIN0USDT","orderbook.1.COIN0USDT","orderbook.200.COIN0USDT","#
    ));
    assert_eq!(v.ping_frame().as_deref(), Some(r#"{"op":"ping"}"#));
    assert!(Bybit::new(&subs, BybitMarket::Spot, 25, BookMode::Snapshots).is_err());
}

#[test]
fn trades_use_the_taker_side_and_keep_ids() {
    let mut v = spot(BookMode::Snapshots);
    let events = parse(&mut v, &fixture("publicTrade.json"));
    let [Event::Trade(t)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(t.symbol.as_str(), "BTC-USDT");
    assert_eq!(t.trade_id, "20f43950-d8dd-5b31-9112-a178eb6023af");
    assert_eq!(
        (t.price.to_string(), t.quantity.to_string()),
        ("16578.50".into(), "0.001".into())
    );
    assert_eq!(t.side, AggressorSide::Buy);
    assert_eq!(t.ts_event, UnixNanos(1_672_304_486_865_000_000));

    // The same frame on the linear endpoint is a perpetual, never spot; `T` may be a string.
    let mut linear = Bybit::new(&[], BybitMarket::Linear, 50, BookMode::Snapshots).unwrap();
    let mut frame = fixture("publicTrade.json");
    frame["data"][0]["S"] = json!("Sell");
    frame["data"][0]["T"] = json!("1672304486865");
    let events = parse(&mut linear, &frame);
    let [Event::Trade(t)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(t.symbol.as_str(), "BTC-USDT-PERP");
    assert_eq!(t.side, AggressorSide::Sell);
    assert_eq!(t.ts_event, UnixNanos(1_672_304_486_865_000_000));
}

#[test]
fn snapshot_then_consecutive_deltas() {
    let mut v = spot(BookMode::Snapshots);
    let out = parse(&mut v, &fixture("orderbook-snapshot.json"));
    let [Event::Book(snap), Event::Quote(q)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        (snap.action, snap.synced, snap.sequence),
        (BookAction::Snapshot, true, Some(18_521_288))
    );
    assert_eq!(snap.ts_event, UnixNanos(1_672_304_484_978_000_000));
    assert_eq!(
        (q.bid_price.to_string(), q.ask_price.to_string()),
        ("16493.50".into(), "16611.00".into())
    );
    let out = parse(
        &mut v,
        &delta(18_521_289, json!([["16493.50", "0"]]), json!([])),
    );
    let [Event::Book(d), Event::Quote(q)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!((d.synced, d.sequence), (true, Some(18_521_289)));
    assert_eq!(q.bid_price.to_string(), "16493.00");
    assert!(signals(&mut v).is_empty());
}

#[test]
fn a_skipped_update_id_reports_gap_resubscribes_and_resyncs() {
    let mut v = spot(BookMode::Snapshots);
    parse(&mut v, &fixture("orderbook-snapshot.json"));
    let out = parse(
        &mut v,
        &delta(18_521_290, json!([]), json!([["16611.00", "0"]])),
    );
    let [Event::Status(gap)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(gap.state, FeedState::Gap);
    assert_eq!(gap.symbol.as_ref().unwrap().as_str(), "BTC-USDT");
    assert_eq!(
        (gap.expected_sequence, gap.received_sequence),
        (Some(18_521_289), Some(18_521_290))
    );
    assert_eq!(
        signals(&mut v),
        vec![VenueSignal::Send {
            frames: vec![
                r#"{"args":["orderbook.50.BTCUSDT"],"op":"unsubscribe"}"#.into(),
                r#"{"args":["orderbook.50.BTCUSDT"],"op":"subscribe"}"#.into(),
            ],
            reason: "orderbook.50.BTCUSDT update id break".into(),
        }]
    );
    assert!(parse(&mut v, &delta(18_521_291, json!([]), json!([]))).is_empty());
    let out = parse(&mut v, &fixture("orderbook-snapshot.json"));
    let [Event::Book(snap), Event::Status(resync), Event::Quote(_)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert!(snap.synced);
    assert_eq!(resync.state, FeedState::Resync);
}

#[test]
fn update_id_one_replaces_the_book() {
    let mut v = spot(BookMode::Snapshots);
    parse(&mut v, &fixture("orderbook-snapshot.json"));
    let out = parse(
        &mut v,
        &delta(
            1,
            json!([["16000.00", "1.000"]]),
            json!([["16700.00", "2.000"]]),
        ),
    );
    let [Event::Book(snap), Event::Quote(q)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        (snap.action, snap.sequence),
        (BookAction::Snapshot, Some(1))
    );
    assert_eq!(snap.bids.len(), 1);
    assert_eq!(q.bid_price.to_string(), "16000.00");
    let out = parse(&mut v, &delta(2, json!([]), json!([["16650.00", "0.5"]])));
    assert!(
        matches!(out.as_slice(), [Event::Book(_), Event::Quote(_)]),
        "{out:?}"
    );
}

#[test]
fn level_one_book_gives_the_bbo() {
    let mut v = spot(BookMode::Snapshots);
    let mut frame = fixture("orderbook-snapshot.json");
    frame["topic"] = json!("orderbook.1.BTCUSDT");
    frame["data"]["b"] = json!([["16493.50", "0.006"]]);
    frame["data"]["a"] = json!([["16611.00", "0.029"]]);
    let events = parse(&mut v, &frame);
    let [Event::Quote(q)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(
        (q.bid_price.to_string(), q.bid_size.to_string()),
        ("16493.50".into(), "0.006".into())
    );
    frame["type"] = json!("delta");
    frame["data"]["b"] = json!([["16493.50", "0"], ["16494.00", "1.5"]]);
    frame["data"]["a"] = json!([]);
    let events = parse(&mut v, &frame);
    let [Event::Quote(q)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(q.bid_price.to_string(), "16494.00");
    assert_eq!(q.ask_price.to_string(), "16611.00");
}

#[test]
fn offline_deltas_without_a_snapshot_are_flagged_unsynced() {
    let mut v = spot(BookMode::Unsynced);
    let out = parse(&mut v, &delta(5, json!([["16493.50", "1"]]), json!([])));
    let [Event::Book(d)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert!(!d.synced);
    assert!(
        parse(
            &mut spot(BookMode::Snapshots),
            &delta(5, json!([]), json!([]))
        )
        .is_empty()
    );
}

#[test]
fn reconnect_makes_the_next_snapshot_a_resync() {
    let mut v = spot(BookMode::Snapshots);
    parse(&mut v, &fixture("orderbook-snapshot.json"));
    v.reset();
    let out = parse(&mut v, &fixture("orderbook-snapshot.json"));
    assert!(
        out.iter()
            .any(|e| matches!(e, Event::Status(s) if s.state == FeedState::Resync)),
        "{out:?}"
    );
}

#[test]
fn bad_values_are_rejected() {
    let mut v = spot(BookMode::Snapshots);
    let reject = |v: &mut Bybit, frame: Value| {
        let mut out = Vec::new();
        let reason = v
            .parse(&frame.to_string(), TS, &mut out)
            .unwrap_err()
            .reason;
        assert!(out.is_empty());
        reason
    };
    let mut trade = fixture("publicTrade.json");
    for (field, bad, reason) in [
        ("p", json!("0"), RejectReason::InvalidPrice),
        ("p", json!("-16578.50"), RejectReason::InvalidPrice),
        ("p", json!("NaN"), RejectReason::InvalidPrice),
        ("v", json!("0.000"), RejectReason::InvalidQuantity),
        ("T", json!("soon"), RejectReason::InvalidTimestamp),
        ("s", json!("BTC/USDT"), RejectReason::InvalidSymbol),
    ] {
        let saved = trade["data"][0][field].clone();
        trade["data"][0][field] = bad;
        assert_eq!(reject(&mut v, trade.clone()), reason, "{field}");
        trade["data"][0][field] = saved;
    }
    let mut book = fixture("orderbook-snapshot.json");
    book["data"]["a"][0][1] = json!("-1");
    assert_eq!(reject(&mut v, book), RejectReason::InvalidQuantity);
    let mut unknown = fixture("publicTrade.json");
    unknown["topic"] = json!("kline.5.BTCUSDT");
    assert_eq!(reject(&mut v, unknown), RejectReason::UnknownMessage);
    assert_eq!(
        reject(&mut v, json!("not an object")),
        RejectReason::ParseError
    );
}
