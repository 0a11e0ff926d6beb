//! The Coinbase Exchange feed (`ws-feed.exchange.coinbase.com`) as venue `coinbase-exchange`: `matches`,
//! `ticker`, `level2_batch` (a `snapshot`, then `l2update`s) and `heartbeat`.
//!
//! `level2_batch` messages carry no sequence number, so a lost message cannot be detected on this
//! channel; the book is rebuilt from the snapshot the venue sends on every (re)subscription.
//!
//! A match, as documented at <https://docs.cdp.coinbase.com/exchange/websocket-feed/channels>:
//! `{"type":"match","trade_id":10,"sequence":50,...,"product_id":"BTC-USD","size":"5.23512","price":"400.23","side":"sell"}`.

pub mod messages;

use std::time::Duration;

use tickstream_model::{
    BookAction, Event, Exchange, FeedState, Level, Quote, Symbol, Trade, UnixNanos,
};

use messages::{ErrorMsg, L2UpdateMsg, MatchMsg, SnapshotMsg, TickerMsg};

use crate::book::{L2Book, Side};
use crate::fields::{
    book_event, level, levels, peek_string_field, quote, rfc3339, snapshot_event, status,
    top_quote, trade,
};
use crate::venues::coinbase::ProductBook;
use crate::venues::coinbase::parse::{aggressor_from_maker, book_side, product_symbol};
use crate::venues::connection_state::{ConnectionLifecycle, ConnectionState};
use crate::{
    BookMode, Channel, Keepalive, ParseError, RejectReason, Subscription, Venue, VenueLimits,
    VenueProfile, VenueSignal,
};

/// What the venue declares: endpoint, keepalive and limits.
pub const PROFILE: VenueProfile = VenueProfile {
    exchange: Exchange::CoinbaseExchange,
    default_ws_url: "wss://ws-feed.exchange.coinbase.com",
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
        Channel::Trades => Some("matches"),
        Channel::Bbo => Some("ticker"),
        Channel::Book => Some("level2_batch"),
        Channel::AggTrades => None,
    }
}

fn typed<'a, T: serde::Deserialize<'a>>(text: &'a str) -> Result<T, ParseError> {
    serde_json::from_str(text).map_err(ParseError::json)
}

/// A `match` as a trade; the trade's side is the aggressor's, the opposite of the maker side sent.
pub fn parse_match(
    msg: &MatchMsg<'_>,
    symbol: (Symbol, std::sync::Arc<str>),
    ts_recv: UnixNanos,
) -> Result<Trade, ParseError> {
    trade(
        Exchange::CoinbaseExchange,
        symbol,
        (rfc3339(msg.time)?, ts_recv),
        msg.trade_id.to_string(),
        [msg.price, msg.size],
        aggressor_from_maker(msg.side),
    )
}

/// A ticker's BBO; `None` when the ticker lacks the best bid or ask or their sizes.
pub fn parse_ticker(
    msg: &TickerMsg<'_>,
    symbol: (Symbol, std::sync::Arc<str>),
    ts_recv: UnixNanos,
) -> Result<Option<Quote>, ParseError> {
    let (Some(bid), Some(bid_size), Some(ask), Some(ask_size)) = (
        msg.best_bid,
        msg.best_bid_size,
        msg.best_ask,
        msg.best_ask_size,
    ) else {
        return Ok(None);
    };
    let ts_event = match msg.time {
        Some(t) => rfc3339(t)?,
        None => ts_recv,
    };
    let ts = (ts_event, ts_recv);
    quote(
        Exchange::CoinbaseExchange,
        symbol,
        ts,
        [bid, bid_size],
        [ask, ask_size],
    )
    .map(Some)
}

/// An `l2update`'s changes split by side.
pub fn parse_changes(changes: &[[&str; 3]]) -> Result<(Vec<Level>, Vec<Level>), ParseError> {
    let mut bids = Vec::new();
    let mut asks = Vec::new();
    for [side, p, q] in changes {
        let level = level(p, q)?;
        match book_side(side)? {
            Side::Bid => bids.push(level),
            Side::Ask => asks.push(level),
        }
    }
    Ok((bids, asks))
}

/// The Coinbase Exchange feed venue for one connection.
#[derive(Debug)]
pub struct CoinbaseExchange {
    state: ConnectionState<ProductBook>,
}

impl CoinbaseExchange {
    pub fn new(subs: &[Subscription], mode: BookMode) -> CoinbaseExchange {
        CoinbaseExchange {
            state: ConnectionState::new(subs, str::to_owned, product_symbol, "product", mode),
        }
    }

    pub fn book(&self, product_id: &str) -> Option<&L2Book> {
        self.state.books.get(product_id).map(|b| &b.book)
    }

