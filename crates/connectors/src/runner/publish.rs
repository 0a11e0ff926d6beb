//! What a shard sends downstream: each frame's events as one batch, statuses (with their connection
//! id), rejected frames and capture shortfalls, with backpressure waited out and reported.

use std::sync::Arc;

use tickstream_model::{Event, FeedState, FeedStatus, Symbol, UnixNanos};
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::shard::Shard;
use crate::ParseError;
use crate::fields::status;

/// At most one `backpressure` status per this long.
const BACKPRESSURE_REPORT_EVERY: Duration = Duration::from_secs(1);

/// The receiver of the events channel was dropped: the source stops.
#[derive(Debug)]
pub(super) struct DownstreamClosed;

impl Shard {
    /// Sends one batch downstream (a frame's events, or a status); when the channel is full, waits for
    /// room (backpressure) and reports it.
    pub(super) async fn emit(&mut self, batch: Vec<Event>) -> Result<(), DownstreamClosed> {
        for event in &batch {
            self.counters.event(self.exchange, event);
        }
        let batch = match self.tx.try_send(batch) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Closed(_)) => return Err(DownstreamClosed),
            Err(TrySendError::Full(batch)) => batch,
        };
        let waited_from = Instant::now();
        metrics::counter!("tickstream_connector_backpressure_total", "exchange" => self.exchange.as_str()).increment(1);
        self.tx.send(batch).await.map_err(|_| DownstreamClosed)?;
        let due = self
            .last_backpressure_report
            .is_none_or(|t| t.elapsed() >= BACKPRESSURE_REPORT_EVERY);
        if due {
            self.last_backpressure_report = Some(Instant::now());
            let detail = format!(
                "downstream full: waited {} ms for room",
                waited_from.elapsed().as_millis()
            );
            tracing::warn!(exchange = %self.exchange, %detail, "backpressure");
            let mut s = status(
                self.exchange,
                None,
                FeedState::Backpressure,
                detail,
                UnixNanos::now(),
            );
            s.connection_id = Some(self.connection_id);
            self.tx
                .send(vec![Event::Status(s)])
                .await
                .map_err(|_| DownstreamClosed)?;
        }
        Ok(())
    }

    pub(super) async fn status(
        &mut self,
        state: FeedState,
        symbol: Option<(&Symbol, &Arc<str>)>,
        detail: String,
    ) -> Result<(), DownstreamClosed> {
        self.status_on(self.connection_id, state, symbol, detail)
            .await
    }

    pub(super) async fn status_on(
        &mut self,
        connection_id: u64,
        state: FeedState,
        symbol: Option<(&Symbol, &Arc<str>)>,
        detail: String,
    ) -> Result<(), DownstreamClosed> {
        let mut s: FeedStatus = status(self.exchange, symbol, state, detail, UnixNanos::now());
        s.connection_id = Some(connection_id);
        self.emit(vec![Event::Status(s)]).await
    }

    /// Hands a frame to the capture; frames left out of it (its writer is behind) are reported, sampled,
    /// as a `backpressure` status. The live path never waits for the capture.
    pub(super) async fn capture_frame(
        &mut self,
        ts_recv: UnixNanos,
        connection_id: u64,
        text: &Utf8Bytes,
    ) -> Result<(), DownstreamClosed> {
        let dropped = match &self.capture {
            Some(capture) => capture.record(ts_recv, connection_id, text.clone()),
            None => None,
        };
        let Some(dropped) = dropped else {
            return Ok(());
        };
        let detail = format!("capture writer behind: {dropped} frames left out of the capture");
        self.status_on(connection_id, FeedState::Backpressure, None, detail)
            .await
    }

    /// Counts, logs (sampled: the 1st, 2nd, 4th, 8th... and every 1000th of a reason) and reports a
    /// rejected frame.
    pub(super) async fn reject(&mut self, error: ParseError) -> Result<(), DownstreamClosed> {
        let count = self.rejected.entry(error.reason).or_default();
        *count += 1;
        let n = *count;
        metrics::counter!(
            "tickstream_connector_rejected_total",
            "exchange" => self.exchange.as_str(),
            "reason" => error.reason.as_str()
        )
        .increment(1);
        if n.is_power_of_two() || n.is_multiple_of(1000) {
            tracing::warn!(exchange = %self.exchange, reason = %error.reason, count = n, detail = %error.detail, "frame rejected");
        }
        let mut s = status(
            self.exchange,
            None,
            FeedState::Rejected,
            error.detail,
            UnixNanos::now(),
        );
        s.reason = Some(error.reason.as_str().to_owned());
        s.connection_id = Some(self.connection_id);
        self.emit(vec![Event::Status(s)]).await
    }
}
