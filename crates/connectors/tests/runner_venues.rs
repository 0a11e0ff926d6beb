//! Kraken, OKX, Bitstamp and Bybit through the websocket runner against the exchange simulator: whole
//! books end to end, and each venue's integrity break (corrupted checksum, skipped sequence, reconnect
//! request, silence) with the statuses it must produce.

mod common;

use std::time::Duration;

use common::{
    Events, WAIT, config, is_state, is_synced_delta, last_status, simulator, start, synced,
    synced_source, until, until_state,
};
use tickstream_model::{BookAction, Event, Exchange, FeedState};
use tickstream_simulator::Fault;

/// The gap status at the end of `events`.
fn gap_of(events: &[Event]) -> (Option<u64>, Option<u64>, String) {
    let gap = last_status(events);
    (
        gap.expected_sequence,
        gap.received_sequence,
        gap.symbol
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
    )
}

/// After a break: nothing published as whole until the resync, which follows a new snapshot.
async fn resynced(rx: &mut Events) {
    let events = until_state(rx, FeedState::Resync).await;
    assert!(!events.iter().any(is_synced_delta), "{events:?}");
    assert!(
        matches!(&events[events.len() - 2], Event::Book(b) if b.action == BookAction::Snapshot),
        "{events:?}"
    );
    until(rx, WAIT, "a synced delta after the resync", is_synced_delta).await;
}

#[tokio::test]
async fn kraken_end_to_end_and_a_corrupted_checksum() {
    let sim = simulator().await;
    let mut rx = start(config(&sim, Exchange::Kraken, "BTC-USD"), 1024);
    until_state(&mut rx, FeedState::Subscribed).await;
    let mut events = synced(&mut rx).await;
    events.extend(until(&mut rx, WAIT, "a trade", |e| matches!(e, Event::Trade(_))).await);
    events.extend(until(&mut rx, WAIT, "a quote", |e| matches!(e, Event::Quote(_))).await);
    for event in &events {
        match event {
            Event::Book(b) => assert!(b.synced && b.checksum.is_some(), "{b:?}"),
            Event::Trade(t) => assert_eq!(&*t.raw_symbol, "BTC/USD"),
            Event::Status(s) => assert_eq!(s.state, FeedState::Subscribed, "{s:?}"),
            _ => {}
        }
    }
    sim.inject(Fault::CorruptChecksum);
    let events = until_state(&mut rx, FeedState::Gap).await;
    let (expected, received, symbol) = gap_of(&events);
    assert_eq!(symbol, "BTC-USD");
    // Kraken's checksum against ours: one apart, as the fault corrupts it.
    assert_eq!(
        expected.unwrap(),
        u64::from(u32::try_from(received.unwrap()).unwrap().wrapping_add(1))
    );
    resynced(&mut rx).await;
}

#[tokio::test]
async fn okx_skipped_sequence_is_a_gap_then_a_resync() {
    let (sim, mut rx, events) = synced_source(Exchange::Okx, "BTC-USDT-PERP").await;
    assert!(
        events
            .iter()
            .all(|e| e.symbol().is_none_or(|s| s.as_str() == "BTC-USDT-PERP"))
    );
    sim.inject(Fault::SkipSequence);
    let events = until_state(&mut rx, FeedState::Gap).await;
    let (expected, received, symbol) = gap_of(&events);
    assert_eq!(symbol, "BTC-USDT-PERP");
    assert!(
        received.unwrap() > expected.unwrap(),
        "{expected:?} {received:?}"
    );
    resynced(&mut rx).await;
}

#[tokio::test]
async fn bybit_skipped_update_id_is_a_gap_then_a_resync() {
    let (sim, mut rx, _) = synced_source(Exchange::Bybit, "ETH-USDT").await;
    until(&mut rx, WAIT, "a trade", |e| matches!(e, Event::Trade(_))).await;
    sim.inject(Fault::SkipSequence);
    let events = until_state(&mut rx, FeedState::Gap).await;
    let (expected, received, symbol) = gap_of(&events);
    assert_eq!(symbol, "ETH-USDT");
    assert_eq!(received.unwrap(), expected.unwrap() + 1);
    resynced(&mut rx).await;
}

#[tokio::test]
async fn bybit_linear_perpetuals_end_to_end() {
    let (_sim, mut rx, _) = synced_source(Exchange::Bybit, "BTC-USDT-PERP").await;
    let events = until(&mut rx, WAIT, "a trade", |e| matches!(e, Event::Trade(_))).await;
    let Some(Event::Trade(t)) = events.last() else {
        unreachable!()
    };
    assert_eq!(
        (t.symbol.as_str(), &*t.raw_symbol),
        ("BTC-USDT-PERP", "BTCUSDT")
    );
}

#[tokio::test]
async fn bitstamp_reconnect_request_rebuilds_the_book() {
    let (sim, mut rx, _) = synced_source(Exchange::Bitstamp, "BTC-USD").await;
    sim.inject(Fault::Reconnect);
    let events = until_state(&mut rx, FeedState::Disconnected).await;
    let s = last_status(&events);
    assert!(s.detail.contains("bts:request_reconnect"), "{}", s.detail);
    until_state(&mut rx, FeedState::Connected).await;
    resynced(&mut rx).await;
}

#[tokio::test(flavor = "current_thread")]
async fn kraken_silence_is_stale_then_a_reconnect_and_resync() {
    let (sim, mut rx, _) = synced_source(Exchange::Kraken, "ETH-USD").await;
    tokio::time::pause();
    sim.inject(Fault::Silence);
    let started = tokio::time::Instant::now();
    let events = until(&mut rx, Duration::from_secs(120), "stale", |e| {
        is_state(e, FeedState::Stale)
    })
    .await;
    // Kraken heartbeats every second: ten silent seconds mean the connection is gone.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(12),
        "{waited:?}"
    );
    let stale = last_status(&events);
    assert!(stale.detail.contains("no frames"), "{}", stale.detail);
    until(&mut rx, Duration::from_secs(120), "connected", |e| {
        is_state(e, FeedState::Connected)
    })
    .await;
    until(&mut rx, Duration::from_secs(120), "resync", |e| {
        is_state(e, FeedState::Resync)
    })
    .await;
}
