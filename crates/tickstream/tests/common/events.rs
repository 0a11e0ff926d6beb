//! Normalized events as the tests write and read them: the schema examples as templates, trades made from
//! them, and NDJSON text.

use std::path::Path;

use serde_json::Value;

/// One minute in nanoseconds.
pub const MINUTE: i64 = 60_000_000_000;

/// The start of the minute holding 2023-11-14T22:13:20Z, where the generated trades begin.
pub const START: i64 = 1_700_000_000_000_000_000 - 1_700_000_000_000_000_000 % MINUTE;

/// The event in `schemas/examples/<kind>.v1.json`.
pub fn example(kind: &str) -> Value {
    let path = super::repo_path("schemas/examples").join(format!("{kind}.v1.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// `template` (a trade) with the given id, price and side, made at `ts` and received 1 ms later.
pub fn trade_at(template: &Value, ts: i64, trade_id: String, price: String, side: &str) -> Value {
    let mut t = template.clone();
    t["ts_event"] = ts.into();
    t["ts_recv"] = (ts + 1_000_000).into();
    t["trade_id"] = trade_id.into();
    t["price"] = price.into();
    t["side"] = side.into();
    t
}

/// Every third trade is a sell, counting from `n` = 0.
pub fn side_of(n: i64) -> &'static str {
    if n % 3 == 0 { "sell" } else { "buy" }
}

/// Appends `event` to `lines` as one NDJSON line.
pub fn push_line(lines: &mut String, event: &Value) {
    lines.push_str(&event.to_string());
    lines.push('\n');
}

/// The JSON values of NDJSON text, one a line.
pub fn parse_ndjson(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// The JSON values of an NDJSON file.
pub fn read_ndjson(path: &Path) -> Vec<Value> {
    parse_ndjson(&std::fs::read_to_string(path).unwrap())
}
