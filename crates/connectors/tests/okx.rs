//! OKX v5 public parser tests on the documentation's messages (see `fixtures/okx/SOURCES.md`).

mod common;

use common::sim_feed::{SimFeed, parse_all, simulated_trades, with_marker};
use serde_json::{Value, json};
use tickstream_connectors::venues::okx::Okx;
use tickstream_connectors::{BookMode, Channel, RejectReason, Venue, VenueSignal};
use tickstream_model::{AggressorSide, BookAction, Event, FeedState, UnixNanos};
use tickstream_simulator::Protocol;
use tickstream_simulator::okx::OkxProtocol;

use common::sim_feed::TS;
use common::venue_frames::{fixture_json, only_trade, parse, signals, sub, trade_fields};

fn fixture(name: &str) -> Value {
    fixture_json("okx", name)
}

fn venue(mode: BookMode) -> Okx {
    Okx::new(&[sub(Channel::Book, "BTC-USDT", "BTC-USDT")], mode)
}

/// The simulator's OKX venue for `canonical` and a parser subscribed to its books and trades there.
fn simulated(canonical: &str, inst: &str) -> (SimFeed<OkxProtocol>, Okx) {
    let subs = [
        sub(Channel::Book, canonical, inst),
        sub(Channel::Trades, canonical, inst),
    ];
    let mut v = Okx::new(&subs, BookMode::Snapshots);
    let mut feed = SimFeed::new(OkxProtocol::default(), canonical);
    let answers = feed.answer(&v.subscribe_frames(&subs));
    let out = parse_all(&mut v, &answers);
    assert!(
        matches!(out.as_slice(), [Event::Book(b), Event::Quote(_)] if b.synced),
        "{out:?}"
    );
    signals(&mut v);
    (feed, v)
}

