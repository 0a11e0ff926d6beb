//! Binance spot parser tests on the documentation's frames (see `fixtures/binance/SOURCES.md`).

mod common;

use common::sim_feed::{SimFeed, simulated_trades, with_marker};
use tickstream_connectors::venues::binance::Binance;
use tickstream_connectors::{BookMode, Channel, RejectReason, Venue, VenueSignal};
use tickstream_model::{AggressorSide, BookAction, Event, FeedState, UnixNanos};
use tickstream_simulator::binance::BinanceProtocol;

use common::sim_feed::TS;
use common::venue_frames::{fixture_text, parse, signals, sub};

fn fixture(name: &str) -> String {
    fixture_text("binance", name)
}

/// A deliberately malformed copy of a documented frame (a bad price, symbol or type): input the venue
/// does not send, to test that it is rejected with the right reason. Never used as a venue message.
fn malformed(name: &str, edits: &[(&str, serde_json::Value)]) -> String {
    let mut value: serde_json::Value = serde_json::from_str(&fixture(name)).unwrap();
    for (key, new) in edits {
        value[*key] = new.clone();
    }
    value.to_string()
}

fn venue(mode: BookMode) -> Binance {
    Binance::new(
        &[sub(Channel::Book, "BNB-BTC", "BNBBTC")],
        "http://127.0.0.1:9",
        mode,
    )
}

