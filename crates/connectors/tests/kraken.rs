//! Kraken spot v2 parser tests on the documentation's messages (see `fixtures/kraken/SOURCES.md`),
//! including the documented book checksums.

mod common;

use common::sim_feed::{SimFeed, parse_all, with_marker};
use serde_json::{Value, json};
use tickstream_connectors::venues::kraken::Kraken;
use tickstream_connectors::{BookMode, Channel, RejectReason, Venue, VenueSignal};
use tickstream_model::{AggressorSide, BookAction, Event, FeedState, UnixNanos};
use tickstream_simulator::Protocol;
use tickstream_simulator::kraken::KrakenProtocol;

use common::sim_feed::TS;
use common::venue_frames::{fixture_json, fixture_text, parse, signals, sub};

fn fixture(name: &str) -> Value {
    fixture_json("kraken", name)
}

/// The raw fixture text: the numbers stay exactly as the documentation prints them.
fn text(name: &str) -> String {
    fixture_text("kraken", name)
}

fn venue(mode: BookMode) -> Kraken {
    Kraken::new(&[sub(Channel::Book, "MATIC-USD", "MATIC/USD")], 10, mode).unwrap()
}

/// The simulator's Kraken venue and a parser subscribed to its BTC/USD book at depth 10.
fn simulated() -> (SimFeed<KrakenProtocol>, Kraken, Vec<String>) {
    let subs = [sub(Channel::Book, "BTC-USD", "BTC/USD")];
    let v = Kraken::new(&subs, 10, BookMode::Snapshots).unwrap();
    let feed = SimFeed::new(KrakenProtocol::default(), "BTC-USD");
    let requests = v.subscribe_frames(&subs);
    (feed, v, requests)
}

