//! Coinbase Advanced Trade and Coinbase Exchange parser tests on the documentation's messages (see
//! `fixtures/coinbase/SOURCES.md` and `fixtures/coinbase-exchange/SOURCES.md`).

mod common;

use common::sim_feed::{SimFeed, TS, parse_all};
use common::venue_frames::{self, fixture_json, only_trade, parse, signals, trade_fields};
use serde_json::json;
use tickstream_connectors::venues::coinbase::CoinbaseAdvanced;
use tickstream_connectors::venues::coinbase_exchange::CoinbaseExchange;
use tickstream_connectors::{BookMode, Channel, RejectReason, Subscription, Venue, VenueSignal};
use tickstream_model::{AggressorSide, BookAction, Event, FeedState, UnixNanos};
use tickstream_simulator::coinbase::{AdvancedProtocol, ExchangeProtocol};

fn sub(channel: Channel, product: &str) -> Subscription {
    venue_frames::sub(channel, product, product)
}

fn advanced() -> CoinbaseAdvanced {
    CoinbaseAdvanced::new(&[sub(Channel::Book, "BTC-USD")], BookMode::Snapshots)
}

#[test]
fn advanced_market_trades() {
    let events = parse(
        &mut advanced(),
        fixture_json("coinbase", "market_trades.json"),
    );
    // The documented side is the maker's: a maker BUY means the seller took liquidity.
    assert_eq!(
        trade_fields(only_trade(&events)),
        (
            "ETH-USD",
            "000000000",
            "1260.01".into(),
            "0.3".into(),
            AggressorSide::Sell,
            UnixNanos::parse_rfc3339("2019-08-14T20:42:27.265Z").unwrap()
        )
    );
}

