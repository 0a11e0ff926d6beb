//! Bitstamp v2 parser tests on recorded frames and the documentation's messages (see
//! `fixtures/bitstamp/SOURCES.md`), including the diff book's join to the REST snapshot.

mod common;

use common::sim_feed::{SimFeed, TS, parse_all, simulated_trades, with_marker};
use common::venue_frames::{
    self, fixture_json, fixture_text, only_trade, parse, signals, trade_fields,
};
use serde_json::{Value, json};
use tickstream_connectors::venues::bitstamp::Bitstamp;
use tickstream_connectors::{BookMode, Channel, RejectReason, Subscription, Venue, VenueSignal};
use tickstream_model::{AggressorSide, BookAction, Event, FeedState, UnixNanos};
use tickstream_simulator::bitstamp::{BitstampProtocol, order_book_body};

const SNAPSHOT_MICROS: i64 = 1_580_336_834_607_546;

fn text(name: &str) -> String {
    fixture_text("bitstamp", name)
}

fn fixture(name: &str) -> Value {
    fixture_json("bitstamp", name)
}

fn sub(channel: Channel) -> Subscription {
    venue_frames::sub(channel, "BTC-USD", "btcusd")
}

fn venue(mode: BookMode) -> Bitstamp {
    Bitstamp::new(&[sub(Channel::Book)], "http://127.0.0.1:9/", mode)
}

fn snapshot(v: &mut Bitstamp) -> Vec<Event> {
    let mut out = Vec::new();
    v.apply_snapshot("btcusd", &text("order_book_rest_body.json"), TS, &mut out)
        .unwrap();
    out
}

