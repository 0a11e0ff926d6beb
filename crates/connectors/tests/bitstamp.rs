//! Bitstamp v2 parser tests on recorded frames and the documentation's messages (see
//! `fixtures/bitstamp/SOURCES.md`), including the diff book's join to the REST snapshot.

use serde_json::{Value, json};
use tickstream_connectors::bitstamp::Bitstamp;
use tickstream_connectors::{BookMode, Channel, RejectReason, Subscription, Venue, VenueSignal};
use tickstream_model::{AggressorSide, BookAction, Event, FeedState, Symbol, UnixNanos};

const TS: UnixNanos = UnixNanos(1_700_000_000_000_000_000);
const SNAPSHOT_MICROS: i64 = 1_580_336_834_607_546;

fn text(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/bitstamp/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture(name: &str) -> Value {
    serde_json::from_str(&text(name)).unwrap()
}

fn sub(channel: Channel) -> Subscription {
    Subscription {
        channel,
        symbol: Symbol::parse("BTC-USD").unwrap(),
        raw_symbol: "btcusd".into(),
    }
}

fn venue(mode: BookMode) -> Bitstamp {
    Bitstamp::new(&[sub(Channel::Book)], "http://127.0.0.1:9/", mode)
}

fn parse(v: &mut Bitstamp, frame: &str) -> Vec<Event> {
    let mut out = Vec::new();
    v.parse(frame, TS, &mut out).unwrap();
    out
}

fn signals(v: &mut Bitstamp) -> Vec<VenueSignal> {
    let mut s = Vec::new();
    v.drain_signals(&mut s);
    s
}

fn snapshot(v: &mut Bitstamp) -> Vec<Event> {
    let mut out = Vec::new();
    v.apply_snapshot("btcusd", &text("order_book_rest_body.json"), TS, &mut out)
        .unwrap();
    out
}

/// The recorded diff with another `microtimestamp`.
fn diff_at(micros: i64) -> String {
    let mut frame = fixture("diff_order_book.json");
    frame["data"]["microtimestamp"] = json!(micros.to_string());
    frame.to_string()
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
    assert_eq!(
        v.ping_frame().as_deref(),
        Some(r#"{"event":"bts:heartbeat"}"#)
    );
}

#[test]
fn trades_keep_ids_microseconds_and_the_documented_type() {
    let mut v = venue(BookMode::Snapshots);
    let events = parse(&mut v, &text("live_trades.json"));
    let [Event::Trade(t)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(t.symbol.as_str(), "BTC-USD");
    assert_eq!(&*t.raw_symbol, "btcusd");
    assert_eq!(t.trade_id, "104007706");
    assert_eq!(
        (t.price.to_string(), t.quantity.to_string()),
        ("9334.73".into(), "0.00598803".into())
    );
    // type 1 is a sell.
    assert_eq!(t.side, AggressorSide::Sell);
    assert_eq!(t.ts_event, UnixNanos(1_580_336_751_488_517_000));
    let mut buy = fixture("live_trades.json");
    buy["data"]["type"] = json!(0);
    let events = parse(&mut v, &buy.to_string());
    assert!(matches!(events.as_slice(), [Event::Trade(t)] if t.side == AggressorSide::Buy));
}

#[test]
fn order_book_channel_gives_the_top_of_book() {
    let events = parse(&mut venue(BookMode::Snapshots), &text("order_book.json"));
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
    assert!(parse(&mut v, &diff_at(SNAPSHOT_MICROS - 1)).is_empty());
    assert_eq!(
        signals(&mut v),
        vec![VenueSignal::FetchSnapshot {
            raw_symbol: "btcusd".into(),
            url: "http://127.0.0.1:9/api/v2/order_book/btcusd/".into(),
        }]
    );
    assert!(parse(&mut v, &text("diff_order_book.json")).is_empty());
    assert!(signals(&mut v).is_empty());

    let out = snapshot(&mut v);
    // The snapshot, its BBO, then only the diff recorded after it.
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

    // Once synced, a diff older than the book is dropped and a newer one applied.
    assert!(parse(&mut v, &diff_at(SNAPSHOT_MICROS)).is_empty());
    let out = parse(&mut v, &diff_at(1_580_336_904_228_759));
    assert!(
        matches!(out.as_slice(), [Event::Book(d)] if d.synced),
        "{out:?}"
    );
}

#[test]
fn a_reconnect_request_rebuilds_the_book_and_reports_resync() {
    let mut v = venue(BookMode::Snapshots);
    parse(&mut v, &text("diff_order_book.json"));
    snapshot(&mut v);
    signals(&mut v);
    assert!(parse(&mut v, &text("request_reconnect.json")).is_empty());
    assert_eq!(
        signals(&mut v),
        vec![VenueSignal::Reconnect {
            reason: "bts:request_reconnect".into()
        }]
    );
    // The runner resets the venue before the new connection: the book waits for a new snapshot.
    v.reset();
    assert!(parse(&mut v, &diff_at(1_580_336_904_300_000)).is_empty());
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
    let out = parse(&mut v, &text("diff_order_book.json"));
    let [Event::Book(d)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert!(!d.synced);
    assert_eq!((d.bids.len(), d.asks.len()), (3, 6));
    assert!(signals(&mut v).is_empty());
}

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
