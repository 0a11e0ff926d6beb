//! `ConnectionState`: what every venue keeps for one connection and handles the same way, the
//! subscribed symbols, the books by venue symbol, the book mode and the signals for the runner, and
//! the traits through which [`crate::Venue`] drains the signals and resets the books.

use std::collections::HashMap;
use std::sync::Arc;

use tickstream_model::Symbol;

use crate::symbols::SymbolMap;
use crate::{BookMode, ParseError, RejectReason, Subscription, VenueSignal};

/// A venue's rule for a symbol it was not subscribed to (`BTCUSDT` → `BTC-USDT`).
pub type SymbolRule = fn(&str) -> Option<Symbol>;

/// One connection's symbols, books and pending signals.
#[derive(Debug)]
pub struct ConnectionState<B> {
    pub symbols: SymbolMap,
    pub books: HashMap<String, B>,
    pub mode: BookMode,
    pub signals: Vec<VenueSignal>,
    rule: SymbolRule,
    /// What the venue calls a symbol (`pair`, `instrument`), for rejections.
    what: &'static str,
}

impl<B> ConnectionState<B> {
    /// The state for `subs`, each venue symbol kept as `key` writes it (the venue's case).
    pub fn new(
        subs: &[Subscription],
        key: fn(&str) -> String,
        rule: SymbolRule,
        what: &'static str,
        mode: BookMode,
    ) -> ConnectionState<B> {
        let mut symbols = SymbolMap::new();
        for sub in subs {
            symbols.insert(&key(&sub.raw_symbol), sub.symbol.clone());
        }
        ConnectionState {
            symbols,
            books: HashMap::new(),
            mode,
            signals: Vec::new(),
            rule,
            what,
        }
    }

    /// The canonical symbol of a venue symbol, or an `invalid_symbol` rejection.
    pub fn resolve(&mut self, raw: &str) -> Result<(Symbol, Arc<str>), ParseError> {
        self.symbols.resolve_or_reject(raw, self.rule, self.what)
    }

    /// Asks the runner to fetch the REST book snapshot of the venue symbol `raw` from `url`.
    pub fn fetch_snapshot(&mut self, raw: &str, url: String) {
        self.signals.push(VenueSignal::FetchSnapshot {
            raw_symbol: raw.to_owned(),
            url,
        });
    }

    /// A venue's answer to a request (`subscribe`, `unsubscribe`, `ping`): a refusal is a
    /// `venue_error` rejection quoting `message`; an accepted `subscribe` is reported as subscribed.
    pub fn answer(
        &mut self,
        request: &str,
        success: Option<bool>,
        message: Option<&str>,
    ) -> Result<(), ParseError> {
        if success == Some(false) {
            return Err(ParseError::new(
                RejectReason::VenueError,
                format!("{request}: {}", message.unwrap_or_default()),
            ));
        }
        if request == "subscribe" {
            self.signals.push(VenueSignal::Subscribed {
                detail: "subscribe acknowledged".into(),
            });
        }
        Ok(())
    }
}

/// A book a venue keeps for one symbol of a connection.
pub trait ConnectionBook {
    /// Forgets the book before a new connection: it waits for a new snapshot.
    fn reset(&mut self);
}

/// What the runner asks of a venue's per-connection state, through the default methods of
/// [`crate::Venue`]: the pending signals, and forgetting it all before a new connection.
pub trait ConnectionLifecycle {
    /// Moves the pending signals into `signals`.
    fn drain_signals(&mut self, signals: &mut Vec<VenueSignal>);

    /// Forgets the pending signals and resets every book, before a new connection.
    fn reset(&mut self);
}

impl<B: ConnectionBook> ConnectionLifecycle for ConnectionState<B> {
    fn drain_signals(&mut self, signals: &mut Vec<VenueSignal>) {
        signals.append(&mut self.signals);
    }

    fn reset(&mut self) {
        self.signals.clear();
        self.books.values_mut().for_each(ConnectionBook::reset);
    }
}
