//! Connection rotation against the simulator in paused time: before the connection age limit a new
//! connection takes over, overlapping the old one, with no gap and no duplicate in the trades and the
//! book continuing from the new connection's snapshot.

mod common;

use std::time::Duration;

use common::{config, simulator, start, synced};
use tickstream_connectors::Channel;
use tickstream_connectors::runner::Window;
use tickstream_model::{BookAction, Event, Exchange, FeedState};

#[tokio::test(flavor = "current_thread")]
async fn a_new_connection_takes_over_before_the_age_limit_without_gap_or_duplicate() {
    let sim = simulator().await;
    let mut config = config(&sim, Exchange::Binance, "BTC-USDT");
    config.channels = vec![Channel::Trades, Channel::Book];
    // Rotation starts a tenth of the age before it: every 18 s.
    config.max_connection_age = Some(Window(Duration::from_secs(20)));
    let mut rx = start(config, 4096);
    let mut events = synced(&mut rx).await;
    tokio::time::pause();
    let started = tokio::time::Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let event = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("the feed went quiet")
            .unwrap();
        events.push(event);
    }

    let statuses: Vec<(FeedState, u64, String)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Status(s) => Some((s.state, s.connection_id.unwrap(), s.detail.clone())),
            _ => None,
        })
        .collect();
    let connected: Vec<u64> = statuses
        .iter()
        .filter(|(state, ..)| *state == FeedState::Connected)
        .map(|(_, id, _)| *id)
        .collect();
    assert_eq!(connected, [1, 2, 3, 4], "{statuses:?}");
    let retired: Vec<u64> = statuses
        .iter()
        .filter(|(state, ..)| *state == FeedState::Disconnected)
        .map(|(_, id, _)| *id)
        .collect();
    assert_eq!(retired, [1, 2, 3], "{statuses:?}");
    for (state, _, detail) in &statuses {
        assert!(
            matches!(
                state,
                FeedState::Connected | FeedState::Subscribed | FeedState::Disconnected
            ),
            "{state:?} {detail}"
        );
    }

    // Every trade once, in order, with no id missing across the takeovers.
    let ids: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Trade(t) => Some(t.trade_id.parse().unwrap()),
            _ => None,
        })
        .collect();
    assert!(ids.len() > 100, "{}", ids.len());
    for pair in ids.windows(2) {
        assert_eq!(
            pair[1],
            pair[0] + 1,
            "trade ids jump from {} to {}",
            pair[0],
            pair[1]
        );
    }

    // The book: one snapshot per connection, each delta joined to what was published before it.
    let mut snapshots = 0;
    let mut last: Option<u64> = None;
    for event in &events {
        match event {
            Event::Book(b) if b.action == BookAction::Snapshot => {
                snapshots += 1;
                last = b.sequence;
            }
            Event::Book(b) => {
                assert!(b.synced);
                let (first, end) = (b.first_sequence.unwrap(), b.sequence.unwrap());
                let at = last.unwrap();
                assert!(
                    first <= at + 1 && end > at,
                    "delta {first}..{end} after {at}"
                );
                last = Some(end);
            }
            _ => {}
        }
    }
    assert_eq!(snapshots, 4);
}
