//! Offline normalization of documented frames: events out as JSON lines, unsynced book deltas, a summary
//! of frames, events and rejections, and no failure on bad lines.

mod common;

use std::collections::BTreeMap;

use common::normalize_input::{CLOCK, line, run, summary_of};
use common::sim_feed::SimFeed;
use tickstream_simulator::coinbase::AdvancedProtocol;

use tickstream_connectors::normalize::normalize_with_clock;
use tickstream_connectors::{Market, RejectReason};
use tickstream_model::{Event, EventKind, Exchange, UnixNanos};

#[test]
fn binance_frames_with_a_bad_line_and_a_capture_record() {
    let capture = serde_json::json!({"ts_recv": 1_700_000_000_000_000_123i64, "connection_id": 3, "frame": line("binance", "bookTicker.json")});
    let input = [
        line("binance", "trade.json"),
        String::new(),
        line("binance", "aggTrade.json"),
        "this is not json".into(),
        line("binance", "depthUpdate.json"),
        line("binance", "error-response.json"),
        capture.to_string(),
        line("binance", "subscribe-response.json"),
    ]
    .join("\n");
    let (events, summary) = run(Exchange::Binance, Market::Spot, &input);
    assert_eq!(
        summary,
        summary_of(
            7,
            &[
                (EventKind::Trade, 2),
                (EventKind::Quote, 1),
                (EventKind::Book, 1)
            ],
            &[(RejectReason::ParseError, 1), (RejectReason::VenueError, 1)]
        )
    );
    let Event::Book(book) = &events[2] else {
        panic!("{events:?}")
    };
    assert!(
        !book.synced,
        "no snapshot offline: deltas are flagged unsynced"
    );
    let Event::Quote(quote) = &events[3] else {
        panic!()
    };
    assert_eq!(quote.ts_recv, UnixNanos(1_700_000_000_000_000_123));
    let Event::Trade(trade) = &events[0] else {
        panic!()
    };
    assert_eq!(trade.ts_recv, CLOCK);
    assert_eq!(
        summary.to_string(),
        "frames read: 7\nevents: trade=2, quote=1, book=1\nrejected: parse_error=1, venue_error=1"
    );
}

#[test]
fn coinbase_feeds() {
    let input = [
        line("coinbase", "market_trades.json"),
        line("coinbase", "l2_data.json"),
        line("coinbase", "ticker.json"),
    ]
    .join("\n");
    let (events, summary) = run(Exchange::Coinbase, Market::Spot, &input);
    assert_eq!(
        summary.events,
        BTreeMap::from([
            (EventKind::Trade, 1),
            (EventKind::Quote, 1),
            (EventKind::Book, 1)
        ])
    );
    assert!(summary.rejected.is_empty());
    // A snapshot in the input makes the book whole even offline.
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Book(b) if b.synced))
    );

    let input = [
        line("coinbase-exchange", "l2update.json"),
        line("coinbase-exchange", "match.json"),
    ]
    .join("\n");
    let (events, summary) = run(Exchange::CoinbaseExchange, Market::Spot, &input);
    assert_eq!(summary.frames, 2);
    assert!(matches!(&events[0], Event::Book(b) if !b.synced));
    assert!(matches!(&events[1], Event::Trade(t) if t.exchange == Exchange::CoinbaseExchange));
}

#[test]
fn unreadable_bytes_are_rejected_and_unsupported_markets_refused() {
    let mut input = line("binance", "trade.json").into_bytes();
    input.extend_from_slice(b"\n\xff\xfe\n");
    let mut out = Vec::new();
    let summary = normalize_with_clock(
        Exchange::Binance,
        Market::Spot,
        &input[..],
        &mut out,
        || UnixNanos(0),
    )
    .unwrap();
    assert_eq!(summary.frames, 2);
    assert_eq!(summary.rejected.get(&RejectReason::ParseError), Some(&1));
    assert!(
        normalize_with_clock(
            Exchange::Binance,
            Market::Perp,
            &b""[..],
            Vec::new(),
            || UnixNanos(0)
        )
        .is_err()
    );
    assert!(
        normalize_with_clock(
            Exchange::Composite,
            Market::Spot,
            &b""[..],
            Vec::new(),
            || UnixNanos(0)
        )
        .is_err()
    );
}

#[test]
fn every_event_from_every_fixture_matches_its_json_schema() {
    let venues = [
        (Exchange::Binance, "binance"),
        (Exchange::Coinbase, "coinbase"),
        (Exchange::CoinbaseExchange, "coinbase-exchange"),
    ];
    let (mut checked, mut gaps) = (0, 0);
    for (exchange, dir) in venues {
        let mut names: Vec<String> = std::fs::read_dir(format!(
            "{}/tests/fixtures/{dir}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.ends_with(".json")
                && n != "depth-snapshot.json"
                && !n.starts_with("subscribe-request")
        })
        .collect();
        names.sort();
        let input: Vec<String> = names.iter().map(|n| line(dir, n)).collect();
        // A gap status too: the simulator's Coinbase frames with a lost level2 message.
        let mut input = input.join("\n");
        if exchange == Exchange::Coinbase {
            let mut feed = SimFeed::new(AdvancedProtocol::default(), "BTC-USD");
            let mut frames = feed.answer(&[
                r#"{"type":"subscribe","product_ids":["BTC-USD"],"channel":"level2"}"#.to_owned(),
            ]);
            frames.extend(feed.frames());
            feed.step(true);
            frames.extend(feed.frames());
            input.push('\n');
            input.push_str(&frames.join("\n"));
        }
        let mut out = Vec::new();
        normalize_with_clock(exchange, Market::Spot, input.as_bytes(), &mut out, || CLOCK).unwrap();
        for text in String::from_utf8(out).unwrap().lines() {
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            let event: Event = serde_json::from_value(value.clone()).unwrap();
            let schema = tickstream_model::schema::event_schema(event.kind());
            let validator = jsonschema::validator_for(&schema).unwrap();
            let errors: Vec<String> = validator
                .iter_errors(&value)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{text}: {errors:?}");
            checked += 1;
            gaps += usize::from(
                matches!(&event, Event::Status(s) if s.state == tickstream_model::FeedState::Gap),
            );
        }
    }
    assert!(checked >= 12, "{checked}");
    assert_eq!(gaps, 1);
}
