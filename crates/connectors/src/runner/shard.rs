//! One shard of an exchange source: a group of subscriptions served by one websocket connection at a
//! time, with its own venue parser, books, backoff and connection ids. It connects (TLS for `wss://`),
//! subscribes at the venue's pace, keeps alive, hands each text frame with its receive time to the
//! parser (and to the capture), fetches the REST snapshots the parser asks for, watches each
//! subscription for staleness and reconnects with capped exponential backoff and full jitter.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use rustls::ClientConfig;
use tickstream_model::{Event, EventKind, Exchange, FeedState, Symbol, UnixNanos};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::counters::ShardCounters;
use super::handover::{Successor, TradeDedup, rotate_after, successor_frame};
use super::publish::DownstreamClosed;
use super::rest::RestClient;
use super::{Backoff, Capture, ExchangeSourceConfig};
use crate::{Channel, Error, ParseError, RejectReason, Subscription, Venue, VenueSignal};

pub(super) type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How often timers (staleness, idle, pings) are checked.
const TICK: Duration = Duration::from_millis(250);
/// Delay before fetching a snapshot again after a failed fetch, and how long a fetch may take.
const SNAPSHOT_RETRY: Duration = Duration::from_secs(1);
pub(super) const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(10);
/// Delay before opening a successor connection again after one failed.
const SUCCESSOR_RETRY: Duration = Duration::from_secs(5);
/// The most one socket read takes: tungstenite zeroes that much before each read, even an empty one.
const READ_CHUNK: usize = 16 * 1024;

/// One subscription watched for staleness: the event kind and symbol its data arrives as.
#[derive(Debug)]
struct Watch {
    channel: Channel,
    kind: EventKind,
    symbol: Symbol,
    raw_symbol: Arc<str>,
    window: Duration,
}

fn event_kind(channel: Channel) -> EventKind {
    match channel {
        Channel::Trades | Channel::AggTrades => EventKind::Trade,
        Channel::Bbo => EventKind::Quote,
        Channel::Book => EventKind::Book,
    }
}

/// A group of subscriptions and the connection loop that serves them.
pub(super) struct Shard {
    pub(super) config: Arc<ExchangeSourceConfig>,
    pub(super) exchange: Exchange,
    pub(super) subs: Vec<Subscription>,
    pub(super) venue: Box<dyn Venue>,
    pub(super) tx: mpsc::Sender<Vec<Event>>,
    pub(super) tls: Arc<ClientConfig>,
    /// The REST client for book snapshots.
    pub(super) rest: RestClient,
    pub(super) backoff: Backoff,
    /// Connection ids of the whole source, so each connection of each shard has its own.
    pub(super) connection_ids: Arc<AtomicU64>,
    pub(super) connection_id: u64,
    pub(super) rejected: HashMap<RejectReason, u64>,
    pub(super) last_backpressure_report: Option<Instant>,
    pub(super) capture: Option<Arc<Capture>>,
    pub(super) counters: ShardCounters,
}

impl Shard {
    /// Connects, serves and reconnects until the receiving side of the events channel is dropped.
    pub(super) async fn run(mut self) -> Result<(), Error> {
        let url = self.venue.url(self.config.ws_url(), &self.subs)?;
        loop {
            self.connection_id = self.connection_ids.fetch_add(1, Ordering::Relaxed) + 1;
            self.venue.reset();
            let reason = match self.connect(&url).await {
                Err(e) => e.to_string(),
                Ok(ws) => {
                    if self
                        .status(FeedState::Connected, None, format!("connected to {url}"))
                        .await
                        .is_err()
                    {
                        return Ok(());
                    }
                    let started = Instant::now();
                    let ended = self.session(ws, &url).await;
                    if started.elapsed() >= self.backoff.reset_after() {
                        self.backoff.reset();
                    }
                    match ended {
                        Ok(reason) => reason,
                        Err(DownstreamClosed) => return Ok(()),
                    }
                }
            };
            tracing::info!(exchange = %self.exchange, connection = self.connection_id, %reason, "disconnected");
            let delay = self.backoff.next_delay();
            metrics::counter!("tickstream_connector_reconnects_total", "exchange" => self.exchange.as_str()).increment(1);
            let detail = format!("reconnecting in {} ms", delay.as_millis());
            if self
                .status(FeedState::Disconnected, None, reason)
                .await
                .is_err()
                || self
                    .status(FeedState::Reconnecting, None, detail)
                    .await
                    .is_err()
            {
                return Ok(());
            }
            tokio::time::sleep(delay).await;
        }
    }

