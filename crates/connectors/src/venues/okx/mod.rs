//! OKX v5 public (`wss://ws.okx.com:8443/ws/v5/public`): `trades`, `bbo-tbt` (BBO) and `books` (a
//! snapshot, then updates) for spot, swaps (`-PERP`) and dated futures on one socket, with the text
//! `ping` keepalive.
//!
//! A book update, as documented at
//! <https://www.okx.com/docs-v5/en/#order-book-trading-market-data-ws-order-book-channel>:
//! `{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["8476.98","415","0","13"],...],
//! "bids":[...],"ts":"1597026383085","checksum":0,"prevSeqId":123456,"seqId":123457}]}`.
//!
//! Continuity is checked by sequence: an update's `prevSeqId` must equal the previous message's `seqId`
//! (the snapshot has `prevSeqId` -1; a `seqId` below `prevSeqId` is OKX's documented reset and is
//! accepted). The `checksum` field is deprecated and always 0 in production, so it is not read. A
//! break reports `gap` (expected = the last `seqId`, received = the update's `prevSeqId`),
//! unsubscribes and subscribes the instrument's book again, and reports `resync` with the new snapshot.

pub mod messages;
pub mod parse;

use std::time::Duration;

use tickstream_model::{Event, Exchange, UnixNanos};

use messages::{BookMsg, Envelope, TradeMsg};

use crate::fields::{millis_value, raw_items};
use crate::tracked_book::{TrackedBook, unsynced_delta};
use crate::venues::connection_state::{ConnectionLifecycle, ConnectionState};
use crate::{
    BookMode, Channel, Keepalive, ParseError, RejectReason, Subscription, Venue, VenueLimits,
    VenueProfile, VenueSignal,
};

/// What the venue declares: endpoint, keepalive and limits.
pub const PROFILE: VenueProfile = VenueProfile {
    exchange: Exchange::Okx,
    default_ws_url: "wss://ws.okx.com:8443/ws/v5/public",
    // The server drops a connection after 30 s without data; a `ping` every 25 s keeps quiet ones.
    keepalive: Keepalive {
        ping_interval: Some(Duration::from_secs(25)),
        idle_timeout: Duration::from_secs(30),
    },
    ping_frame: Some("ping"),
    // OKX advises fewer than 30 book channels per connection.
    limits: VenueLimits {
        max_streams_per_connection: 30,
        subscribe_frame_interval: Duration::from_millis(350),
        max_connection_age: None,
    },
};

/// Channel arguments per `subscribe` request.
const ARGS_PER_REQUEST: usize = 100;

/// The venue's channel name for ours.
pub fn channel_name(channel: Channel) -> Option<&'static str> {
    match channel {
        Channel::Trades => Some("trades"),
        Channel::Bbo => Some("bbo-tbt"),
        Channel::Book => Some("books"),
        Channel::AggTrades => None,
    }
}

fn request(op: &str, args: &[(&str, &str)]) -> String {
    let args: Vec<serde_json::Value> = args
        .iter()
        .map(|(channel, inst)| serde_json::json!({"channel": channel, "instId": inst}))
        .collect();
    serde_json::json!({"op": op, "args": args}).to_string()
}

/// The OKX v5 public venue for one connection.
#[derive(Debug)]
pub struct Okx {
    state: ConnectionState<TrackedBook>,
}

impl Okx {
    pub fn new(subs: &[Subscription], mode: BookMode) -> Okx {
        Okx {
            state: ConnectionState::new(
                subs,
                str::to_owned,
                parse::inst_symbol,
                "instrument",
                mode,
            ),
        }
    }

    /// The book of an instrument, if `books` data was seen for it.
    pub fn book(&self, inst_id: &str) -> Option<&crate::L2Book> {
        self.state.books.get(inst_id).map(|b| &b.book)
    }