fn book_frames(frames: Vec<String>) -> Vec<String> {
    with_marker(frames, r#""channel":"book""#)
}

// The books below are the simulator's own `book` frames and checksums (see tests/common/sim_feed.rs).
#[test]
fn simulated_books_are_truncated_to_the_depth_and_pass_every_checksum() {
    let (mut feed, mut v, requests) = simulated();
    let out = parse_all(&mut v, &feed.answer(&requests));
    assert!(
        matches!(out.as_slice(), [Event::Book(b), Event::Quote(_)] if b.synced && b.checksum.is_some()),
        "{out:?}"
    );
    // The market keeps 20 levels a side; Kraken sends no removal for a level pushed below the depth.
    let mut pushed_out = 0;
    for _ in 0..300 {
        let before: Vec<_> = v
            .book("BTC/USD")
            .unwrap()
            .bids()
            .map(|l| l.price())
            .collect();
        let out = parse_all(&mut v, &book_frames(feed.frames()));
        for event in &out {
            match event {
                Event::Book(b) => {
                    assert!(b.synced && b.checksum.is_some(), "{b:?}");
                    let book = v.book("BTC/USD").unwrap();
                    assert_eq!(book.depth(), (10, 10));
                    pushed_out += before
                        .iter()
                        .filter(|p| !book.bids().any(|l| l.price() == **p))
                        .filter(|p| !b.bids.iter().any(|l| l.price() == **p))
                        .count();
                }
                Event::Quote(_) => {}
                other => panic!("{other:?}"),
            }
        }
    }
    assert!(pushed_out > 0, "no level was pushed below the depth");
    assert!(
        signals(&mut v)
            .iter()
            .all(|s| matches!(s, VenueSignal::Subscribed { .. }))
    );
}

#[test]
fn simulated_checksum_mismatch_reports_gap_resubscribes_and_resyncs() {
    let (mut feed, mut v, requests) = simulated();
    parse_all(&mut v, &feed.answer(&requests));
    signals(&mut v);
    feed.protocol.corrupt_checksum();
    let mut out = Vec::new();
    while out.is_empty() {
        out = parse_all(&mut v, &book_frames(feed.frames()));
    }
    let [Event::Status(gap)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(gap.state, FeedState::Gap);
    assert_eq!(gap.symbol.as_ref().unwrap().as_str(), "BTC-USD");
    // Kraken's checksum against ours: the fault adds one to the checksum it sends.
    let (theirs, ours) = (
        gap.expected_sequence.unwrap(),
        gap.received_sequence.unwrap(),
    );
    assert_eq!(
        theirs,
        u64::from(u32::try_from(ours).unwrap().wrapping_add(1))
    );
    let resubscribe = vec![
        r#"{"method":"unsubscribe","params":{"channel":"book","depth":10,"symbol":["BTC/USD"]}}"#
            .to_owned(),
        r#"{"method":"subscribe","params":{"channel":"book","depth":10,"symbol":["BTC/USD"]}}"#
            .to_owned(),
    ];
    assert_eq!(
        signals(&mut v),
        vec![VenueSignal::Send {
            frames: resubscribe.clone(),
            reason: "book checksum mismatch on BTC/USD".into(),
        }]
    );
    // Until the new snapshot, nothing from the broken book is published.
    for _ in 0..5 {
        assert!(parse_all(&mut v, &book_frames(feed.frames())).is_empty());
    }
    let out = parse_all(&mut v, &book_frames(feed.answer(&resubscribe)));
    let [Event::Book(snap), Event::Status(resync), Event::Quote(_)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert!(snap.synced);
    assert_eq!(resync.state, FeedState::Resync);
    let out = parse_all(&mut v, &book_frames(feed.frames()));
    assert!(
        out.iter().all(|e| !matches!(e, Event::Status(_))),
        "{out:?}"
    );
}

#[test]
fn simulated_snapshot_that_fails_its_checksum_is_never_published() {
    let (mut feed, mut v, requests) = simulated();
    feed.protocol.corrupt_checksum();
    let out = parse_all(&mut v, &book_frames(feed.answer(&requests)));
    assert!(
        matches!(out.as_slice(), [Event::Status(s)] if s.state == FeedState::Gap),
        "{out:?}"
    );
    assert!(!v.book("BTC/USD").unwrap().is_synced());
}

#[test]
fn subscription_frames() {
    let subs = [
        sub(Channel::Trades, "BTC-USD", "BTC/USD"),
        sub(Channel::Bbo, "BTC-USD", "BTC/USD"),
        sub(Channel::Book, "BTC-USD", "BTC/USD"),
        sub(Channel::Book, "ETH-USD", "ETH/USD"),
    ];
    let v = Kraken::new(&subs, 25, BookMode::Snapshots).unwrap();
    assert_eq!(
        v.subscribe_frames(&subs),
        vec![
            r#"{"method":"subscribe","params":{"channel":"trade","snapshot":false,"symbol":["BTC/USD"]}}"#,
            r#"{"method":"subscribe","params":{"channel":"ticker","event_trigger":"bbo","symbol":["BTC/USD"]}}"#,
            r#"{"method":"subscribe","params":{"channel":"book","depth":25,"symbol":["BTC/USD","ETH/USD"]}}"#,
        ]
    );
    assert_eq!(v.profile().ping_frame, Some(r#"{"method":"ping"}"#));
    let err = Kraken::new(&subs, 50, BookMode::Snapshots).unwrap_err();
    assert!(err.to_string().starts_with("book_depth:"), "{err}");
}

#[test]
fn trades_keep_ids_sides_and_microsecond_times() {
    let mut v = venue(BookMode::Snapshots);
    let events = parse(&mut v, text("trade-snapshot.json"));
    assert_eq!(events.len(), 2);
    let Event::Trade(first) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(first.symbol.as_str(), "MATIC-USD");
    assert_eq!(first.trade_id, "4665846");
    assert_eq!(first.price.to_string(), "0.5147");
    assert_eq!(first.quantity.to_string(), "6423.46326");
    assert_eq!(first.side, AggressorSide::Buy);
    assert_eq!(first.ts_event, UnixNanos(1_695_628_116_925_533_000));

    let events = parse(&mut v, text("trade-update.json"));
    let [Event::Trade(t)] = events.as_slice() else {
        panic!("{events:?}")
    };
    // "side" is the taker's side.
    assert_eq!(t.side, AggressorSide::Sell);
    assert_eq!(t.quantity.to_string(), "40.0");
    assert_eq!(t.trade_id, "4665906");
}

#[test]
fn bbo_ticker_gives_a_quote() {
    let events = parse(&mut venue(BookMode::Snapshots), text("ticker.json"));
    let [Event::Quote(q)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(q.symbol.as_str(), "ALGO-USD");
    assert_eq!(
        (q.bid_price.to_string(), q.bid_size.to_string()),
        ("0.10025".into(), "740.0".into())
    );
    assert_eq!(q.ask_price.to_string(), "0.10035");
    assert_eq!(
        q.ts_event,
        UnixNanos::parse_rfc3339("2023-09-25T09:04:31.742648Z").unwrap()
    );
}

#[test]
fn documented_snapshot_and_update_pass_the_checksum() {
    let mut v = venue(BookMode::Snapshots);
    let out = parse(&mut v, text("book-snapshot.json"));
    let [Event::Book(snap), Event::Quote(q)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        (snap.action, snap.synced, snap.checksum),
        (BookAction::Snapshot, true, Some(2_439_117_997))
    );
    assert_eq!((snap.bids.len(), snap.asks.len()), (10, 10));
    assert_eq!(
        (q.bid_price.to_string(), q.ask_price.to_string()),
        ("0.5666".into(), "0.5668".into())
    );
    let out = parse(&mut v, text("book-update.json"));
    let [Event::Book(delta)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        (delta.action, delta.synced, delta.checksum),
        (BookAction::Delta, true, Some(2_114_181_697))
    );
    assert_eq!(delta.bids[0].quantity().to_string(), "1098.3947558");
    assert!(signals(&mut v).is_empty());
}

#[test]
fn reconnect_makes_the_next_snapshot_a_resync() {
    let mut v = venue(BookMode::Snapshots);
    parse(&mut v, text("book-snapshot.json"));
    v.reset();
    assert!(parse(&mut v, text("book-update.json")).is_empty());
    let out = parse(&mut v, text("book-snapshot.json"));
    assert!(
        out.iter()
            .any(|e| matches!(e, Event::Status(s) if s.state == FeedState::Resync)),
        "{out:?}"
    );
}

#[test]
fn offline_updates_without_a_snapshot_are_flagged_unsynced() {
    let mut v = venue(BookMode::Unsynced);
    let out = parse(&mut v, text("book-update.json"));
    let [Event::Book(delta)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert!(!delta.synced);
    assert_eq!(delta.checksum, Some(2_114_181_697));
}

/// The bad values below are malformed copies of documented frames: input the venue does not send, made
/// to test that each is rejected with its reason; they are never used as venue messages.
#[test]
fn control_messages_and_bad_values() {
    let mut v = venue(BookMode::Snapshots);
    for name in ["heartbeat.json", "pong.json"] {
        assert!(parse(&mut v, text(name)).is_empty(), "{name}");
    }
    assert!(signals(&mut v).is_empty());
    assert!(parse(&mut v, text("book-subscribe-ack.json")).is_empty());
    assert!(matches!(
        signals(&mut v).as_slice(),
        [VenueSignal::Subscribed { .. }]
    ));
    let reject = |v: &mut Kraken, frame: String| {
        let mut out = Vec::new();
        let reason = v.parse(&frame, TS, &mut out).unwrap_err().reason;
        assert!(out.is_empty());
        reason
    };
    let mut ticker = fixture("ticker.json");
    for (field, bad, reason) in [
        ("bid", json!(0), RejectReason::InvalidPrice),
        ("ask", json!(-0.1), RejectReason::InvalidPrice),
        ("ask", json!("NaN"), RejectReason::InvalidPrice),
        ("bid_qty", json!(-1), RejectReason::InvalidQuantity),
    ] {
        let saved = ticker["data"][0][field].clone();
        ticker["data"][0][field] = bad;
        assert_eq!(reject(&mut v, ticker.to_string()), reason, "{field}");
        ticker["data"][0][field] = saved;
    }
    let mut trade = fixture("trade-update.json");
    trade["data"][0]["qty"] = json!(0.0);
    assert_eq!(
        reject(&mut v, trade.to_string()),
        RejectReason::InvalidQuantity
    );
    trade["data"][0]["qty"] = json!(1);
    trade["data"][0]["timestamp"] = json!("yesterday");
    assert_eq!(
        reject(&mut v, trade.to_string()),
        RejectReason::InvalidTimestamp
    );
    assert_eq!(
        reject(&mut v, r#"{"channel":"ohlc","data":[]}"#.into()),
        RejectReason::UnknownMessage
    );
    // The simulator's refusal of an unknown pair.
    let refusal = SimFeed::new(KrakenProtocol::default(), "BTC-USD").answer(&[
        r#"{"method":"subscribe","params":{"channel":"book","symbol":["NOPE"]}}"#.to_owned(),
    ]);
    assert!(refusal[0].contains(r#""success":false"#), "{refusal:?}");
    assert_eq!(reject(&mut v, refusal[0].clone()), RejectReason::VenueError);
    assert_eq!(
        reject(&mut v, "{\"channel\":".into()),
        RejectReason::ParseError
    );
}
