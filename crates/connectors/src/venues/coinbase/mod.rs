//! Coinbase Advanced Trade market data: `market_trades`, `ticker`, `level2` (messages on channel `l2_data`
//! with the connection's `sequence_num`) and `heartbeats`, which keeps quiet subscriptions open.
//!
//! A level2 message, as documented at
//! <https://docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/websocket/websocket-channels>:
//! `{"channel":"l2_data","timestamp":"...","sequence_num":0,"events":[{"type":"snapshot","product_id":"BTC-USD",
//! "updates":[{"side":"bid","event_time":"...","price_level":"21921.73","new_quantity":"0.06317902"}]}]}`.

pub mod messages;
pub mod parse;

use std::time::Duration;

use tickstream_model::{BookAction, Event, Exchange, FeedState, UnixNanos};

use messages::{ErrorMsg, L2Event, MarketTradesEvent, Message, TickerEvent};

use crate::book::L2Book;
use crate::fields::{
    book_event, gap, peek_string_field, rfc3339, snapshot_event, status, top_quote,
};
use crate::venues::connection_state::{ConnectionBook, ConnectionLifecycle, ConnectionState};
use crate::{
    BookMode, Channel, Keepalive, ParseError, RejectReason, Subscription, Venue, VenueLimits,
    VenueProfile, VenueSignal,
};

/// What the venue declares: endpoint, keepalive and limits.
pub const PROFILE: VenueProfile = VenueProfile {
    exchange: Exchange::Coinbase,
    default_ws_url: "wss://advanced-trade-ws.coinbase.com",
    // `heartbeats` arrive every second; silence means the connection is gone.
    keepalive: Keepalive {
        ping_interval: Some(Duration::from_secs(30)),
        idle_timeout: Duration::from_secs(30),
    },
    ping_frame: None,
    limits: VenueLimits {
        max_streams_per_connection: 1000,
        subscribe_frame_interval: Duration::from_millis(100),
        max_connection_age: None,
    },
};

/// The venue's channel name for ours.
pub fn channel_name(channel: Channel) -> Option<&'static str> {
    match channel {
        Channel::Trades => Some("market_trades"),
        Channel::Bbo => Some("ticker"),
        Channel::Book => Some("level2"),
        Channel::AggTrades => None,
    }
}

/// A product's book, on Advanced Trade and on the Exchange feed.
#[derive(Debug, Default)]
pub(crate) struct ProductBook {
    pub(crate) book: L2Book,
    /// Whole once, then broken by a gap or a reconnect: the next snapshot is a `resync`.
    pub(crate) broken: bool,
}

impl ConnectionBook for ProductBook {
    /// Before a new connection: the book waits for a new snapshot, which is a `resync` if the book
    /// was whole.
    fn reset(&mut self) {
        if self.book.is_synced() {
            self.broken = true;
        }
        self.book.invalidate();
    }
}

/// The Coinbase Advanced Trade venue for one connection.
#[derive(Debug)]
pub struct CoinbaseAdvanced {
    state: ConnectionState<ProductBook>,
    /// The connection-wide `sequence_num` last seen.
    last_sequence: Option<u64>,
}

impl CoinbaseAdvanced {
    pub fn new(subs: &[Subscription], mode: BookMode) -> CoinbaseAdvanced {
        CoinbaseAdvanced {
            state: ConnectionState::new(
                subs,
                str::to_owned,
                parse::product_symbol,
                "product",
                mode,
            ),
            last_sequence: None,
        }
    }

    /// The book of a product, if level2 data was seen for it.
    pub fn book(&self, product_id: &str) -> Option<&L2Book> {
        self.state.books.get(product_id).map(|b| &b.book)
    }

    /// `sequence_num` counts every message of the connection: a jump means messages were lost, so every
    /// book is broken until the venue sends new snapshots (after a reconnect).
    fn check_sequence(&mut self, sequence: u64, ts_recv: UnixNanos, out: &mut Vec<Event>) {
        let expected = self.last_sequence.map(|s| s + 1);
        self.last_sequence = Some(sequence);
        // 0 opens a connection's count (recordings may span connections); anything else must follow.
        let Some(expected) = expected.filter(|_| sequence != 0) else {
            return;
        };
        if sequence == expected {
            return;
        }
        let mut any_book = false;
        for (raw, product) in &mut self.state.books {
            if !product.book.is_synced() {
                continue;
            }
            any_book = true;
            product.book.invalidate();
            product.broken = true;
            if let Some((symbol, raw)) = self.state.symbols.get(raw) {
                let detail = format!("sequence_num {sequence} after {}", expected - 1);
                out.push(gap(
                    Exchange::Coinbase,
                    (symbol, raw),
                    Some(expected),
                    Some(sequence),
                    detail,
                    ts_recv,
                ));
            }
        }
        if any_book {
            self.state.signals.push(VenueSignal::Reconnect {
                reason: format!("sequence_num gap at {sequence}"),
            });
        } else {
            let mut s = status(
                Exchange::Coinbase,
                None,
                FeedState::Gap,
                format!("sequence_num {sequence} after {}", expected - 1),
                ts_recv,
            );
            s.expected_sequence = Some(expected);
            s.received_sequence = Some(sequence);
            out.push(Event::Status(s));
        }
    }

    /// Checks the message's sequence number.
    fn header<E>(&mut self, msg: &Message<'_, E>, ts_recv: UnixNanos, out: &mut Vec<Event>) {
        if let Some(sequence) = msg.sequence_num {
            self.check_sequence(sequence, ts_recv, out);
        }
    }