    fn on_book(
        &mut self,
        inst_id: &str,
        snapshot: bool,
        msg: &BookMsg<'_>,
        ts_recv: UnixNanos,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        let (symbol, raw) = self.state.resolve(inst_id)?;
        let sym = (&symbol, &raw);
        let bids = parse::parse_levels(&msg.bids)?;
        let asks = parse::parse_levels(&msg.asks)?;
        let ts = (millis_value(msg.ts)?, ts_recv);
        let seq = msg.seq_id.and_then(|s| u64::try_from(s).ok());
        let prev = msg.prev_seq_id.and_then(|s| u64::try_from(s).ok());
        let book = self.state.books.entry(raw.to_string()).or_default();
        if snapshot {
            book.book.apply_snapshot(&bids, &asks, seq);
            book.publish_snapshot(Exchange::Okx, sym, ts, out);
            return Ok(());
        }
        if !book.is_synced() {
            if self.state.mode == BookMode::Unsynced {
                out.push(unsynced_delta(Exchange::Okx, sym, (bids, asks), seq, ts));
            }
            return Ok(());
        }
        let at = book.book.sequence();
        if prev != at {
            book.break_with_gap(
                Exchange::Okx,
                sym,
                at,
                prev,
                format!(
                    "books update follows seqId {} but the book is at {}",
                    msg.prev_seq_id.unwrap_or(-1),
                    at.map_or_else(|| "none".to_owned(), |s| s.to_string())
                ),
                ts_recv,
                out,
            );
            let arg = [("books", inst_id)];
            self.state.signals.push(VenueSignal::Send {
                frames: vec![request("unsubscribe", &arg), request("subscribe", &arg)],
                reason: format!("books sequence break on {inst_id}"),
            });
            return Ok(());
        }
        if let Some(seq) = seq {
            book.book.set_sequence(seq);
        }
        if bids.is_empty() && asks.is_empty() {
            // OKX's keep-alive update: same seqId, nothing changed.
            return Ok(());
        }
        book.book.apply_delta(&bids, &asks);
        let at = book.publish_delta(Exchange::Okx, sym, (bids, asks), seq, ts, out);
        if let Some(Event::Book(update)) = out.get_mut(at) {
            update.prev_sequence = prev;
        }
        Ok(())
    }
}

impl Venue for Okx {
    fn profile(&self) -> &'static VenueProfile {
        &PROFILE
    }

    fn subscribe_frames(&self, subs: &[Subscription]) -> Vec<String> {
        let args: Vec<(&str, &str)> = subs
            .iter()
            .filter_map(|s| Some((channel_name(s.channel)?, s.raw_symbol.as_str())))
            .collect();
        args.chunks(ARGS_PER_REQUEST)
            .map(|chunk| request("subscribe", chunk))
            .collect()
    }

    fn parse(
        &mut self,
        frame: &str,
        ts_recv: UnixNanos,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        if frame == "pong" {
            return Ok(());
        }
        let env: Envelope<'_> = serde_json::from_str(frame).map_err(ParseError::json)?;
        match env.event {
            Some("error") => {
                return Err(ParseError::new(
                    RejectReason::VenueError,
                    format!(
                        "code {}: {}",
                        env.code.unwrap_or_default(),
                        env.msg.unwrap_or_default()
                    ),
                ));
            }
            Some("subscribe") => {
                let channel = env.arg.as_ref().map_or("", |a| a.channel);
                self.state.signals.push(VenueSignal::Subscribed {
                    detail: format!("{channel} subscribed"),
                });
                return Ok(());
            }
            Some("notice") => {
                // Code 64008: OKX closes the connection for a service upgrade in about 30 s; a new
                // connection now loses nothing.
                if env.code.as_deref() == Some("64008") {
                    self.state.signals.push(VenueSignal::Reconnect {
                        reason: format!("notice 64008: {}", env.msg.unwrap_or_default()),
                    });
                }
                return Ok(());
            }
            Some("unsubscribe") => return Ok(()),
            Some(other) => {
                return Err(ParseError::unknown_message("event", other));
            }
            None => {}
        }
        let Some(arg) = env.arg.as_ref() else {
            return Err(ParseError::new(
                RejectReason::UnknownMessage,
                "message without an arg",
            ));
        };
        match arg.channel {
            "trades" => {
                for msg in raw_items::<TradeMsg<'_>>(env.data)? {
                    let sym = self.state.resolve(msg.inst_id)?;
                    out.push(Event::Trade(parse::parse_trade(&msg, sym, ts_recv)?));
                }
            }
            "bbo-tbt" => {
                let inst = arg.inst_id.unwrap_or_default();
                for msg in raw_items::<BookMsg<'_>>(env.data)? {
                    let sym = self.state.resolve(inst)?;
                    out.extend(parse::parse_bbo(&msg, sym, ts_recv)?.map(Event::Quote));
                }
            }
            "books" => {
                let inst = arg.inst_id.unwrap_or_default();
                let snapshot = match env.action {
                    Some("snapshot") => true,
                    Some("update") => false,
                    other => {
                        return Err(ParseError::unknown_message("books action", other));
                    }
                };
                for msg in raw_items::<BookMsg<'_>>(env.data)? {
                    self.on_book(inst, snapshot, &msg, ts_recv, out)?;
                }
            }
            other => {
                return Err(ParseError::unknown_message("channel", other));
            }
        }
        Ok(())
    }

    fn connection(&mut self) -> &mut dyn ConnectionLifecycle {
        &mut self.state
    }
}
