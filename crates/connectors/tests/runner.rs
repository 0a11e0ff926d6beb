//! The websocket runner against the exchange simulator: every venue end to end, and each fault with the
//! statuses and events it must produce.

mod common;

use std::time::Duration;

use common::{
    WAIT, config, is_state, is_synced_delta, last_status, simulator, start, status_text, synced,
    synced_source, until, until_state,
};
use tickstream_connectors::Channel;
use tickstream_connectors::runner::ExchangeSourceConfig;
use tickstream_model::{BookAction, Event, Exchange, FeedState};
use tickstream_simulator::Fault;

#[tokio::test]
async fn binance_end_to_end_with_snapshot_join() {
    let sim = simulator().await;
    let mut rx = start(config(&sim, Exchange::Binance, "BTC-USDT"), 1024);
    let events = until_state(&mut rx, FeedState::Connected).await;
    assert_eq!(events.len(), 1);
    until_state(&mut rx, FeedState::Subscribed).await;
    let mut events = synced(&mut rx).await;
    events.extend(until(&mut rx, WAIT, "a trade", |e| matches!(e, Event::Trade(_))).await);
    events.extend(until(&mut rx, WAIT, "a quote", |e| matches!(e, Event::Quote(_))).await);
    let mut last: Option<u64> = None;
    for event in &events {
        match event {
            Event::Book(b) if b.action == BookAction::Snapshot => last = b.sequence,
            Event::Book(b) => {
                assert!(b.synced);
                let (first, end) = (b.first_sequence.unwrap(), b.sequence.unwrap());
                let at = last.expect("a delta before the snapshot");
                assert!(
                    first <= at + 1 && end > at,
                    "delta {first}..{end} does not follow {at}"
                );
                last = Some(end);
            }
            Event::Trade(t) => {
                assert_eq!(t.symbol.as_str(), "BTC-USDT");
                assert_eq!(&*t.raw_symbol, "BTCUSDT");
                assert!(t.price.is_positive() && t.quantity.is_positive());
            }
            Event::Status(s) => panic!("unexpected status {s:?}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn binance_skipped_sequence_is_a_gap_then_a_resync() {
    let (sim, mut rx, _) = synced_source(Exchange::Binance, "ETH-USDT").await;
    sim.inject(Fault::SkipSequence);
    let events = until_state(&mut rx, FeedState::Gap).await;
    let gap = last_status(&events);
    assert_eq!(gap.symbol.as_ref().unwrap().as_str(), "ETH-USDT");
    let (expected, received) = (
        gap.expected_sequence.unwrap(),
        gap.received_sequence.unwrap(),
    );
    assert!(received > expected, "{expected} {received}");
    // Nothing is published as whole between the gap and the resync.
    let events = until_state(&mut rx, FeedState::Resync).await;
    assert!(!events.iter().any(is_synced_delta));
    assert!(
        matches!(&events[events.len() - 2], Event::Book(b) if b.action == BookAction::Snapshot)
    );
    until(
        &mut rx,
        WAIT,
        "a synced delta after the resync",
        is_synced_delta,
    )
    .await;
}

#[tokio::test]
async fn binance_dropped_connection_reconnects_and_resyncs() {
    let (sim, mut rx, _) = synced_source(Exchange::Binance, "BTC-USDT").await;
    sim.inject(Fault::Drop);
    until_state(&mut rx, FeedState::Disconnected).await;
    let events = until_state(&mut rx, FeedState::Reconnecting).await;
    assert!(
        status_text(events.last().unwrap())
            .unwrap()
            .contains("reconnecting in")
    );
    let events = until_state(&mut rx, FeedState::Connected).await;
    let connected = last_status(&events);
    assert_eq!(connected.connection_id, Some(2));
    until_state(&mut rx, FeedState::Resync).await;
    until(&mut rx, WAIT, "a synced delta", is_synced_delta).await;
}

#[tokio::test]
async fn binance_server_shutdown_is_a_reconnect() {
    let (sim, mut rx, _) = synced_source(Exchange::Binance, "BTC-USDT").await;
    sim.inject(Fault::Reconnect);
    let events = until_state(&mut rx, FeedState::Disconnected).await;
    let detail = status_text(events.last().unwrap()).unwrap();
    assert!(
        detail.contains("serverShutdown") || detail.contains("1001"),
        "{detail}"
    );
    until_state(&mut rx, FeedState::Connected).await;
    until_state(&mut rx, FeedState::Resync).await;
}

#[tokio::test]
async fn garbage_is_rejected_and_the_feed_goes_on() {
    let (sim, mut rx, _) = synced_source(Exchange::Binance, "BTC-USDT").await;
    sim.inject(Fault::Garbage);
    let events = until_state(&mut rx, FeedState::Rejected).await;
    let rejected = last_status(&events);
    assert_eq!(rejected.reason.as_deref(), Some("parse_error"));
    // Same connection, book still whole.
    let events = until(&mut rx, WAIT, "a synced delta", is_synced_delta).await;
    assert!(!events.iter().any(|e| matches!(e, Event::Status(_))));
}

#[tokio::test]
async fn oversized_frames_are_rejected_and_the_connection_renewed() {
    let sim = simulator().await;
    let mut config = config(&sim, Exchange::Binance, "BTC-USDT");
    config.max_frame_bytes = 64 * 1024;
    let mut rx = start(config, 1024);
    synced(&mut rx).await;
    sim.inject(Fault::Oversized(100_000));
    let events = until_state(&mut rx, FeedState::Rejected).await;
    let rejected = last_status(&events);
    assert_eq!(rejected.reason.as_deref(), Some("oversized"));
    until_state(&mut rx, FeedState::Connected).await;
    until_state(&mut rx, FeedState::Resync).await;
}

#[tokio::test(flavor = "current_thread")]
async fn silence_is_stale_per_subscription_then_a_reconnect() {
    let sim = simulator().await;
    let mut config = config(&sim, Exchange::Binance, "BTC-USDT");
    config.channels = vec![Channel::Trades, Channel::Book];
    let mut rx = start(config, 1024);
    synced(&mut rx).await;
    tokio::time::pause();
    sim.inject(Fault::Silence);
    let started = tokio::time::Instant::now();
    let events = until(&mut rx, Duration::from_secs(120), "stale", |e| {
        is_state(e, FeedState::Stale)
    })
    .await;
    let stale = last_status(&events);
    assert_eq!(stale.symbol.as_ref().unwrap().as_str(), "BTC-USDT");
    assert!(stale.detail.contains("30s"), "{}", stale.detail);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(30) && waited < Duration::from_secs(32),
        "{waited:?}"
    );
    until(&mut rx, Duration::from_secs(120), "disconnected", |e| {
        is_state(e, FeedState::Disconnected)
    })
    .await;
    until(&mut rx, Duration::from_secs(120), "connected", |e| {
        is_state(e, FeedState::Connected)
    })
    .await;
}

#[tokio::test]
async fn a_slow_consumer_gets_backpressure_and_loses_nothing() {
    let sim = simulator().await;
    let mut rx = start(config(&sim, Exchange::Binance, "BTC-USDT"), 2);
    let mut events = synced(&mut rx).await;
    // Read slowly: the runner waits for room and says so.
    let mut backpressure = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        let event = rx.recv().await.unwrap();
        backpressure |= is_state(&event, FeedState::Backpressure);
        events.push(event);
    }
    assert!(backpressure);
    let mut last = None;
    for event in &events {
        match event {
            Event::Book(b) if b.action == BookAction::Snapshot => last = b.sequence,
            Event::Book(b) => {
                let at = last.unwrap();
                assert!(
                    b.first_sequence.unwrap() <= at + 1,
                    "lost updates after {at}"
                );
                last = b.sequence;
            }
            Event::Status(s) => assert!(
                matches!(
                    s.state,
                    FeedState::Connected | FeedState::Subscribed | FeedState::Backpressure
                ),
                "{s:?}"
            ),
            _ => {}
        }
    }
}

#[tokio::test]
async fn coinbase_advanced_end_to_end_gap_and_resync() {
    let sim = simulator().await;
    let mut rx = start(config(&sim, Exchange::Coinbase, "BTC-USD"), 1024);
    until_state(&mut rx, FeedState::Subscribed).await;
    synced(&mut rx).await;
    until(
        &mut rx,
        WAIT,
        "a trade",
        |e| matches!(e, Event::Trade(t) if t.symbol.as_str() == "BTC-USD"),
    )
    .await;
    until(&mut rx, WAIT, "a quote", |e| matches!(e, Event::Quote(_))).await;
    sim.inject(Fault::SkipSequence);
    let events = until_state(&mut rx, FeedState::Gap).await;
    let gap = last_status(&events);
    assert_eq!(
        gap.received_sequence.unwrap(),
        gap.expected_sequence.unwrap() + 1
    );
    let events = until_state(&mut rx, FeedState::Resync).await;
    assert!(events.iter().any(|e| is_state(e, FeedState::Reconnecting)));
    assert!(!events.iter().any(is_synced_delta));
    until(&mut rx, WAIT, "a synced delta", is_synced_delta).await;
}

#[tokio::test]
async fn coinbase_exchange_end_to_end_and_drop() {
    let sim = simulator().await;
    let mut rx = start(config(&sim, Exchange::CoinbaseExchange, "ETH-USD"), 1024);
    until_state(&mut rx, FeedState::Subscribed).await;
    synced(&mut rx).await;
    let events = until(&mut rx, WAIT, "a trade", |e| matches!(e, Event::Trade(_))).await;
    let Some(Event::Trade(t)) = events.last() else {
        unreachable!()
    };
    assert_eq!(t.exchange, Exchange::CoinbaseExchange);
    sim.inject(Fault::Drop);
    until_state(&mut rx, FeedState::Reconnecting).await;
    until_state(&mut rx, FeedState::Resync).await;
    sim.inject(Fault::Garbage);
    let events = until_state(&mut rx, FeedState::Rejected).await;
    let rejected = last_status(&events);
    assert_eq!(rejected.reason.as_deref(), Some("parse_error"));
}

#[tokio::test(start_paused = true)]
async fn nothing_listening_backs_off_with_growing_delays() {
    // A port that was just free: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = ExchangeSourceConfig::new(Exchange::Coinbase, &["BTC-USD"]);
    config.url = Some(format!("ws://127.0.0.1:{port}/coinbase"));
    let mut rx = start(config, 64);
    let mut ceilings = Vec::new();
    while ceilings.len() < 8 {
        let events = until(&mut rx, Duration::from_secs(120), "reconnecting", |e| {
            is_state(e, FeedState::Reconnecting)
        })
        .await;
        assert!(events.iter().any(|e| is_state(e, FeedState::Disconnected)));
        assert!(!events.iter().any(|e| is_state(e, FeedState::Connected)));
        let s = last_status(&events);
        let ms: u64 = s
            .detail
            .trim_start_matches("reconnecting in ")
            .trim_end_matches(" ms")
            .parse()
            .unwrap();
        ceilings.push(ms);
    }
    // Full jitter under a doubling ceiling: 250, 500, 1000 ... capped at 30 s.
    for (i, ms) in ceilings.iter().enumerate() {
        assert!(*ms <= (250u64 << i).min(30_000), "delay {i} = {ms} ms");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_stalled_reader_on_the_venue_side_does_not_break_a_flowing_feed() {
    let sim = simulator().await;
    let mut rx = start(config(&sim, Exchange::CoinbaseExchange, "BTC-USD"), 4096);
    synced(&mut rx).await;
    tokio::time::pause();
    // The venue stops reading our pings for 90 s while its data keeps coming: staleness is about data,
    // not pongs, so the feed stays up.
    sim.inject(Fault::Stall(Duration::from_secs(90)));
    let started = tokio::time::Instant::now();
    let mut deltas = 0;
    while started.elapsed() < Duration::from_secs(90) {
        let event = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(!matches!(event, Event::Status(_)), "{event:?}");
        deltas += usize::from(is_synced_delta(&event));
    }
    assert!(deltas > 100, "{deltas}");
}