fn book_frames(frames: Vec<String>) -> Vec<String> {
    with_marker(frames, r#""channel":"books""#)
}

#[test]
fn subscription_frames() {
    let subs = [
        sub(Channel::Trades, "BTC-USDT", "BTC-USDT"),
        sub(Channel::Bbo, "BTC-USDT-PERP", "BTC-USDT-SWAP"),
        sub(Channel::Book, "BTC-USD-20250328", "BTC-USD-250328"),
    ];
    let v = Okx::new(&subs, BookMode::Snapshots);
    assert_eq!(
        v.subscribe_frames(&subs),
        vec![
            r#"{"args":[{"channel":"trades","instId":"BTC-USDT"},{"channel":"bbo-tbt","instId":"BTC-USDT-SWAP"},{"channel":"books","instId":"BTC-USD-250328"}],"op":"subscribe"}"#
        ]
    );
    // The documented request carries the same `op` and `args` (plus an optional id).
    let documented = fixture("subscribe-request.json");
    let ours: Value =
        serde_json::from_str(&v.subscribe_frames(&[sub(Channel::Book, "BTC-USDT", "BTC-USDT")])[0])
            .unwrap();
    assert_eq!(ours["op"], documented["op"]);
    assert_eq!(ours["args"], documented["args"]);
    assert_eq!(v.profile().ping_frame, Some("ping"));
}

#[test]
fn trades_keep_ids_taker_side_and_kind() {
    let mut v = venue(BookMode::Snapshots);
    let events = parse(&mut v, fixture("trades.json"));
    assert_eq!(
        trade_fields(only_trade(&events)),
        (
            "BTC-USDT",
            "130639474",
            "42219.9".into(),
            "0.12060306".into(),
            AggressorSide::Buy,
            UnixNanos(1_630_048_897_897_000_000)
        )
    );
}

#[test]
fn bbo_tbt_of_a_swap_is_a_perpetual_quote() {
    let events = parse(&mut venue(BookMode::Snapshots), fixture("bbo-tbt.json"));
    let [Event::Quote(q)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(q.symbol.as_str(), "BCH-USDT-PERP");
    assert_eq!(&*q.raw_symbol, "BCH-USDT-SWAP");
    assert_eq!(
        (q.bid_price.to_string(), q.bid_size.to_string()),
        ("111.05".into(), "57745".into())
    );
    assert_eq!(q.ask_price.to_string(), "111.06");
    assert_eq!(q.ts_event, UnixNanos(1_670_324_386_802_000_000));
}

#[test]
fn books_snapshot_then_updates_in_sequence() {
    let mut v = venue(BookMode::Snapshots);
    let out = parse(&mut v, fixture("books-snapshot.json"));
    let [Event::Book(snap), Event::Quote(q)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        (snap.action, snap.synced, snap.sequence),
        (BookAction::Snapshot, true, Some(123_456))
    );
    assert_eq!((snap.bids.len(), snap.asks.len()), (8, 8));
    assert_eq!(
        (q.bid_price.to_string(), q.ask_price.to_string()),
        ("8476.97".into(), "8476.98".into())
    );
    // The documented update follows the snapshot; its checksum of 0 is not a failure.
    let out = parse(&mut v, fixture("books-update.json"));
    let [Event::Book(delta)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        (delta.synced, delta.sequence, delta.prev_sequence),
        (true, Some(123_457), Some(123_456))
    );
    assert!(signals(&mut v).is_empty());
}

// The chains below are the simulator's own `books` frames (see tests/common/sim_feed.rs).
#[test]
fn simulated_keep_alive_and_sequence_reset_are_continuous() {
    let (mut feed, mut v) = simulated("BTC-USDT", "BTC-USDT");
    let (step, frames) = feed.step(false);
    parse_all(&mut v, &frames);
    // No update for a second: OKX's keep-alive (no levels, prevSeqId = seqId) changes nothing.
    feed.second();
    let keep_alive = feed.second();
    assert!(
        keep_alive[0].contains(r#""asks":[],"bids":[]"#),
        "{keep_alive:?}"
    );
    let out = parse_all(&mut v, &keep_alive);
    assert!(out.is_empty(), "{keep_alive:?} {out:?}");
    // The venue restarts its sequence: seqId below prevSeqId, and the book goes on from it.
    feed.protocol.reset_sequence();
    let (reset_step, frames) = feed.step(false);
    let out = parse_all(&mut v, &book_frames(frames));
    let [Event::Book(d), ..] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        (d.prev_sequence, d.sequence),
        (Some(step.last_update_id), Some(1))
    );
    let (next, frames) = feed.step(false);
    let out = parse_all(&mut v, &book_frames(frames));
    let [Event::Book(d), ..] = out.as_slice() else {
        panic!("{out:?}")
    };
    let seq = 1 + next.last_update_id - reset_step.last_update_id;
    assert_eq!(
        (d.synced, d.prev_sequence, d.sequence),
        (true, Some(1), Some(seq))
    );
    assert!(signals(&mut v).is_empty());
    let (bids, asks) = feed.shared.with_market("BTC-USDT", |m| m.book());
    let book = v.book("BTC-USDT").unwrap();
    assert_eq!(book.bids().collect::<Vec<_>>(), bids);
    assert_eq!(book.asks().collect::<Vec<_>>(), asks);
}

#[test]
fn simulated_skipped_sequence_reports_gap_resubscribes_and_resyncs() {
    let (mut feed, mut v) = simulated("BTC-USDT", "BTC-USDT");
    let (before, frames) = feed.step(false);
    parse_all(&mut v, &frames);
    feed.step(true);
    let (after, frames) = feed.step(false);
    let out = parse_all(&mut v, &book_frames(frames));
    let [Event::Status(gap)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(gap.state, FeedState::Gap);
    assert_eq!(gap.symbol.as_ref().unwrap().as_str(), "BTC-USDT");
    // The book is at the last seqId it applied; the update claims to follow a later one.
    assert_eq!(
        (gap.expected_sequence, gap.received_sequence),
        (Some(before.last_update_id), Some(after.first_update_id - 1))
    );
    let resubscribe = vec![
        r#"{"args":[{"channel":"books","instId":"BTC-USDT"}],"op":"unsubscribe"}"#.to_owned(),
        r#"{"args":[{"channel":"books","instId":"BTC-USDT"}],"op":"subscribe"}"#.to_owned(),
    ];
    assert_eq!(
        signals(&mut v),
        vec![VenueSignal::Send {
            frames: resubscribe.clone(),
            reason: "books sequence break on BTC-USDT".into(),
        }]
    );
    // Until the new snapshot, nothing from the broken book is published.
    assert!(parse_all(&mut v, &book_frames(feed.frames())).is_empty());
    let answers = feed.answer(&resubscribe);
    let out = parse_all(&mut v, &answers);
    let [Event::Book(snap), Event::Status(resync), Event::Quote(_)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert!(snap.synced);
    assert_eq!(resync.state, FeedState::Resync);
    let at = feed.shared.with_market("BTC-USDT", |m| m.update_id());
    assert_eq!(resync.received_sequence, Some(at));
    let out = parse_all(&mut v, &book_frames(feed.frames()));
    assert!(
        matches!(out.as_slice(), [Event::Book(d), ..] if d.synced),
        "{out:?}"
    );
}

#[test]
fn simulated_trades_of_a_dated_future_keep_the_expiry_and_the_taker_side() {
    let (mut feed, mut v) = simulated("BTC-USD-20250328", "BTC-USD-250328");
    for (step, _, t) in simulated_trades(&mut feed, &mut v, r#""channel":"trades""#, 20) {
        assert_eq!(
            (t.symbol.as_str(), &*t.raw_symbol),
            ("BTC-USD-20250328", "BTC-USD-250328")
        );
        assert_eq!(t.ts_event, UnixNanos(step.time_ms * 1_000_000));
    }
}

#[test]
fn offline_updates_without_a_snapshot_are_flagged_unsynced() {
    let mut v = venue(BookMode::Unsynced);
    let out = parse(&mut v, fixture("books-update.json"));
    let [Event::Book(delta)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert!(!delta.synced);
    assert!(
        parse(
            &mut venue(BookMode::Snapshots),
            fixture("books-update.json")
        )
        .is_empty()
    );
}

/// The bad values below are malformed copies of documented frames: input the venue does not send, made
/// to test that each is rejected with its reason; they are never used as venue messages.
#[test]
fn control_messages_and_bad_values() {
    let mut v = venue(BookMode::Snapshots);
    let mut out = Vec::new();
    v.parse("pong", TS, &mut out).unwrap();
    assert!(out.is_empty());
    assert!(parse(&mut v, fixture("subscribe-response.json")).is_empty());
    assert!(matches!(
        signals(&mut v).as_slice(),
        [VenueSignal::Subscribed { .. }]
    ));
    // The service upgrade notice: reconnect before OKX closes the connection.
    assert!(parse(&mut v, fixture("notice.json")).is_empty());
    assert_eq!(
        signals(&mut v),
        vec![VenueSignal::Reconnect {
            reason: "notice 64008: The connection will soon be closed for a service upgrade. Please reconnect.".into()
        }]
    );
    let reject = |v: &mut Okx, frame: Value| {
        let mut out = Vec::new();
        let reason = v
            .parse(&frame.to_string(), TS, &mut out)
            .unwrap_err()
            .reason;
        assert!(out.is_empty());
        reason
    };
    assert_eq!(
        reject(&mut v, fixture("error-response.json")),
        RejectReason::VenueError
    );
    let mut trade = fixture("trades.json");
    for (field, bad, reason) in [
        ("px", json!("0"), RejectReason::InvalidPrice),
        ("px", json!("-42219.9"), RejectReason::InvalidPrice),
        ("px", json!("NaN"), RejectReason::InvalidPrice),
        ("sz", json!("0"), RejectReason::InvalidQuantity),
        (
            "ts",
            json!("1630048897.897"),
            RejectReason::InvalidTimestamp,
        ),
        (
            "instId",
            json!("BTC-USD-250328-50000-C"),
            RejectReason::InvalidSymbol,
        ),
    ] {
        let saved = trade["data"][0][field].clone();
        trade["data"][0][field] = bad;
        assert_eq!(reject(&mut v, trade.clone()), reason, "{field}");
        trade["data"][0][field] = saved;
    }
    let mut books = fixture("books-snapshot.json");
    books["data"][0]["bids"][0][0] = json!("0");
    assert_eq!(reject(&mut v, books), RejectReason::InvalidPrice);
    assert_eq!(
        reject(
            &mut v,
            json!({"arg": {"channel": "candle1m", "instId": "BTC-USDT"}, "data": []})
        ),
        RejectReason::UnknownMessage
    );
}
