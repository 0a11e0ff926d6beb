//! Bybit v5 public parser tests on the documentation's messages and on recorded frames, each fed as
//! its stored text (sources in `fixtures/bybit/SOURCES.md`).

mod common;

use common::sim_feed::{SimFeed, parse_all, simulated_trades};
use serde_json::{Value, json};
use tickstream_connectors::venues::bybit::{Bybit, BybitMarket};
use tickstream_connectors::{BookMode, Channel, RejectReason, Subscription, Venue, VenueSignal};
use tickstream_model::{AggressorSide, BookAction, Event, FeedState, UnixNanos};
use tickstream_simulator::Protocol;
use tickstream_simulator::bybit::{BybitProtocol, Category};

use common::sim_feed::TS;
use common::venue_frames::{
    self, fixture_json, fixture_text, only_trade, signals, sub, trade_fields,
};

/// The recorded spot `orderbook.50.BTCUSDT` snapshot (`u` = 1323396) and the delta after it (1323397).
const SPOT_SNAPSHOT: &str = "spot-orderbook50-snapshot.json";
const SPOT_DELTA: &str = "spot-orderbook50-delta.json";
/// The documentation's delta (`u` = 177400507), from another moment of the same topic.
const DOC_DELTA: &str = "orderbook-delta.json";

fn text(name: &str) -> String {
    fixture_text("bybit", name)
}

