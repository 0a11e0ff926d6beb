//! Binance spot: `trade`, `aggTrade`, `bookTicker` and `depth@100ms` joined to the REST `/api/v3/depth`
//! snapshot, over the combined-stream endpoint with `SUBSCRIBE` requests.
//!
//! A combined-stream trade frame, as documented at
//! <https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams>:
//! `{"stream":"bnbbtc@trade","data":{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001",...}}`.

mod depth;
pub mod messages;
pub mod parse;

use std::time::Duration;

use tickstream_model::{Event, Exchange, UnixNanos};

pub use depth::{DepthBook, DepthNeed, book_update};
use parse::{Frame, classify};

use crate::venues::connection_state::{ConnectionLifecycle, ConnectionState};
use crate::{
    BookMode, Channel, Error, Keepalive, ParseError, RejectReason, Subscription, Venue,
    VenueLimits, VenueProfile, VenueSignal,
};

/// What the venue declares: endpoint, keepalive and limits.
pub const PROFILE: VenueProfile = VenueProfile {
    exchange: Exchange::Binance,
    default_ws_url: "wss://stream.binance.com:9443",
    // The server pings every 20 s and expects pongs; we only watch for silence.
    keepalive: Keepalive {
        ping_interval: None,
        idle_timeout: Duration::from_secs(60),
    },
    ping_frame: None,
    // 1024 streams per connection; at most 5 incoming messages per second (pongs included); a
    // connection is closed after 24 hours.
    limits: VenueLimits {
        max_streams_per_connection: 1024,
        subscribe_frame_interval: Duration::from_millis(250),
        max_connection_age: Some(Duration::from_secs(24 * 3600)),
    },
};

pub const DEFAULT_REST_URL: &str = "https://api.binance.com";
/// Levels per side of the REST snapshot: request weight 50 (5000 levels weigh 250 of the 6000 per minute,
/// too much when many books resync at once); deeper levels arrive as they change.
const SNAPSHOT_LIMIT: usize = 1000;
/// Streams per `SUBSCRIBE` request.
const STREAMS_PER_REQUEST: usize = 200;

/// The venue's stream name for a subscription: `btcusdt@trade`, `btcusdt@depth@100ms`.
pub fn stream_name(sub: &Subscription) -> String {
    let symbol = sub.raw_symbol.to_ascii_lowercase();
    let kind = match sub.channel {
        Channel::Trades => "trade",
        Channel::AggTrades => "aggTrade",
        Channel::Bbo => "bookTicker",
        Channel::Book => "depth@100ms",
    };
    format!("{symbol}@{kind}")
}

/// The Binance spot venue for one connection.
#[derive(Debug)]
pub struct Binance {
    state: ConnectionState<DepthBook>,
    rest_url: String,
}

impl Binance {
    /// A venue serving `subs`; REST snapshots come from `rest_url` (`https://api.binance.com` or the
    /// simulator).
    pub fn new(subs: &[Subscription], rest_url: &str, mode: BookMode) -> Binance {
        Binance {
            state: ConnectionState::new(
                subs,
                str::to_ascii_uppercase,
                parse::symbol_from_suffix,
                "symbol",
                mode,
            ),
            rest_url: rest_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The book of a venue symbol, if depth was seen for it.
    pub fn book(&self, raw_symbol: &str) -> Option<&DepthBook> {
        self.state.books.get(raw_symbol)
    }

    fn snapshot_url(&self, raw: &str) -> String {
        format!(
            "{}/api/v3/depth?symbol={raw}&limit={SNAPSHOT_LIMIT}",
            self.rest_url
        )
    }
}

impl Venue for Binance {
    fn profile(&self) -> &'static VenueProfile {
        &PROFILE
    }

    fn url(&self, base: &str, _subs: &[Subscription]) -> Result<String, Error> {
        let base = base.trim_end_matches('/');
        if base.ends_with("/stream") {
            Ok(base.to_owned())
        } else {
            Ok(format!("{base}/stream"))
        }
    }

    fn subscribe_frames(&self, subs: &[Subscription]) -> Vec<String> {
        let streams: Vec<String> = subs.iter().map(stream_name).collect();
        streams
            .chunks(STREAMS_PER_REQUEST)
            .enumerate()
            .map(|(i, chunk)| {
                serde_json::json!({"method": "SUBSCRIBE", "params": chunk, "id": i + 1}).to_string()
            })
            .collect()
    }

    fn parse(
        &mut self,
        frame: &str,
        ts_recv: UnixNanos,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        match classify(frame)? {
            Frame::Trade(msg) => {
                let sym = self.state.resolve(msg.symbol)?;
                out.push(Event::Trade(parse::parse_trade(&msg, sym, ts_recv)?));
            }
            Frame::AggTrade(msg) => {
                let sym = self.state.resolve(msg.symbol)?;
                out.push(Event::Trade(parse::parse_agg_trade(&msg, sym, ts_recv)?));
            }
            Frame::BookTicker(msg) => {
                let sym = self.state.resolve(msg.symbol)?;
                out.push(Event::Quote(parse::parse_book_ticker(&msg, sym, ts_recv)?));
            }
            Frame::Depth(msg) => {
                let (symbol, raw) = self.state.resolve(msg.symbol)?;
                let update = parse::parse_depth_update(&msg)?;
                if self.state.mode == BookMode::Unsynced {
                    out.push(Event::Book(book_update(
                        (&symbol, &raw),
                        &update,
                        ts_recv,
                        false,
                    )));
                    return Ok(());
                }
                let book = self.state.books.entry(raw.to_string()).or_default();
                if book.on_update(update, (&symbol, &raw), ts_recv, out) == DepthNeed::Snapshot {
                    let url = self.snapshot_url(&raw);
                    self.state.fetch_snapshot(&raw, url);
                }
            }
            Frame::ServerShutdown(msg) => {
                self.state.signals.push(VenueSignal::Reconnect {
                    reason: format!("serverShutdown at {} ms", msg.event_time),
                });
            }
            Frame::Response(msg) => match msg.code {
                Some(code) => {
                    return Err(ParseError::new(
                        RejectReason::VenueError,
                        format!("code {code}: {}", msg.msg.unwrap_or_default()),
                    ));
                }
                None => self.state.signals.push(VenueSignal::Subscribed {
                    detail: format!("request {} acknowledged", msg.id.unwrap_or_default()),
                }),
            },
        }
        Ok(())
    }

    fn apply_snapshot(
        &mut self,
        raw_symbol: &str,
        body: &str,
        ts_recv: UnixNanos,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        let snapshot = parse::parse_depth_snapshot(body)?;
        let (symbol, raw) = self.state.resolve(raw_symbol)?;
        let book = self.state.books.entry(raw.to_string()).or_default();
        if book.on_snapshot(snapshot, (&symbol, &raw), ts_recv, out) == DepthNeed::Snapshot {
            let url = self.snapshot_url(&raw);
            self.state.fetch_snapshot(&raw, url);
        }
        Ok(())
    }

    fn connection(&mut self) -> &mut dyn ConnectionLifecycle {
        &mut self.state
    }
}
