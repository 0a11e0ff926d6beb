//! `ConnectionState`: what every venue keeps for one connection and handles the same way, the
//! subscribed symbols, the books by venue symbol, the book mode and the signals for the runner.

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

    /// Moves the pending signals into `signals`.
    pub fn drain_signals(&mut self, signals: &mut Vec<VenueSignal>) {
        signals.append(&mut self.signals);
    }

    /// Forgets the pending signals and resets every book with `reset_book`, before a new connection.
    pub fn reset(&mut self, reset_book: impl FnMut(&mut B)) {
        self.signals.clear();
        self.books.values_mut().for_each(reset_book);
    }
}