#[test]
fn subscription_frames() {
    let subs = [sub(Channel::Trades), sub(Channel::Bbo), sub(Channel::Book)];
    let v = Bitstamp::new(&subs, "https://www.bitstamp.net", BookMode::Snapshots);
    assert_eq!(
        v.subscribe_frames(&subs),
        vec![
            r#"{"data":{"channel":"live_trades_btcusd"},"event":"bts:subscribe"}"#,
            r#"{"data":{"channel":"order_book_btcusd"},"event":"bts:subscribe"}"#,
            r#"{"data":{"channel":"diff_order_book_btcusd"},"event":"bts:subscribe"}"#,
        ]
    );
    assert_eq!(v.profile().ping_frame, Some(r#"{"event":"bts:heartbeat"}"#));
}

#[test]
fn trades_keep_ids_microseconds_and_the_documented_type() {
    let mut v = venue(BookMode::Snapshots);
    let events = parse(&mut v, text("live_trades.json"));
    // type 1 is a sell.
    let t = only_trade(&events);
    assert_eq!(
        trade_fields(t),
        (
            "BTC-USD",
            "104007706",
            "9334.73".into(),
            "0.00598803".into(),
            AggressorSide::Sell,
            UnixNanos(1_580_336_751_488_517_000)
        )
    );
    assert_eq!(&*t.raw_symbol, "btcusd");
}

#[test]
fn order_book_channel_gives_the_top_of_book() {
    let events = parse(&mut venue(BookMode::Snapshots), text("order_book.json"));
    let [Event::Quote(q)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(
        (q.bid_price.to_string(), q.bid_size.to_string()),
        ("9328.28".into(), "0.05925332".into())
    );
    assert_eq!(
        (q.ask_price.to_string(), q.ask_size.to_string()),
        ("9337.10".into(), "0.03000000".into())
    );
    assert_eq!(q.ts_event, UnixNanos(SNAPSHOT_MICROS * 1_000));
}

#[test]
fn diffs_join_the_rest_snapshot_by_microtimestamp() {
    let mut v = venue(BookMode::Snapshots);
    // Before any snapshot: buffered, and one snapshot is requested.
    assert!(parse(&mut v, text("diff_order_book.json")).is_empty());
    assert_eq!(
        signals(&mut v),
        vec![VenueSignal::FetchSnapshot {
            raw_symbol: "btcusd".into(),
            url: "http://127.0.0.1:9/api/v2/order_book/btcusd/".into(),
        }]
    );
    assert!(parse(&mut v, text("diff_order_book.json")).is_empty());
    assert!(signals(&mut v).is_empty(), "one snapshot request at a time");

    let out = snapshot(&mut v);
    // The snapshot, its BBO, then the diff recorded after it (once: the repeated copy is not later).
    let [Event::Book(snap), Event::Quote(q), Event::Book(delta)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!((snap.action, snap.synced), (BookAction::Snapshot, true));
    assert_eq!((snap.bids.len(), snap.asks.len()), (100, 100));
    assert_eq!(q.ask_price.to_string(), "9337.10");
    assert_eq!((delta.action, delta.synced), (BookAction::Delta, true));
    assert_eq!(delta.ts_event, UnixNanos(1_580_336_904_228_758_000));
    // The diff adds two bids and three asks; its removals name levels the snapshot does not hold.
    let book = v.book("btcusd").unwrap();
    assert_eq!(book.depth(), (102, 103));
    // Once synced, a diff no later than the book is dropped.
    assert!(parse(&mut v, text("diff_order_book.json")).is_empty());
    assert_eq!(v.book("btcusd").unwrap().depth(), (102, 103));
}

/// The simulator's Bitstamp venue and a parser subscribed to its BTC-USD diffs and trades.
fn simulated() -> (SimFeed<BitstampProtocol>, Bitstamp) {
    let subs = [sub(Channel::Book), sub(Channel::Trades)];
    let mut v = Bitstamp::new(&subs, "http://127.0.0.1:9/", BookMode::Snapshots);
    let mut feed = SimFeed::new(BitstampProtocol::default(), "BTC-USD");
    let acks = feed.answer(&v.subscribe_frames(&subs));
    assert!(parse_all(&mut v, &acks).is_empty());
    signals(&mut v);
    (feed, v)
}

fn diff_frames(frames: Vec<String>) -> Vec<String> {
    with_marker(frames, "diff_order_book_")
}

// The diffs and snapshots below are the simulator's own frames (see tests/common/sim_feed.rs).
#[test]
fn simulated_diffs_before_the_snapshot_are_dropped_and_later_ones_applied() {
    let (mut feed, mut v) = simulated();
    let (s1, frames1) = feed.step(false);
    let frames1 = diff_frames(frames1);
    assert!(parse_all(&mut v, &frames1).is_empty());
    assert!(matches!(
        signals(&mut v).as_slice(),
        [VenueSignal::FetchSnapshot { .. }]
    ));
    // The snapshot is taken between s1 and s2 and arrives after s2: s1 is dropped, s2 applied.
    let body = order_book_body(&feed.shared, "BTC-USD", s1.time_ms * 1000 + 1);
    let (s2, frames2) = feed.step(false);
    assert!(parse_all(&mut v, &diff_frames(frames2)).is_empty());
    let mut out = Vec::new();
    v.apply_snapshot("btcusd", &body, TS, &mut out).unwrap();
    let books: Vec<_> = out
        .iter()
        .filter_map(|e| match e {
            Event::Book(b) => Some((b.action, b.synced, b.ts_event)),
            Event::Status(s) => panic!("{s:?}"),
            _ => None,
        })
        .collect();
    assert_eq!(
        books,
        [
            (
                BookAction::Snapshot,
                true,
                UnixNanos((s1.time_ms * 1000 + 1) * 1000)
            ),
            (BookAction::Delta, true, UnixNanos(s2.time_ms * 1_000_000)),
        ]
    );
    // A diff older than the book, seen again, is dropped; the next one applies.
    assert!(parse_all(&mut v, &frames1).is_empty());
    let out = parse_all(&mut v, &diff_frames(feed.frames()));
    assert!(
        matches!(out.as_slice(), [Event::Book(d), ..] if d.synced),
        "{out:?}"
    );
    let (bids, asks) = feed.shared.with_market("BTC-USD", |m| m.book());
    let book = v.book("btcusd").unwrap();
    assert_eq!(book.bids().collect::<Vec<_>>(), bids);
    assert_eq!(book.asks().collect::<Vec<_>>(), asks);
}

#[test]
fn simulated_trade_types_are_the_taker_side() {
    let (mut feed, mut v) = simulated();
    for (_, frame, t) in simulated_trades(&mut feed, &mut v, "live_trades_", 20) {
        // Bitstamp's documented `type`: 0 buy, 1 sell.
        let kind = if t.side == AggressorSide::Buy {
            "\"type\":0"
        } else {
            "\"type\":1"
        };
        assert!(frame.contains(kind), "{frame}");
    }
}

#[test]
fn a_reconnect_request_rebuilds_the_book_and_reports_resync() {
    let mut v = venue(BookMode::Snapshots);
    parse(&mut v, text("diff_order_book.json"));
    snapshot(&mut v);
    signals(&mut v);
    assert!(parse(&mut v, text("request_reconnect.json")).is_empty());
    assert_eq!(
        signals(&mut v),
        vec![VenueSignal::Reconnect {
            reason: "bts:request_reconnect".into()
        }]
    );
    // The runner resets the venue before the new connection: the book waits for a new snapshot.
    v.reset();
    assert!(parse(&mut v, text("diff_order_book.json")).is_empty());
    assert!(matches!(
        signals(&mut v).as_slice(),
        [VenueSignal::FetchSnapshot { .. }]
    ));
    let out = snapshot(&mut v);
    let [
        Event::Book(snap),
        Event::Status(resync),
        Event::Quote(_),
        Event::Book(_),
    ] = out.as_slice()
    else {
        panic!("{out:?}")
    };
    assert!(snap.synced);
    assert_eq!(resync.state, FeedState::Resync);
    assert_eq!(resync.symbol.as_ref().unwrap().as_str(), "BTC-USD");
}

#[test]
fn offline_diffs_are_flagged_unsynced() {
    let mut v = venue(BookMode::Unsynced);
    let out = parse(&mut v, text("diff_order_book.json"));
    let [Event::Book(d)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert!(!d.synced);
    assert_eq!((d.bids.len(), d.asks.len()), (3, 6));
    assert!(signals(&mut v).is_empty());
}

/// The bad values below are malformed copies of documented frames: input the venue does not send, made
/// to test that each is rejected with its reason; they are never used as venue messages.
#[test]
fn bad_values_are_rejected() {
    let mut v = venue(BookMode::Snapshots);
    let reject = |v: &mut Bitstamp, frame: String| {
        let mut out = Vec::new();
        let reason = v.parse(&frame, TS, &mut out).unwrap_err().reason;
        assert!(out.is_empty());
        reason
    };
    let mut trade = fixture("live_trades.json");
    for (field, bad, reason) in [
        ("price_str", json!("0.00"), RejectReason::InvalidPrice),
        ("price_str", json!("NaN"), RejectReason::InvalidPrice),
        ("amount_str", json!("-0.1"), RejectReason::InvalidQuantity),
        (
            "microtimestamp",
            json!("1580336751.488517"),
            RejectReason::InvalidTimestamp,
        ),
        ("type", json!(7), RejectReason::ParseError),
    ] {
        let saved = trade["data"][field].clone();
        trade["data"][field] = bad;
        assert_eq!(reject(&mut v, trade.to_string()), reason, "{field}");
        trade["data"][field] = saved;
    }
    trade["channel"] = json!("live_trades_notapair");
    assert_eq!(
        reject(&mut v, trade.to_string()),
        RejectReason::InvalidSymbol
    );
    let mut diff = fixture("diff_order_book.json");
    diff["data"]["bids"][0][0] = json!("-9317.09");
    assert_eq!(reject(&mut v, diff.to_string()), RejectReason::InvalidPrice);
    assert_eq!(
        reject(
            &mut v,
            r#"{"event":"order_created","channel":"live_orders_btcusd","data":{}}"#.into()
        ),
        RejectReason::UnknownMessage
    );
    let mut out = Vec::new();
    let err = v.apply_snapshot(
        "btcusd",
        r#"{"timestamp":"1580336834","bids":[],"asks":[]}"#,
        TS,
        &mut out,
    );
    assert_eq!(err.unwrap_err().reason, RejectReason::ParseError);
}
