//! Every venue through the websocket runner against the exchange simulator, one fault at a time on all
//! of them at once: dropped connections, the venue's reconnect request, silence, garbage and oversized
//! frames, a left-out Kraken book update, and the sequence resets OKX and Bybit document. Each asserts
//! the statuses a venue's feed must show and that no book is published as whole while it is broken.

mod common;

use std::time::Duration;

use common::{
    Events, WAIT, config, is_state, is_synced_delta, last_status, simulator, start, synced, until,
};
use tickstream_model::{BookAction, Event, Exchange, FeedState};
use tickstream_simulator::{Fault, Simulator};

/// One symbol per venue, its feed subscribed to trades, BBO and book.
const VENUES: [(Exchange, &str); 7] = [
    (Exchange::Binance, "BTC-USDT"),
    (Exchange::Coinbase, "BTC-USD"),
    (Exchange::CoinbaseExchange, "ETH-USD"),
    (Exchange::Kraken, "BTC-USD"),
    (Exchange::Okx, "BTC-USDT"),
    (Exchange::Bitstamp, "BTC-USD"),
    (Exchange::Bybit, "ETH-USDT"),
];

struct Feed {
    exchange: Exchange,
    symbol: &'static str,
    rx: Events,
}

/// Every venue's source started against `sim`, each with a whole book.
async fn all_synced(sim: &Simulator, max_frame_bytes: Option<usize>) -> Vec<Feed> {
    let mut feeds = Vec::new();
    for (exchange, symbol) in VENUES {
        let mut config = config(sim, exchange, symbol);
        if let Some(bytes) = max_frame_bytes {
            config.max_frame_bytes = bytes;
        }
        feeds.push(Feed {
            exchange,
            symbol,
            rx: start(config, 8192),
        });
    }
    for feed in &mut feeds {
        synced(&mut feed.rx).await;
    }
    feeds
}

/// Waits for `state` on a feed; returns the events up to it (the status last).
async fn state(feed: &mut Feed, state: FeedState, within: Duration) -> Vec<Event> {
    let what = format!("{} {state:?}", feed.exchange);
    until(&mut feed.rx, within, &what, |e| is_state(e, state)).await
}

/// After a break: no synced delta until the resync, which names the venue and symbol and follows a new
/// snapshot; then synced deltas again.
async fn resynced(feed: &mut Feed, within: Duration) {
    let events = state(feed, FeedState::Resync, within).await;
    let name = feed.exchange;
    assert!(!events.iter().any(is_synced_delta), "{name}: {events:?}");
    let resync = last_status(&events);
    assert_eq!(resync.exchange, feed.exchange);
    assert_eq!(
        resync.symbol.as_ref().map(|s| s.as_str()),
        Some(feed.symbol),
        "{name}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Book(b) if b.action == BookAction::Snapshot && b.synced)),
        "{name}: no snapshot before the resync"
    );
    let what = format!("{name} synced delta after the resync");
    until(&mut feed.rx, within, &what, is_synced_delta).await;
}

#[tokio::test]
async fn a_dropped_connection_reconnects_and_resyncs_every_venue() {
    let sim = simulator().await;
    let mut feeds = all_synced(&sim, None).await;
    sim.inject(Fault::Drop);
    for feed in &mut feeds {
        state(feed, FeedState::Disconnected, WAIT).await;
        state(feed, FeedState::Reconnecting, WAIT).await;
        let events = state(feed, FeedState::Connected, WAIT).await;
        assert_eq!(
            last_status(&events).connection_id,
            Some(2),
            "{}",
            feed.exchange
        );
        resynced(feed, WAIT).await;
    }
}

#[tokio::test]
async fn the_venues_reconnect_request_reconnects_and_resyncs_every_venue() {
    let sim = simulator().await;
    let mut feeds = all_synced(&sim, None).await;
    sim.inject(Fault::Reconnect);
    for feed in &mut feeds {
        let events = state(feed, FeedState::Disconnected, WAIT).await;
        let detail = &last_status(&events).detail;
        // The venue's message where it sends one, else its close frame (1001 going away).
        let expected = match feed.exchange {
            Exchange::Binance => "serverShutdown",
            Exchange::Bitstamp => "bts:request_reconnect",
            Exchange::Okx => "notice 64008",
            _ => "1001",
        };
        assert!(detail.contains(expected), "{}: {detail}", feed.exchange);
        state(feed, FeedState::Connected, WAIT).await;
        resynced(feed, WAIT).await;
    }
}

#[tokio::test]
async fn garbage_is_rejected_and_every_venues_book_stays_whole() {
    let sim = simulator().await;
    let mut feeds = all_synced(&sim, None).await;
    sim.inject(Fault::Garbage);
    for feed in &mut feeds {
        let events = state(feed, FeedState::Rejected, WAIT).await;
        let rejected = last_status(&events);
        assert_eq!(
            rejected.reason.as_deref(),
            Some("parse_error"),
            "{}",
            feed.exchange
        );
        assert_eq!(rejected.exchange, feed.exchange);
        // Same connection, book still whole: the next delta is synced and no other status comes.
        let what = format!("{} synced delta", feed.exchange);
        let events = until(&mut feed.rx, WAIT, &what, is_synced_delta).await;
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, Event::Status(s) if s.state != FeedState::Subscribed)),
            "{}: {events:?}",
            feed.exchange
        );
    }
}

