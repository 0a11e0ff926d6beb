//! Sharding against the simulator: subscriptions over the streams-per-connection cap are served by
//! several connections, each with its own connection id, and every symbol's data flows.

mod common;

use std::collections::BTreeSet;

use common::{Events, WAIT, config, simulator, until};
use tickstream_connectors::Channel;
use tickstream_connectors::runner::ExchangeSource;
use tickstream_model::{Event, Exchange, FeedState};
use tokio::sync::mpsc;

#[tokio::test]
async fn subscriptions_over_the_cap_are_split_across_connections() {
    let sim = simulator().await;
    let mut config = config(&sim, Exchange::Binance, "BTC-USDT");
    config.symbols = vec!["BTC-USDT".into(), "ETH-USDT".into(), "SOL-USDT".into()];
    config.channels = vec![Channel::Trades, Channel::Bbo];
    config.max_streams_per_connection = Some(2);
    let (tx, rx) = mpsc::channel(1024);
    let mut rx = Events::new(rx);
    let source = ExchangeSource::new(config, tx).unwrap();
    assert_eq!(source.shard_sizes(), [2, 2, 2]);
    tokio::spawn(source.run());

    let mut connected = BTreeSet::new();
    let mut subscribed = BTreeSet::new();
    let mut traded = BTreeSet::new();
    let mut quoted = BTreeSet::new();
    while connected.len() < 3 || subscribed.len() < 3 || traded.len() < 3 || quoted.len() < 3 {
        let events = until(&mut rx, WAIT, "data of every shard", |_| true).await;
        match &events[0] {
            Event::Status(s) if s.state == FeedState::Connected => {
                connected.insert(s.connection_id.unwrap());
            }
            Event::Status(s) if s.state == FeedState::Subscribed => {
                subscribed.insert(s.connection_id.unwrap());
            }
            Event::Status(s) => panic!("unexpected status {s:?}"),
            Event::Trade(t) => {
                traded.insert(t.symbol.to_string());
            }
            Event::Quote(q) => {
                quoted.insert(q.symbol.to_string());
            }
            _ => {}
        }
    }
    assert_eq!(connected, BTreeSet::from([1, 2, 3]));
    assert_eq!(subscribed, connected);
    assert_eq!(
        traded,
        BTreeSet::from(["BTC-USDT".to_owned(), "ETH-USDT".into(), "SOL-USDT".into()])
    );
    assert_eq!(quoted, traded);
}