#[test]
fn trade_stream() {
    let events = parse(&mut venue(BookMode::Snapshots), fixture("trade.json"));
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
fn agg_trade_stream() {
    let events = parse(&mut venue(BookMode::Snapshots), fixture("aggTrade.json"));
    let [Event::Trade(t)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(t.trade_id, "12345");
    // "m": true, the buyer is the maker: the seller took liquidity.
    assert_eq!(t.side, AggressorSide::Sell);
    assert_eq!(t.quantity.to_string(), "100");
}

#[test]
fn book_ticker_keeps_the_venue_digits() {
    let events = parse(&mut venue(BookMode::Snapshots), fixture("bookTicker.json"));
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

#[test]
fn depth_without_snapshots_is_emitted_unsynced() {
    let events = parse(&mut venue(BookMode::Unsynced), fixture("depthUpdate.json"));
    let [Event::Book(b)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(b.action, BookAction::Delta);
    assert!(!b.synced);
    assert_eq!((b.first_sequence, b.sequence), (Some(157), Some(160)));
    assert_eq!(b.bids[0].price().to_string(), "0.0024");
    assert_eq!(b.asks[0].quantity().to_string(), "100");
}

/// The simulator's Binance venue for BTC-USDT and a parser subscribed to its depth and aggTrade streams.
fn simulated(mode: BookMode) -> (SimFeed<BinanceProtocol>, Binance) {
    let subs = [
        sub(Channel::Book, "BTC-USDT", "BTCUSDT"),
        sub(Channel::AggTrades, "BTC-USDT", "BTCUSDT"),
    ];
    let v = Binance::new(&subs, "http://127.0.0.1:9", mode);
    let mut feed = SimFeed::new(BinanceProtocol::default(), "BTC-USDT");
    let acks = feed.answer(&v.subscribe_frames(&subs));
    assert_eq!(acks, [r#"{"id":1,"result":null}"#]);
    (feed, v)
}

/// The simulator's REST depth snapshot at this moment of its market.
fn rest_snapshot(feed: &SimFeed<BinanceProtocol>) -> String {
    tickstream_simulator::binance::rest_response(
        "/api/v3/depth?symbol=BTCUSDT&limit=1000",
        &feed.shared,
    )
    .unwrap()
}

fn depth_frames(frames: Vec<String>) -> Vec<String> {
    with_marker(frames, "@depth")
}

fn snapshot_into(v: &mut Binance, body: &str) -> Vec<Event> {
    let mut out = Vec::new();
    v.apply_snapshot("BTCUSDT", body, TS, &mut out).unwrap();
    out
}

fn books_and_states(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Status(s) => Some(format!("{:?}", s.state)),
            Event::Book(b) => Some(format!("{:?}:{}", b.action, b.sequence.unwrap())),
            _ => None,
        })
        .collect()
}

// The U/u chains below are the simulator's own depth frames (see tests/common/sim_feed.rs).
#[test]
fn simulated_depth_joins_the_rest_snapshot_and_resyncs_after_a_gap() {
    let (mut feed, mut v) = simulated(BookMode::Snapshots);
    // Buffered until the snapshot arrives; nothing is published as whole.
    let (s1, frames1) = feed.step(false);
    let frames1 = depth_frames(frames1);
    assert!(parse(&mut v, &frames1[0]).is_empty());
    assert_eq!(
        signals(&mut v),
        vec![VenueSignal::FetchSnapshot {
            raw_symbol: "BTCUSDT".into(),
            url: "http://127.0.0.1:9/api/v3/depth?symbol=BTCUSDT&limit=1000".into()
        }]
    );
    // The snapshot is taken at s1 but arrives after s2: s1 is older than it and dropped; s2, whose
    // U is the snapshot's lastUpdateId + 1, applies.
    let at_s1 = rest_snapshot(&feed);
    let (s2, frames2) = feed.step(false);
    assert!(parse(&mut v, &depth_frames(frames2)[0]).is_empty());
    assert!(signals(&mut v).is_empty(), "one snapshot request at a time");
    let out = snapshot_into(&mut v, &at_s1);
    assert_eq!(
        books_and_states(&out),
        [
            format!("Snapshot:{}", s1.last_update_id),
            format!("Delta:{}", s2.last_update_id)
        ]
    );
    assert!(
        out.iter()
            .all(|e| !matches!(e, Event::Book(b) if !b.synced))
    );

    // A frame seen again (older than the book) is ignored; the next in sequence applies and its BBO is
    // the market's.
    assert!(parse(&mut v, &frames1[0]).is_empty());
    let (s3, frames3) = feed.step(false);
    let out = parse(&mut v, &depth_frames(frames3)[0]);
    let [Event::Book(delta), Event::Quote(q)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        (delta.synced, delta.first_sequence, delta.sequence),
        (true, Some(s3.first_update_id), Some(s3.last_update_id))
    );
    assert_eq!(
        (q.bid_price, q.ask_price),
        (s3.best_bid.price(), s3.best_ask.price())
    );
    let at_s3 = rest_snapshot(&feed);

    // A left-out update: the next one does not follow; gap, snapshot again, then resync.
    let (s4, _) = feed.step(true);
    let (s5, frames5) = feed.step(false);
    let out = parse(&mut v, &depth_frames(frames5)[0]);
    let [Event::Status(gap)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(gap.state, FeedState::Gap);
    assert_eq!(
        (gap.expected_sequence, gap.received_sequence),
        (Some(s4.first_update_id), Some(s5.first_update_id))
    );
    assert_eq!(gap.symbol.as_ref().unwrap().as_str(), "BTC-USDT");
    assert!(matches!(
        signals(&mut v).as_slice(),
        [VenueSignal::FetchSnapshot { .. }]
    ));

    // A snapshot older than the buffered update is fetched again.
    assert!(snapshot_into(&mut v, &at_s3).is_empty());
    assert!(matches!(
        signals(&mut v).as_slice(),
        [VenueSignal::FetchSnapshot { .. }]
    ));
    let fresh = rest_snapshot(&feed);
    let (s6, frames6) = feed.step(false);
    assert!(parse(&mut v, &depth_frames(frames6)[0]).is_empty());
    let out = snapshot_into(&mut v, &fresh);
    assert_eq!(
        books_and_states(&out),
        [
            format!("Snapshot:{}", s5.last_update_id),
            "Resync".to_owned(),
            format!("Delta:{}", s6.last_update_id)
        ]
    );
    // The rebuilt book is the market's.
    let book = v.book("BTCUSDT").unwrap().book();
    let (bids, asks) = feed.shared.with_market("BTC-USDT", |m| m.book());
    assert_eq!(book.bids().collect::<Vec<_>>(), bids);
    assert_eq!(book.asks().collect::<Vec<_>>(), asks);
}

#[test]
fn simulated_reconnect_reset_makes_the_next_snapshot_a_resync() {
    let (mut feed, mut v) = simulated(BookMode::Snapshots);
    parse(&mut v, &depth_frames(feed.frames())[0]);
    let out = snapshot_into(&mut v, &rest_snapshot(&feed));
    assert!(matches!(&out[0], Event::Book(b) if b.synced));
    signals(&mut v);
    v.reset();
    assert!(parse(&mut v, &depth_frames(feed.frames())[0]).is_empty());
    assert_eq!(signals(&mut v).len(), 1);
    let out = snapshot_into(&mut v, &rest_snapshot(&feed));
    assert!(
        out.iter()
            .any(|e| matches!(e, Event::Status(s) if s.state == FeedState::Resync))
    );
}

#[test]
fn simulated_agg_trades_in_the_combined_wrapper_keep_the_taker_side() {
    let (mut feed, mut v) = simulated(BookMode::Snapshots);
    for (_, frame, _) in simulated_trades(&mut feed, &mut v, "@aggTrade", 20) {
        assert!(
            frame.starts_with(r#"{"stream":"btcusdt@aggTrade","data":{"#),
            "{frame}"
        );
    }
}

#[test]
fn server_shutdown_asks_for_a_reconnect() {
    let mut v = venue(BookMode::Snapshots);
    assert!(parse(&mut v, fixture("serverShutdown.json")).is_empty());
    assert!(matches!(
        signals(&mut v).as_slice(),
        [VenueSignal::Reconnect { .. }]
    ));
}

#[test]
fn responses_acknowledge_or_reject() {
    let mut v = venue(BookMode::Snapshots);
    assert!(parse(&mut v, fixture("subscribe-response.json")).is_empty());
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
            malformed("trade.json", &[("p", "0".into())]),
            RejectReason::InvalidPrice,
        ),
        (
            malformed("trade.json", &[("p", "-0.001".into())]),
            RejectReason::InvalidPrice,
        ),
        (
            malformed("trade.json", &[("p", "NaN".into())]),
            RejectReason::InvalidPrice,
        ),
        (
            malformed("trade.json", &[("q", "0".into())]),
            RejectReason::InvalidQuantity,
        ),
        (
            malformed("bookTicker.json", &[("b", "NaN".into())]),
            RejectReason::InvalidPrice,
        ),
        (
            malformed("trade.json", &[("s", "???".into())]),
            RejectReason::InvalidSymbol,
        ),
        (
            malformed("trade.json", &[("e", "kline".into())]),
            RejectReason::UnknownMessage,
        ),
        (
            malformed("trade.json", &[("t", "not a number".into())]),
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