#[tokio::test]
async fn oversized_frames_are_rejected_and_every_venues_connection_renewed() {
    let sim = simulator().await;
    let mut feeds = all_synced(&sim, Some(64 * 1024)).await;
    sim.inject(Fault::Oversized(100_000));
    for feed in &mut feeds {
        let events = state(feed, FeedState::Rejected, WAIT).await;
        let rejected = last_status(&events);
        assert_eq!(
            rejected.reason.as_deref(),
            Some("oversized"),
            "{}",
            feed.exchange
        );
        state(feed, FeedState::Connected, WAIT).await;
        resynced(feed, WAIT).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn silence_is_stale_then_a_reconnect_and_resync_on_every_venue() {
    let sim = simulator().await;
    let mut feeds = all_synced(&sim, None).await;
    tokio::time::pause();
    sim.inject(Fault::Silence);
    let long = Duration::from_secs(120);
    for feed in &mut feeds {
        let events = state(feed, FeedState::Stale, long).await;
        let stale = last_status(&events);
        assert_eq!(stale.exchange, feed.exchange);
        assert!(!stale.detail.is_empty());
        state(feed, FeedState::Connected, long).await;
        resynced(feed, long).await;
    }
}

#[tokio::test]
async fn a_left_out_kraken_book_update_fails_the_next_checksum() {
    let sim = simulator().await;
    let mut config = config(&sim, Exchange::Kraken, "BTC-USD");
    config.channels = vec![tickstream_connectors::Channel::Book];
    let mut feed = Feed {
        exchange: Exchange::Kraken,
        symbol: "BTC-USD",
        rx: start(config, 4096),
    };
    synced(&mut feed.rx).await;
    sim.inject(Fault::SkipSequence);
    let events = state(&mut feed, FeedState::Gap, WAIT).await;
    let gap = last_status(&events);
    assert_eq!(gap.symbol.as_ref().unwrap().as_str(), "BTC-USD");
    assert_ne!(gap.expected_sequence, gap.received_sequence);
    assert!(gap.expected_sequence.is_some() && gap.received_sequence.is_some());
    resynced(&mut feed, WAIT).await;
}

/// A venue's feed through a sequence reset: its book events until five synced deltas after the reset
/// (no status may come), and the index of the one with sequence 1.
async fn through_a_reset(exchange: Exchange, symbol: &'static str) -> (Vec<Event>, usize) {
    let sim = simulator().await;
    let mut feed = Feed {
        exchange,
        symbol,
        rx: start(config(&sim, exchange, symbol), 4096),
    };
    synced(&mut feed.rx).await;
    sim.inject(Fault::SequenceReset);
    let mut events = Vec::new();
    let mut deltas_after_reset = 0;
    let mut reset_seen = false;
    while deltas_after_reset < 5 {
        let what = format!("{} book", feed.exchange);
        let mut seen = until(&mut feed.rx, WAIT, &what, |e| matches!(e, Event::Book(_))).await;
        assert!(
            !seen.iter().any(|e| matches!(e, Event::Status(_))),
            "{seen:?}"
        );
        let event = seen.pop().unwrap();
        let Event::Book(book) = &event else {
            unreachable!()
        };
        assert!(book.synced, "{book:?}");
        reset_seen |= book.sequence == Some(1);
        if reset_seen && book.sequence != Some(1) {
            deltas_after_reset += 1;
        }
        events.push(event);
    }
    let at = events
        .iter()
        .position(|e| matches!(e, Event::Book(b) if b.sequence == Some(1)))
        .unwrap();
    (events, at)
}

#[tokio::test]
async fn okx_sequence_reset_is_continuous() {
    let (events, at) = through_a_reset(Exchange::Okx, "BTC-USDT").await;
    // The update that restarts the sequence follows the one before it by prevSeqId.
    let (Event::Book(before), Event::Book(reset)) = (&events[at - 1], &events[at]) else {
        unreachable!()
    };
    assert_eq!(reset.action, BookAction::Delta);
    assert_eq!(reset.prev_sequence, before.sequence);
    assert!(before.sequence.unwrap() > 1);
    let Event::Book(next) = &events[at + 1] else {
        unreachable!()
    };
    assert_eq!(next.prev_sequence, Some(1));
}

#[tokio::test]
async fn bybit_update_id_one_resets_the_book_without_a_gap() {
    let (events, at) = through_a_reset(Exchange::Bybit, "ETH-USDT").await;
    // `u = 1` is a whole book: published as a snapshot, and deltas go on from u = 2.
    let Event::Book(reset) = &events[at] else {
        unreachable!()
    };
    assert_eq!(reset.action, BookAction::Snapshot);
    let sequences: Vec<Option<u64>> = events[at..]
        .iter()
        .map(|e| match e {
            Event::Book(b) => b.sequence,
            _ => None,
        })
        .collect();
    assert_eq!(
        sequences,
        [Some(1), Some(2), Some(3), Some(4), Some(5), Some(6)]
    );
}
