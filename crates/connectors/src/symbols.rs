//! `SymbolMap`: the venue symbols a connection serves, mapped to canonical symbols once so that parsing
//! a frame is a lookup, not string building.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use tickstream_model::Symbol;

/// FNV-1a: venue symbols are short, known keys (no untrusted flooding concern for a lookup table built
/// from configuration), and it hashes them several times faster than SipHash.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Venue symbol → (canonical symbol, shared venue symbol text).
#[derive(Debug, Clone, Default)]
pub struct SymbolMap {
    by_raw: HashMap<Box<str>, (Symbol, Arc<str>), BuildHasherDefault<Fnv>>,
}

impl SymbolMap {
    pub fn new() -> SymbolMap {
        SymbolMap::default()
    }

    pub fn insert(&mut self, raw: &str, symbol: Symbol) {
        self.by_raw.insert(raw.into(), (symbol, raw.into()));
    }

    pub fn get(&self, raw: &str) -> Option<(&Symbol, &Arc<str>)> {
        self.by_raw.get(raw).map(|(s, r)| (s, r))
    }

    pub fn len(&self) -> usize {
        self.by_raw.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_raw.is_empty()
    }
}

impl SymbolMap {
    /// The mapping for `raw`; when it is not known yet, `fallback` maps it and the result is kept.
    pub fn resolve(
        &mut self,
        raw: &str,
        fallback: impl Fn(&str) -> Option<Symbol>,
    ) -> Option<(Symbol, Arc<str>)> {
        if let Some((s, r)) = self.by_raw.get(raw) {
            return Some((s.clone(), r.clone()));
        }
        let symbol = fallback(raw)?;
        self.insert(raw, symbol.clone());
        self.get(raw).map(|(s, r)| (s.clone(), r.clone()))
    }
}