#[test]
fn advanced_ticker_gives_the_bbo() {
    let events = parse(&mut advanced(), fixture_json("coinbase", "ticker.json"));
    let [Event::Quote(q)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(q.symbol.as_str(), "BTC-USD");
    assert_eq!(q.bid_price.to_string(), "21931.98");
    assert_eq!(q.bid_size.to_string(), "8000.21");
    assert_eq!(q.ask_price.to_string(), "21933.98");
    assert_eq!(q.ask_size.to_string(), "8038.07770938");
    assert_eq!(
        q.ts_event,
        UnixNanos::parse_rfc3339("2023-02-09T20:30:37.167359596Z").unwrap()
    );
}

#[test]
fn advanced_level2_documented_snapshot() {
    let mut v = advanced();
    let out = parse(&mut v, fixture_json("coinbase", "l2_data.json"));
    let [Event::Book(snap)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        (snap.action, snap.synced, snap.sequence),
        (BookAction::Snapshot, true, Some(0))
    );
    assert_eq!(snap.bids.len(), 2);
    assert_eq!(snap.bids[0].price().to_string(), "21921.73");
    assert!(
        snap.asks.is_empty(),
        "the documented snapshot has only bids, so no BBO yet"
    );
}

/// The simulator's Advanced Trade venue and a parser subscribed to its BTC-USD level2 there.
fn simulated_advanced(
    mode: BookMode,
) -> (SimFeed<AdvancedProtocol>, CoinbaseAdvanced, Vec<String>) {
    let subs = [sub(Channel::Book, "BTC-USD")];
    let v = CoinbaseAdvanced::new(&subs, mode);
    let feed = SimFeed::new(AdvancedProtocol::default(), "BTC-USD");
    let requests = v.subscribe_frames(&subs);
    (feed, v, requests)
}

// The sequence_num chains below are the simulator's own frames (see tests/common/sim_feed.rs).
#[test]
fn simulated_level2_snapshot_updates_gap_and_resync() {
    let (mut feed, mut v, requests) = simulated_advanced(BookMode::Snapshots);
    // One sequence_num per message of the connection: the acknowledgements count too.
    let answers = feed.answer(&requests);
    let out = parse_all(&mut v, &answers);
    let [Event::Book(snap), Event::Quote(_)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!((snap.action, snap.synced), (BookAction::Snapshot, true));
    let mut last = answers.len() as u64 - 1;
    assert!(
        signals(&mut v)
            .iter()
            .all(|s| matches!(s, VenueSignal::Subscribed { .. }))
    );
    for _ in 0..20 {
        let (step, frames) = feed.step(false);
        for event in parse_all(&mut v, &frames) {
            match event {
                Event::Book(d) => {
                    assert_eq!((d.synced, d.sequence), (true, Some(last + 1)));
                    last += 1;
                }
                Event::Quote(q) => {
                    assert_eq!(
                        (q.bid_price, q.ask_price),
                        (step.best_bid.price(), step.best_ask.price())
                    );
                }
                other => panic!("{other:?}"),
            }
        }
    }
    // A lost message: the next sequence_num is one too far; every book is broken, the connection must
    // be renewed.
    feed.step(true);
    let out = parse_all(&mut v, &feed.frames());
    let [Event::Status(gap)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(gap.state, FeedState::Gap);
    assert_eq!(
        (gap.expected_sequence, gap.received_sequence),
        (Some(last + 1), Some(last + 2))
    );
    assert!(matches!(
        signals(&mut v).as_slice(),
        [VenueSignal::Reconnect { .. }]
    ));
    assert!(!v.book("BTC-USD").unwrap().is_synced());
    // Updates are not applied to a broken book.
    assert!(parse_all(&mut v, &feed.frames()).is_empty());

    // A new connection: its sequence_num starts again, its snapshot is a resync.
    v.reset();
    feed.protocol = AdvancedProtocol::default();
    let out = parse_all(&mut v, &feed.answer(&requests));
    let states: Vec<String> = out
        .iter()
        .map(|e| match e {
            Event::Status(s) => format!("{:?}", s.state),
            other => other.kind().to_string(),
        })
        .collect();
    assert_eq!(states, ["book", "Resync", "quote"]);
    let out = parse_all(&mut v, &feed.frames());
    assert!(
        matches!(out.first(), Some(Event::Book(d)) if d.synced),
        "{out:?}"
    );
    let (bids, asks) = feed.shared.with_market("BTC-USD", |m| m.book());
    let book = v.book("BTC-USD").unwrap();
    assert_eq!(book.bids().collect::<Vec<_>>(), bids);
    assert_eq!(book.asks().collect::<Vec<_>>(), asks);
}

#[test]
fn advanced_unsynced_mode_and_heartbeats() {
    let mut v = CoinbaseAdvanced::new(&[], BookMode::Unsynced);
    assert!(parse(&mut v, fixture_json("coinbase", "heartbeats.json")).is_empty());
    // The simulator's level2 update, without its snapshot.
    let (mut feed, mut v, requests) = simulated_advanced(BookMode::Unsynced);
    feed.answer(&requests);
    let update = feed
        .frames()
        .into_iter()
        .find(|f| f.contains(r#""channel":"l2_data""#))
        .unwrap();
    let out = parse_all(&mut v, &[update]);
    let [Event::Book(delta)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert!(!delta.synced);
    assert_eq!(delta.symbol.as_str(), "BTC-USD");
}

#[test]
fn advanced_subscription_frames_are_exact() {
    let subs = [
        sub(Channel::Trades, "BTC-USD"),
        sub(Channel::Trades, "ETH-USD"),
        sub(Channel::Book, "BTC-USD"),
    ];
    let v = CoinbaseAdvanced::new(&subs, BookMode::Snapshots);
    assert_eq!(
        v.subscribe_frames(&subs),
        [
            r#"{"channel":"market_trades","product_ids":["BTC-USD","ETH-USD"],"type":"subscribe"}"#,
            r#"{"channel":"level2","product_ids":["BTC-USD"],"type":"subscribe"}"#,
            r#"{"channel":"heartbeats","type":"subscribe"}"#,
        ]
    );
}

/// Malformed copies of documented frames (bad price, side, channel) are input the venue does not send,
/// made to test that each is rejected with its reason; they are never used as venue messages.
#[test]
fn advanced_rejections() {
    let mut v = advanced();
    let mut bad_price = fixture_json("coinbase", "market_trades.json");
    bad_price["events"][0]["trades"][0]["price"] = "-1260.01".into();
    let mut bad_side = fixture_json("coinbase", "market_trades.json");
    bad_side["events"][0]["trades"][0]["side"] = "SIDEWAYS".into();
    let mut nan_bid = fixture_json("coinbase", "ticker.json");
    nan_bid["events"][0]["tickers"][0]["best_bid"] = "NaN".into();
    let mut unknown = fixture_json("coinbase", "heartbeats.json");
    unknown["channel"] = "candles".into();
    let cases = [
        (bad_price, RejectReason::InvalidPrice),
        (bad_side, RejectReason::ParseError),
        (nan_bid, RejectReason::InvalidPrice),
        (unknown, RejectReason::UnknownMessage),
        // The simulator's answer to a request it cannot read.
        (
            serde_json::from_str(
                &SimFeed::new(AdvancedProtocol::default(), "BTC-USD").answer(&["{".into()])[0],
            )
            .unwrap(),
            RejectReason::VenueError,
        ),
        (json!([1]), RejectReason::ParseError),
    ];
    for (frame, reason) in cases {
        let mut out = Vec::new();
        let err = v.parse(&frame.to_string(), TS, &mut out).unwrap_err();
        assert_eq!(err.reason, reason, "{frame}");
    }
}

fn exchange() -> CoinbaseExchange {
    CoinbaseExchange::new(&[sub(Channel::Book, "BTC-USD")], BookMode::Snapshots)
}

#[test]
fn exchange_match_and_ticker() {
    let mut v = exchange();
    let events = parse(&mut v, fixture_json("coinbase-exchange", "match.json"));
    let [Event::Trade(t)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(t.trade_id, "10");
    assert_eq!(
        (t.price.to_string(), t.quantity.to_string()),
        ("400.23".into(), "5.23512".into())
    );
    // Maker side `sell`: an up-tick, the buyer took liquidity.
    assert_eq!(t.side, AggressorSide::Buy);
    assert_eq!(
        t.ts_event,
        UnixNanos::parse_rfc3339("2014-11-07T08:19:27.028459Z").unwrap()
    );
    assert_eq!(t.exchange.as_str(), "coinbase-exchange");

    let events = parse(&mut v, fixture_json("coinbase-exchange", "ticker.json"));
    let [Event::Quote(q)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(q.symbol.as_str(), "ETH-USD");
    assert_eq!(
        (q.bid_price.to_string(), q.bid_size.to_string()),
        ("1285.04".into(), "0.46688654".into())
    );
    assert_eq!(
        (q.ask_price.to_string(), q.ask_size.to_string()),
        ("1285.27".into(), "1.56637040".into())
    );
    assert!(parse(&mut v, fixture_json("coinbase-exchange", "heartbeat.json")).is_empty());
}

#[test]
fn exchange_level2_snapshot_then_updates() {
    let mut v = exchange();
    // An update before the snapshot has nothing whole to apply to.
    assert!(parse(&mut v, fixture_json("coinbase-exchange", "l2update.json")).is_empty());
    let out = parse(&mut v, fixture_json("coinbase-exchange", "snapshot.json"));
    let [Event::Book(snap), Event::Quote(q)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!((snap.action, snap.synced), (BookAction::Snapshot, true));
    assert_eq!(
        (q.bid_price.to_string(), q.ask_price.to_string()),
        ("10101.10".into(), "10102.55".into())
    );

    let out = parse(&mut v, fixture_json("coinbase-exchange", "l2update.json"));
    let [Event::Book(delta), Event::Quote(q)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert!(delta.synced);
    assert_eq!(delta.bids[0].price().to_string(), "10101.80000000");
    assert_eq!(q.bid_size.to_string(), "0.162567");

    // Both changes are on the bid side; the zero size removes a level the book never had.
    let out = parse(
        &mut v,
        fixture_json("coinbase-exchange", "l2update-multiple.json"),
    );
    let Event::Book(delta) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(delta.bids.len(), 2);
    assert_eq!(
        v.book("BTC-USD")
            .unwrap()
            .best_bid()
            .unwrap()
            .price()
            .to_string(),
        "22356.300000"
    );

    v.reset();
    let out = parse(&mut v, fixture_json("coinbase-exchange", "snapshot.json"));
    assert!(
        out.iter()
            .any(|e| matches!(e, Event::Status(s) if s.state == FeedState::Resync))
    );
}

#[test]
fn exchange_subscription_frame_is_exact() {
    let subs = [
        sub(Channel::Trades, "ETH-USD"),
        sub(Channel::Bbo, "BTC-USD"),
        sub(Channel::Book, "BTC-USD"),
    ];
    let v = CoinbaseExchange::new(&subs, BookMode::Snapshots);
    assert_eq!(
        v.subscribe_frames(&subs),
        [
            r#"{"channels":["level2_batch","matches","ticker","heartbeat"],"product_ids":["BTC-USD","ETH-USD"],"type":"subscribe"}"#
        ]
    );
}

/// The bad values below are malformed copies of documented frames: input the venue does not send, made
/// to test that each is rejected with its reason; they are never used as venue messages.
#[test]
fn exchange_rejections() {
    let mut v = exchange();
    let mut zero = fixture_json("coinbase-exchange", "match.json");
    zero["price"] = "0".into();
    let mut neg_size = fixture_json("coinbase-exchange", "l2update.json");
    neg_size["changes"][0][2] = "-1".into();
    let cases = [
        (zero, RejectReason::InvalidPrice),
        (neg_size, RejectReason::InvalidQuantity),
        (
            json!({"type": "done", "product_id": "BTC-USD"}),
            RejectReason::UnknownMessage,
        ),
        // The simulator's answer to a request it cannot read.
        (
            serde_json::from_str(
                &SimFeed::new(ExchangeProtocol::default(), "BTC-USD").answer(&["{".into()])[0],
            )
            .unwrap(),
            RejectReason::VenueError,
        ),
        (
            json!({"product_id": "BTC-USD"}),
            RejectReason::UnknownMessage,
        ),
    ];
    for (frame, reason) in cases {
        let mut out = Vec::new();
        let err = v.parse(&frame.to_string(), TS, &mut out).unwrap_err();
        assert_eq!(err.reason, reason, "{frame}");
    }
    let mut out = Vec::new();
    assert_eq!(
        v.parse("{\"type\":", TS, &mut out).unwrap_err().reason,
        RejectReason::ParseError
    );
}