    fn on_l2(
        &mut self,
        event: &L2Event<'_>,
        sequence: Option<u64>,
        ts: (UnixNanos, UnixNanos),
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        let (ts_event, ts_recv) = ts;
        let (symbol, raw) = self.state.resolve(event.product_id)?;
        let (bids, asks) = parse::parse_l2_levels(&event.updates)?;
        let sym = (&symbol, &raw);
        let snapshot = match event.kind {
            "snapshot" => true,
            "update" => false,
            other => {
                return Err(ParseError::unknown_message("l2_data type", other));
            }
        };
        if self.state.mode == BookMode::Unsynced && !snapshot {
            let mut update = book_event(
                Exchange::Coinbase,
                sym,
                BookAction::Delta,
                bids,
                asks,
                false,
                ts_event,
                ts_recv,
            );
            update.sequence = sequence;
            out.push(Event::Book(update));
            return Ok(());
        }
        let product = self.state.books.entry(raw.to_string()).or_default();
        if snapshot {
            product.book.apply_snapshot(&bids, &asks, sequence);
            out.push(Event::Book(snapshot_event(
                Exchange::Coinbase,
                sym,
                &product.book,
                ts_event,
                ts_recv,
            )));
            if std::mem::take(&mut product.broken) {
                out.push(Event::Status(status(
                    Exchange::Coinbase,
                    Some(sym),
                    FeedState::Resync,
                    "book rebuilt from a new level2 snapshot".into(),
                    ts_recv,
                )));
            }
        } else if product.book.is_synced() {
            product.book.apply_delta(&bids, &asks);
            if let Some(seq) = sequence {
                product.book.set_sequence(seq);
            }
            let mut update = book_event(
                Exchange::Coinbase,
                sym,
                BookAction::Delta,
                bids,
                asks,
                true,
                ts_event,
                ts_recv,
            );
            update.sequence = sequence;
            out.push(Event::Book(update));
        } else {
            // A broken book waits for its snapshot; the gap was reported when it broke.
            return Ok(());
        }
        out.extend(top_quote(
            Exchange::Coinbase,
            sym,
            &mut product.book,
            ts_event,
            ts_recv,
        ));
        Ok(())
    }
}

fn typed<'a, T: serde::Deserialize<'a>>(text: &'a str) -> Result<T, ParseError> {
    serde_json::from_str(text).map_err(ParseError::json)
}

impl Venue for CoinbaseAdvanced {
    fn profile(&self) -> &'static VenueProfile {
        &PROFILE
    }

    /// One `subscribe` per channel (the venue takes one channel per message), then `heartbeats`.
    fn subscribe_frames(&self, subs: &[Subscription]) -> Vec<String> {
        let mut frames = Vec::new();
        for channel in [Channel::Trades, Channel::Bbo, Channel::Book] {
            let products: Vec<&str> = subs
                .iter()
                .filter(|s| s.channel == channel)
                .map(|s| s.raw_symbol.as_str())
                .collect();
            if let (Some(name), false) = (channel_name(channel), products.is_empty()) {
                frames.push(serde_json::json!({"type": "subscribe", "product_ids": products, "channel": name}).to_string());
            }
        }
        frames.push(serde_json::json!({"type": "subscribe", "channel": "heartbeats"}).to_string());
        frames
    }

    fn parse(
        &mut self,
        frame: &str,
        ts_recv: UnixNanos,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        match peek_string_field(frame, "\"channel\"") {
            Some("market_trades") => {
                let msg: Message<'_, MarketTradesEvent<'_>> = typed(frame)?;
                self.header(&msg, ts_recv, out);
                for event in &msg.events {
                    for trade in &event.trades {
                        let sym = self.state.resolve(trade.product_id)?;
                        out.push(Event::Trade(parse::parse_market_trade(
                            trade, sym, ts_recv,
                        )?));
                    }
                }
            }
            Some("ticker" | "ticker_batch") => {
                let msg: Message<'_, TickerEvent<'_>> = typed(frame)?;
                self.header(&msg, ts_recv, out);
                let ts_event = msg.timestamp.map_or(Ok(ts_recv), rfc3339)?;
                for event in &msg.events {
                    for ticker in &event.tickers {
                        let sym = self.state.resolve(ticker.product_id)?;
                        out.extend(
                            parse::parse_ticker(ticker, sym, ts_event, ts_recv)?.map(Event::Quote),
                        );
                    }
                }
            }
            Some("l2_data") => {
                let msg: Message<'_, L2Event<'_>> = typed(frame)?;
                self.header(&msg, ts_recv, out);
                let ts_event = msg.timestamp.map_or(Ok(ts_recv), rfc3339)?;
                for event in &msg.events {
                    self.on_l2(event, msg.sequence_num, (ts_event, ts_recv), out)?;
                }
            }
            Some("heartbeats") => {
                let msg: Message<'_, serde::de::IgnoredAny> = typed(frame)?;
                self.header(&msg, ts_recv, out);
            }
            Some("subscriptions") => {
                let msg: Message<'_, serde::de::IgnoredAny> = typed(frame)?;
                self.header(&msg, ts_recv, out);
                self.state.signals.push(VenueSignal::Subscribed {
                    detail: "subscriptions confirmed".into(),
                });
            }
            Some(other) => {
                return Err(ParseError::unknown_message("channel", other));
            }
            None => {
                let msg: ErrorMsg<'_> = typed(frame)?;
                if msg.kind == Some("error") {
                    return Err(ParseError::new(
                        RejectReason::VenueError,
                        msg.message.unwrap_or_default(),
                    ));
                }
                return Err(ParseError::new(
                    RejectReason::UnknownMessage,
                    "message without a channel",
                ));
            }
        }
        Ok(())
    }

    fn connection(&mut self) -> &mut dyn ConnectionLifecycle {
        &mut self.state
    }

    fn reset(&mut self) {
        self.last_sequence = None;
        self.state.reset();
    }
}
