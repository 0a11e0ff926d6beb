//! A shard's hot-path metrics, registered once per shard: text frames received and events emitted by
//! kind, and the feed states that mark trouble (gaps, resyncs, stale subscriptions).

use tickstream_model::{Event, EventKind, Exchange, FeedState};

/// The shard's hot-path counters, registered once: text frames received
/// (`tickstream_connector_frames_total`) and events emitted by kind (`tickstream_connector_events_total`).
pub(super) struct ShardCounters {
    pub(super) frames: metrics::Counter,
    /// Indexed by `EventKind as usize`.
    events: Vec<metrics::Counter>,
}

impl ShardCounters {
    pub(super) fn new(exchange: Exchange) -> ShardCounters {
        ShardCounters {
            frames: metrics::counter!("tickstream_connector_frames_total", "exchange" => exchange.as_str()),
            events: EventKind::ALL
                .iter()
                .map(|kind| {
                    metrics::counter!("tickstream_connector_events_total", "exchange" => exchange.as_str(), "kind" => kind.as_str())
                })
                .collect(),
        }
    }

    /// Counts an emitted event; feed states that mark trouble also count in their own series.
    pub(super) fn event(&self, exchange: Exchange, event: &Event) {
        self.events[event.kind() as usize].increment(1);
        if let Event::Status(s) = event {
            let name = match s.state {
                FeedState::Gap => "tickstream_connector_gaps_total",
                FeedState::Resync => "tickstream_connector_resyncs_total",
                FeedState::Stale => "tickstream_connector_stale_total",
                _ => return,
            };
            metrics::counter!(name, "exchange" => exchange.as_str()).increment(1);
        }
    }
}