    async fn connect(&self, url: &str) -> Result<WsStream, Error> {
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(READ_CHUNK)
            .max_message_size(Some(self.config.max_frame_bytes))
            .max_frame_size(Some(self.config.max_frame_bytes));
        let connector = if url.starts_with("wss:") {
            Connector::Rustls(self.tls.clone())
        } else {
            Connector::Plain
        };
        let connecting = tokio_tungstenite::connect_async_tls_with_config(
            url,
            Some(ws_config),
            true,
            Some(connector),
        );
        match tokio::time::timeout(self.config.connect_timeout, connecting).await {
            Ok(Ok((ws, _response))) => Ok(ws),
            Ok(Err(e)) => Err(Error::Connect {
                url: url.to_owned(),
                message: e.to_string(),
            }),
            Err(_) => Err(Error::Connect {
                url: url.to_owned(),
                message: format!("no connection within {:?}", self.config.connect_timeout),
            }),
        }
    }

    /// Sends the subscription frames at the venue's pace.
    async fn subscribe(
        &self,
        venue: &dyn Venue,
        sink: &mut SplitSink<WsStream, Message>,
    ) -> Result<(), String> {
        let pace = venue.profile().limits.subscribe_frame_interval;
        for (i, frame) in venue.subscribe_frames(&self.subs).into_iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(pace).await;
            }
            if let Err(e) = sink.send(Message::text(frame)).await {
                return Err(format!("subscribe failed: {e}"));
            }
        }
        Ok(())
    }

    /// Opens, announces and subscribes the connection that takes over from the current one.
    async fn open_successor(&mut self, url: &str) -> Result<Option<Successor>, DownstreamClosed> {
        let ws = match self.connect(url).await {
            Ok(ws) => ws,
            Err(e) => {
                tracing::warn!(exchange = %self.exchange, error = %e, "no successor connection; trying again");
                return Ok(None);
            }
        };
        let id = self.connection_ids.fetch_add(1, Ordering::Relaxed) + 1;
        let detail = format!(
            "connected to {url} to take over from connection {}",
            self.connection_id
        );
        self.status_on(id, FeedState::Connected, None, detail)
            .await?;
        let mut next = Successor::new(
            id,
            ws,
            self.config
                .venue_for(&self.subs, crate::BookMode::Snapshots),
            &self.subs,
        );
        if let Err(e) = self.subscribe(&*next.venue, &mut next.sink).await {
            tracing::warn!(exchange = %self.exchange, error = %e, "successor connection failed; trying again");
            return Ok(None);
        }
        Ok(Some(next))
    }

    /// One connection's life (and its successors' after rotations); returns why it should be renewed.
    async fn session(&mut self, ws: WsStream, url: &str) -> Result<String, DownstreamClosed> {
        let (mut sink, mut stream) = ws.split();
        if let Err(reason) = self.subscribe(&*self.venue, &mut sink).await {
            return Ok(reason);
        }
        let rotate_every = self.config.connection_age().map(rotate_after);
        let mut rotate_at = rotate_every.map(|every| Instant::now() + every);
        let mut successor: Option<Successor> = None;
        let mut dedup: Option<TradeDedup> = None;
        let keepalive = self.venue.profile().keepalive.clone();
        let start = Instant::now();
        let watches: Vec<Watch> = self
            .subs
            .iter()
            .map(|s| Watch {
                channel: s.channel,
                kind: event_kind(s.channel),
                symbol: s.symbol.clone(),
                raw_symbol: s.raw_symbol.as_str().into(),
                window: self.config.staleness_of(s.channel),
            })
            .collect();
        let mut last_data: HashMap<(EventKind, Symbol), Instant> = watches
            .iter()
            .map(|w| ((w.kind, w.symbol.clone()), start))
            .collect();
        let mut last_frame = start;
        let mut last_ping = start;
        let mut tick = tokio::time::interval(TICK);
        let mut fetches: JoinSet<(u64, String, Result<String, Error>)> = JoinSet::new();
        let mut in_flight: HashSet<(u64, String)> = HashSet::new();
        let mut out = Vec::new();
        let mut signals = Vec::new();
        loop {
            if let Some(next) = successor.take_if(|next| next.ready(Instant::now())) {
                let old = self.connection_id;
                let (events, filter) = self.take_over(next, &mut sink, &mut stream);
                let detail = format!(
                    "connection {old} retired: connection {} took over",
                    self.connection_id
                );
                tracing::info!(exchange = %self.exchange, %detail, "rotated");
                self.status_on(old, FeedState::Disconnected, None, detail)
                    .await?;
                in_flight.retain(|(id, _)| *id == self.connection_id);
                out.extend(events);
                dedup = Some(filter);
                rotate_at = rotate_every.map(|every| Instant::now() + every);
                (last_frame, last_ping) = (Instant::now(), Instant::now());
            } else {
                tokio::select! {
                    message = stream.next() => {
                        let received = Instant::now();
                        let message = match message {
                            None => return Ok("the venue closed the connection".into()),
                            Some(Err(tungstenite::Error::Capacity(e))) => {
                                self.reject(ParseError::new(RejectReason::Oversized, e.to_string())).await?;
                                return Ok(format!("oversized frame: {e}"));
                            }
                            Some(Err(e)) => return Ok(format!("read failed: {e}")),
                            Some(Ok(message)) => message,
                        };
                        last_frame = received;
                        match message {
                            Message::Text(text) => {
                                let ts_recv = UnixNanos::now();
                                self.counters.frames.increment(1);
                                self.capture_frame(ts_recv, self.connection_id, &text).await?;
                                if let Err(e) = self.venue.parse(text.as_str(), ts_recv, &mut out) {
                                    self.reject(e).await?;
                                }
                            }
                            Message::Binary(bytes) => {
                                self.reject(ParseError::new(RejectReason::BinaryFrame, format!("{} bytes", bytes.len()))).await?;
                            }
                            Message::Close(frame) => {
                                let why = frame.map_or_else(|| "no reason".to_owned(), |f| format!("{} {}", f.code, f.reason));
                                return Ok(format!("the venue closed the connection: {why}"));
                            }
                            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                        }
                    }
                    message = successor_frame(&mut successor) => {
                        let Some(next) = successor.as_mut() else { continue };
                        match message {
                            Some(Ok(Message::Text(text))) => {
                                let ts_recv = UnixNanos::now();
                                self.counters.frames.increment(1);
                                self.capture_frame(ts_recv, next.connection_id, &text).await?;
                                if let Err(e) = next.venue.parse(text.as_str(), ts_recv, &mut next.pending) {
                                    self.reject(e).await?;
                                }
                            }
                            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                            Some(Ok(Message::Binary(bytes))) => {
                                self.reject(ParseError::new(RejectReason::BinaryFrame, format!("{} bytes", bytes.len()))).await?;
                            }
                            ended => {
                                tracing::warn!(exchange = %self.exchange, ?ended, "the successor connection ended; trying again");
                                successor = None;
                                rotate_at = Some(Instant::now() + SUCCESSOR_RETRY);
                                continue;
                            }
                        }
                        next.venue.drain_signals(&mut signals);
                        let id = next.connection_id;
                        for signal in signals.drain(..) {
                            match signal {
                                VenueSignal::Subscribed { detail } => {
                                    self.status_on(id, FeedState::Subscribed, None, detail).await?;
                                }
                                VenueSignal::FetchSnapshot { raw_symbol, url } => {
                                    if in_flight.insert((id, raw_symbol.clone())) {
                                        fetches.spawn(fetch_snapshot(id, raw_symbol, url, self.rest.clone(), Duration::ZERO));
                                    }
                                }
                                VenueSignal::Reconnect { reason } => {
                                    tracing::warn!(exchange = %self.exchange, %reason, "the successor connection must reconnect; trying again");
                                    successor = None;
                                    rotate_at = Some(Instant::now() + SUCCESSOR_RETRY);
                                    break;
                                }
                                VenueSignal::Send { frames, .. } => {
                                    for frame in frames {
                                        let _ = next.sink.send(Message::text(frame)).await;
                                    }
                                }
                            }
                        }
                        continue;
                    }
                    Some(done) = fetches.join_next(), if !fetches.is_empty() => {
                        let Ok((id, raw_symbol, result)) = done else { continue };
                        let venue = match successor.as_mut() {
                            _ if id == self.connection_id => Some((&mut self.venue, &mut out)),
                            Some(next) if id == next.connection_id => Some((&mut next.venue, &mut next.pending)),
                            _ => None,
                        };
                        // A snapshot for a connection that was retired.
                        let Some((venue, produced)) = venue else { continue };
                        match result {
                            Ok(body) => {
                                in_flight.remove(&(id, raw_symbol.clone()));
                                if let Err(e) = venue.apply_snapshot(&raw_symbol, &body, UnixNanos::now(), produced) {
                                    self.reject(e).await?;
                                }
                            }
                            Err(e) => {
                                tracing::warn!(exchange = %self.exchange, %raw_symbol, error = %e, "book snapshot fetch failed; retrying");
                                let url = match &e { Error::Http { url, .. } => url.clone(), _ => String::new() };
                                fetches.spawn(fetch_snapshot(id, raw_symbol, url, self.rest.clone(), SNAPSHOT_RETRY));
                            }
                        }
                    }
                    _ = tick.tick() => {
                        let at = Instant::now();
                        if successor.is_none() && rotate_at.is_some_and(|due| at >= due) {
                            successor = self.open_successor(url).await?;
                            if successor.is_none() {
                                rotate_at = Some(Instant::now() + SUCCESSOR_RETRY);
                            }
                        }
                        if at.duration_since(last_frame) > keepalive.idle_timeout {
                            let detail = format!("no frames for {:?}", keepalive.idle_timeout);
                            self.status(FeedState::Stale, None, detail.clone()).await?;
                            return Ok(detail);
                        }
                        for watch in &watches {
                            let last = last_data.get(&(watch.kind, watch.symbol.clone())).copied().unwrap_or(start);
                            if at.duration_since(last) > watch.window {
                                let detail = format!("no {} data for {:?}", watch.channel.as_str(), watch.window);
                                self.status(FeedState::Stale, Some((&watch.symbol, &watch.raw_symbol)), detail.clone()).await?;
                                return Ok(format!("{} {detail}", watch.symbol));
                            }
                        }
                        if let Some(every) = keepalive.ping_interval
                            && at.duration_since(last_ping) >= every
                        {
                            last_ping = at;
                            let ping = match self.venue.profile().ping_frame {
                                Some(text) => Message::text(text),
                                None => Message::Ping(Vec::new().into()),
                            };
                            if let Err(e) = sink.send(ping).await {
                                return Ok(format!("ping failed: {e}"));
                            }
                        }
                        continue;
                    }
                }
            }
            // Publish what the frame or snapshot produced as one batch, then act on the parser's signals.
            let seen = Instant::now();
            let mut batch = Vec::with_capacity(out.len());
            for event in out.drain(..) {
                if let Some(symbol) = event.symbol()
                    && matches!(
                        event.kind(),
                        EventKind::Trade | EventKind::Quote | EventKind::Book
                    )
                    && let Some(last) = last_data.get_mut(&(event.kind(), symbol.clone()))
                {
                    *last = seen;
                }
                if let Some(filter) = &mut dedup {
                    if !filter.admit(&event) {
                        continue;
                    }
                    if filter.is_done() {
                        dedup = None;
                    }
                }
                if let Some(next) = &mut successor {
                    next.published(&event);
                }
                let event = match event {
                    Event::Status(mut s) => {
                        s.connection_id = Some(self.connection_id);
                        Event::Status(s)
                    }
                    other => other,
                };
                batch.push(event);
            }
            if !batch.is_empty() {
                self.emit(batch).await?;
            }
            self.venue.drain_signals(&mut signals);
            for signal in signals.drain(..) {
                match signal {
                    VenueSignal::Subscribed { detail } => {
                        self.status(FeedState::Subscribed, None, detail).await?
                    }
                    VenueSignal::FetchSnapshot { raw_symbol, url } => {
                        if in_flight.insert((self.connection_id, raw_symbol.clone())) {
                            fetches.spawn(fetch_snapshot(
                                self.connection_id,
                                raw_symbol,
                                url,
                                self.rest.clone(),
                                Duration::ZERO,
                            ));
                        }
                    }
                    VenueSignal::Reconnect { reason } => return Ok(reason),
                    VenueSignal::Send { frames, reason } => {
                        tracing::info!(exchange = %self.exchange, %reason, "resubscribing");
                        for frame in frames {
                            if let Err(e) = sink.send(Message::text(frame)).await {
                                return Ok(format!("resubscribe failed: {e}"));
                            }
                        }
                    }
                }
            }
        }
    }

    /// The successor becomes the current connection: its parser, its socket and its connection id. The
    /// old socket is closed. Returns the successor's held-back events and the duplicate-trade filter.
    fn take_over(
        &mut self,
        mut next: Successor,
        sink: &mut SplitSink<WsStream, Message>,
        stream: &mut SplitStream<WsStream>,
    ) -> (Vec<Event>, TradeDedup) {
        let (mut events, filter) = next.take_over();
        for event in &mut events {
            if let Event::Status(s) = event {
                s.connection_id = Some(next.connection_id);
            }
        }
        std::mem::swap(&mut self.venue, &mut next.venue);
        let mut old_sink = std::mem::replace(sink, next.sink);
        *stream = next.stream;
        self.connection_id = next.connection_id;
        // The venue sees the close when the old socket is dropped; nothing more is read from it.
        tokio::spawn(async move {
            let _ = old_sink.send(Message::Close(None)).await;
        });
        (events, filter)
    }
}

/// Fetches a snapshot for the parser of connection `connection_id`.
async fn fetch_snapshot(
    connection_id: u64,
    raw_symbol: String,
    url: String,
    rest: RestClient,
    delay: Duration,
) -> (u64, String, Result<String, Error>) {
    tokio::time::sleep(delay).await;
    let result = rest.get_text(&url).await;
    (connection_id, raw_symbol, result)
}