fn fixture(name: &str) -> Value {
    fixture_json("bybit", name)
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

fn linear(mode: BookMode) -> Bybit {
    Bybit::new(&[], BybitMarket::Linear, 50, mode).unwrap()
}

/// The events of one fixture, parsed from its stored text.
fn parse(v: &mut Bybit, name: &str) -> Vec<Event> {
    venue_frames::parse(v, text(name))
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
    assert_eq!(v.profile().ping_frame, Some(r#"{"op":"ping"}"#));
    assert!(Bybit::new(&subs, BybitMarket::Spot, 25, BookMode::Snapshots).is_err());
}

#[test]
fn subscribe_answers_and_pongs() {
    for (market, ack) in [
        (BybitMarket::Spot, "subscribe-response-spot.json"),
        (BybitMarket::Linear, "subscribe-response-linear.json"),
    ] {
        let mut v = Bybit::new(&[], market, 50, BookMode::Snapshots).unwrap();
        assert!(parse(&mut v, ack).is_empty());
        assert_eq!(
            signals(&mut v),
            vec![VenueSignal::Subscribed {
                detail: "subscribe acknowledged".into()
            }],
            "{ack}"
        );
    }
    for (market, pong) in [
        (BybitMarket::Spot, "pong-spot.json"),
        (BybitMarket::Spot, "spot-pong-recorded.json"),
        (BybitMarket::Linear, "pong-linear.json"),
    ] {
        let mut v = Bybit::new(&[], market, 50, BookMode::Snapshots).unwrap();
        assert!(parse(&mut v, pong).is_empty(), "{pong}");
        assert!(signals(&mut v).is_empty(), "{pong}");
    }
}

#[test]
fn trades_use_the_taker_side_and_keep_ids() {
    let mut v = spot(BookMode::Snapshots);
    let events = parse(&mut v, "publicTrade.json");
    assert_eq!(
        trade_fields(only_trade(&events)),
        (
            "BTC-USDT",
            "20f43950-d8dd-5b31-9112-a178eb6023af",
            "16578.50".into(),
            "0.001".into(),
            AggressorSide::Buy,
            UnixNanos(1_672_304_486_865_000_000)
        )
    );

    // A recorded spot trade: a numeric-looking id stays the text it was, an integer price keeps no point.
    let events = parse(&mut v, "spot-publicTrade.json");
    let [Event::Trade(t)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(t.trade_id, "2100000000019296063");
    assert_eq!(
        (t.price.to_string(), t.quantity.to_string()),
        ("27200".into(), "0.000221".into())
    );
    assert_eq!(t.ts_event, UnixNanos(1_682_084_122_521_000_000));

    // A recorded trade on the linear endpoint is a perpetual, never spot.
    let mut perp = linear(BookMode::Snapshots);
    let events = parse(&mut perp, "linear-publicTrade.json");
    let [Event::Trade(t)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(t.symbol.as_str(), "BTC-USDT-PERP");
    assert_eq!(t.trade_id, "2a74ac78-691c-5b54-9dbe-5aafe8364627");
    assert_eq!(t.side, AggressorSide::Buy);
    assert_eq!(
        (t.price.to_string(), t.quantity.to_string()),
        ("109378.90".into(), "0.020".into())
    );
    assert_eq!(t.ts_event, UnixNanos(1_758_841_135_823_000_000));
}

#[test]
fn snapshot_then_the_next_delta() {
    let mut v = spot(BookMode::Snapshots);
    let out = parse(&mut v, SPOT_SNAPSHOT);
    let [Event::Book(snap), Event::Quote(q)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        (snap.action, snap.synced, snap.sequence),
        (BookAction::Snapshot, true, Some(1_323_396))
    );
    assert_eq!((snap.bids.len(), snap.asks.len()), (50, 50));
    assert_eq!(snap.ts_event, UnixNanos(1_682_083_230_023_000_000));
    assert_eq!(
        (q.bid_price.to_string(), q.bid_size.to_string()),
        ("27579.99".into(), "0.031443".into())
    );
    assert_eq!(
        (q.ask_price.to_string(), q.ask_size.to_string()),
        ("27580".into(), "0.080386".into())
    );
    let out = parse(&mut v, SPOT_DELTA);
    let [Event::Book(d), Event::Quote(q)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        (d.action, d.synced, d.sequence),
        (BookAction::Delta, true, Some(1_323_397))
    );
    assert_eq!(
        (q.bid_price.to_string(), q.bid_size.to_string()),
        ("27579.99".into(), "0.031244".into())
    );
    assert!(signals(&mut v).is_empty());
    let book = v.book("BTCUSDT").unwrap();
    assert_eq!((book.bids().count(), book.asks().count()), (50, 50));
}

#[test]
fn a_skipped_update_id_reports_gap_resubscribes_and_resyncs() {
    let mut v = spot(BookMode::Snapshots);
    parse(&mut v, SPOT_SNAPSHOT);
    // The next delta is missing: the one that arrives belongs much later in the stream.
    let out = parse(&mut v, DOC_DELTA);
    let [Event::Status(gap)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(gap.state, FeedState::Gap);
    assert_eq!(gap.symbol.as_ref().unwrap().as_str(), "BTC-USDT");
    assert_eq!(
        (gap.expected_sequence, gap.received_sequence),
        (Some(1_323_397), Some(177_400_507))
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
    // Until the new snapshot nothing of the book is published.
    assert!(parse(&mut v, SPOT_DELTA).is_empty());
    let out = parse(&mut v, SPOT_SNAPSHOT);
    let [Event::Book(snap), Event::Status(resync), Event::Quote(_)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert!(snap.synced);
    assert_eq!(resync.state, FeedState::Resync);
    assert_eq!(resync.received_sequence, Some(1_323_396));
    let out = parse(&mut v, SPOT_DELTA);
    assert!(
        matches!(out.as_slice(), [Event::Book(d), Event::Quote(_)] if d.synced),
        "{out:?}"
    );
}

#[test]
fn a_repeated_delta_is_a_break() {
    let mut v = spot(BookMode::Snapshots);
    parse(&mut v, SPOT_SNAPSHOT);
    parse(&mut v, SPOT_DELTA);
    let out = parse(&mut v, SPOT_DELTA);
    let [Event::Status(gap)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(gap.state, FeedState::Gap);
    assert_eq!(
        (gap.expected_sequence, gap.received_sequence),
        (Some(1_323_398), Some(1_323_397))
    );
}

#[test]
fn a_new_snapshot_replaces_the_book() {
    let mut v = spot(BookMode::Snapshots);
    parse(&mut v, SPOT_SNAPSHOT);
    parse(&mut v, SPOT_DELTA);
    let out = parse(&mut v, "orderbook-snapshot.json");
    let [Event::Book(snap), Event::Quote(q)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        (snap.action, snap.synced, snap.sequence),
        (BookAction::Snapshot, true, Some(18_521_288))
    );
    assert_eq!(
        (q.bid_price.to_string(), q.ask_price.to_string()),
        ("16493.50".into(), "16611.00".into())
    );
    let book = v.book("BTCUSDT").unwrap();
    assert_eq!((book.bids().count(), book.asks().count()), (2, 2));
}

#[test]
fn level_one_book_gives_the_bbo() {
    let mut v = linear(BookMode::Snapshots);
    let events = parse(&mut v, "linear-orderbook1-snapshot.json");
    let [Event::Quote(q)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(q.symbol.as_str(), "BTC-USDT-PERP");
    assert_eq!(
        (q.bid_price.to_string(), q.bid_size.to_string()),
        ("109378.80".into(), "1.273".into())
    );
    assert_eq!(
        (q.ask_price.to_string(), q.ask_size.to_string()),
        ("109378.90".into(), "6.278".into())
    );
    assert_eq!(q.ts_event, UnixNanos(1_758_841_134_603_000_000));
    // A level-1 delta before any level-1 snapshot has no top to update.
    let mut v = spot(BookMode::Snapshots);
    assert!(parse(&mut v, "spot-orderbook1-delta.json").is_empty());
}

#[test]
fn offline_deltas_without_a_snapshot_are_flagged_unsynced() {
    let mut v = spot(BookMode::Unsynced);
    let out = parse(&mut v, DOC_DELTA);
    let [Event::Book(d)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert!(!d.synced);
    assert_eq!(d.sequence, Some(177_400_507));
    assert_eq!((d.bids.len(), d.asks.len()), (5, 7));
    assert!(parse(&mut spot(BookMode::Snapshots), DOC_DELTA).is_empty());

    let mut perp = linear(BookMode::Unsynced);
    let out = parse(&mut perp, "linear-orderbook50-delta.json");
    let [Event::Book(d)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(d.symbol.as_str(), "BTC-USDT-PERP");
    assert_eq!((d.synced, d.sequence), (false, Some(21_111_423)));
}

#[test]
fn reconnect_makes_the_next_snapshot_a_resync() {
    let mut v = spot(BookMode::Snapshots);
    parse(&mut v, SPOT_SNAPSHOT);
    v.reset();
    let out = parse(&mut v, SPOT_SNAPSHOT);
    assert!(
        out.iter()
            .any(|e| matches!(e, Event::Status(s) if s.state == FeedState::Resync)),
        "{out:?}"
    );
}

/// Deliberately corrupted copies of the documented trade and snapshot: each must be rejected.
/// The bad values below are malformed copies of documented frames: input the venue does not send, made
/// to test that each is rejected with its reason; they are never used as venue messages.
#[test]
fn bad_values_are_rejected() {
    let mut v = spot(BookMode::Snapshots);
    let reject = |v: &mut Bybit, frame: &str| {
        let mut out = Vec::new();
        let reason = v.parse(frame, TS, &mut out).unwrap_err().reason;
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
        assert_eq!(reject(&mut v, &trade.to_string()), reason, "{field}");
        trade["data"][0][field] = saved;
    }
    let mut book = fixture("orderbook-snapshot.json");
    book["data"]["a"][0][1] = json!("-1");
    assert_eq!(
        reject(&mut v, &book.to_string()),
        RejectReason::InvalidQuantity
    );
    // A documented topic this connector does not serve.
    assert_eq!(
        reject(&mut v, &text("kline.json")),
        RejectReason::UnknownMessage
    );
    assert_eq!(
        reject(&mut v, r#""not an object""#),
        RejectReason::ParseError
    );
}

// The simulator's own frames (see tests/common/sim_feed.rs): both taker sides, and the `u` = 1 reset
// that no recorded or documented frame shows.
#[test]
fn simulated_public_trades_keep_the_taker_side() {
    let subs = [sub(Channel::Trades, "ETH-USDT", "ETHUSDT")];
    let mut v = Bybit::new(&subs, BybitMarket::Spot, 50, BookMode::Snapshots).unwrap();
    let mut feed = SimFeed::new(BybitProtocol::new(Category::Spot), "ETH-USDT");
    let answers = feed.answer(&v.subscribe_frames(&subs));
    parse_all(&mut v, &answers);
    for (step, _, t) in simulated_trades(&mut feed, &mut v, "publicTrade.ETHUSDT", 20) {
        assert_eq!(t.ts_event, UnixNanos(step.time_ms * 1_000_000));
    }
}

#[test]
fn simulated_update_id_one_replaces_the_book() {
    let subs = [sub(Channel::Book, "ETH-USDT", "ETHUSDT")];
    let mut v = Bybit::new(&subs, BybitMarket::Spot, 50, BookMode::Snapshots).unwrap();
    let mut feed = SimFeed::new(BybitProtocol::new(Category::Spot), "ETH-USDT");
    let answers = feed.answer(&v.subscribe_frames(&subs));
    parse_all(&mut v, &answers);
    parse_all(&mut v, &feed.frames());
    feed.protocol.reset_sequence();
    let frames = feed.frames();
    let first: Value = serde_json::from_str(&frames[0]).unwrap();
    assert_eq!(
        (&first["type"], &first["data"]["u"]),
        (&json!("delta"), &json!(1))
    );
    let out = parse_all(&mut v, &frames);
    let [Event::Book(reset), Event::Quote(_)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        (reset.action, reset.synced, reset.sequence),
        (BookAction::Snapshot, true, Some(1))
    );
    let out = parse_all(&mut v, &feed.frames());
    assert!(
        matches!(out.first(), Some(Event::Book(d)) if d.action == BookAction::Delta && d.sequence == Some(2)),
        "{out:?}"
    );
    assert!(
        signals(&mut v)
            .iter()
            .all(|s| matches!(s, VenueSignal::Subscribed { .. }))
    );
    let (bids, asks) = feed.shared.with_market("ETH-USDT", |m| m.book());
    let book = v.book("ETHUSDT").unwrap();
    assert_eq!(book.bids().collect::<Vec<_>>(), bids);
    assert_eq!(book.asks().collect::<Vec<_>>(), asks);
}