    fn on_snapshot(
        &mut self,
        msg: &SnapshotMsg<'_>,
        ts_recv: UnixNanos,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        let (symbol, raw) = self.state.resolve(msg.product_id)?;
        let (bids, asks) = (levels(&msg.bids)?, levels(&msg.asks)?);
        let sym = (&symbol, &raw);
        let product = self.state.books.entry(raw.to_string()).or_default();
        product.book.apply_snapshot(&bids, &asks, None);
        out.push(Event::Book(snapshot_event(
            Exchange::CoinbaseExchange,
            sym,
            &product.book,
            ts_recv,
            ts_recv,
        )));
        if std::mem::take(&mut product.broken) {
            out.push(Event::Status(status(
                Exchange::CoinbaseExchange,
                Some(sym),
                FeedState::Resync,
                "book rebuilt from a new level2 snapshot".into(),
                ts_recv,
            )));
        }
        out.extend(top_quote(
            Exchange::CoinbaseExchange,
            sym,
            &mut product.book,
            ts_recv,
            ts_recv,
        ));
        Ok(())
    }

    fn on_update(
        &mut self,
        msg: &L2UpdateMsg<'_>,
        ts_recv: UnixNanos,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        let (symbol, raw) = self.state.resolve(msg.product_id)?;
        let (bids, asks) = parse_changes(&msg.changes)?;
        let ts_event = match msg.time {
            Some(t) => rfc3339(t)?,
            None => ts_recv,
        };
        let sym = (&symbol, &raw);
        if self.state.mode == BookMode::Unsynced {
            let update = book_event(
                Exchange::CoinbaseExchange,
                sym,
                BookAction::Delta,
                bids,
                asks,
                false,
                ts_event,
                ts_recv,
            );
            out.push(Event::Book(update));
            return Ok(());
        }
        let product = self.state.books.entry(raw.to_string()).or_default();
        if !product.book.is_synced() {
            // Before the snapshot of this subscription: nothing whole to apply it to.
            return Ok(());
        }
        product.book.apply_delta(&bids, &asks);
        let update = book_event(
            Exchange::CoinbaseExchange,
            sym,
            BookAction::Delta,
            bids,
            asks,
            true,
            ts_event,
            ts_recv,
        );
        out.push(Event::Book(update));
        out.extend(top_quote(
            Exchange::CoinbaseExchange,
            sym,
            &mut product.book,
            ts_event,
            ts_recv,
        ));
        Ok(())
    }
}

impl Venue for CoinbaseExchange {
    fn profile(&self) -> &'static VenueProfile {
        &PROFILE
    }

    /// One `subscribe` listing every product and channel, with `heartbeat` for each product.
    fn subscribe_frames(&self, subs: &[Subscription]) -> Vec<String> {
        let mut products: Vec<&str> = subs.iter().map(|s| s.raw_symbol.as_str()).collect();
        products.sort_unstable();
        products.dedup();
        let mut channels: Vec<&str> = subs
            .iter()
            .filter_map(|s| channel_name(s.channel))
            .collect();
        channels.sort_unstable();
        channels.dedup();
        channels.push("heartbeat");
        vec![
            serde_json::json!({"type": "subscribe", "product_ids": products, "channels": channels})
                .to_string(),
        ]
    }

    fn parse(
        &mut self,
        frame: &str,
        ts_recv: UnixNanos,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        match peek_string_field(frame, "\"type\"") {
            Some("match" | "last_match") => {
                let msg: MatchMsg<'_> = typed(frame)?;
                let sym = self.state.resolve(msg.product_id)?;
                out.push(Event::Trade(parse_match(&msg, sym, ts_recv)?));
            }
            Some("ticker") => {
                let msg: TickerMsg<'_> = typed(frame)?;
                let sym = self.state.resolve(msg.product_id)?;
                out.extend(parse_ticker(&msg, sym, ts_recv)?.map(Event::Quote));
            }
            Some("snapshot") => self.on_snapshot(&typed(frame)?, ts_recv, out)?,
            Some("l2update") => self.on_update(&typed(frame)?, ts_recv, out)?,
            Some("heartbeat") => {}
            Some("subscriptions") => self.state.signals.push(VenueSignal::Subscribed {
                detail: "subscriptions confirmed".into(),
            }),
            Some("error") => {
                let msg: ErrorMsg<'_> = typed(frame)?;
                let detail = format!(
                    "{}: {}",
                    msg.message.unwrap_or_default(),
                    msg.reason.unwrap_or_default()
                );
                return Err(ParseError::new(RejectReason::VenueError, detail));
            }
            Some(other) => {
                return Err(ParseError::unknown_message("type", other));
            }
            None => {
                typed::<serde::de::IgnoredAny>(frame)?;
                return Err(ParseError::new(
                    RejectReason::UnknownMessage,
                    "message without a type",
                ));
            }
        }
        Ok(())
    }

    fn connection(&mut self) -> &mut dyn ConnectionLifecycle {
        &mut self.state
    }
}
