//! What the simulator's venue frames share: numbers that venues send as JSON strings, and a frame's text
//! from its struct. Levels need nothing of their own: `Level` already serializes as `["price","size"]`.

use std::fmt::Display;

use serde::Serializer;

/// Serializes a number (an id, a count) as a JSON string, as `"tradeId":"12345"`, without building the
/// text first.
pub fn as_text<T: Display, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// The JSON text of a frame. The frames are structs of strings, numbers, booleans and sequences of them,
/// which `serde_json` always writes, so the error branch is never taken.
pub fn frame<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
