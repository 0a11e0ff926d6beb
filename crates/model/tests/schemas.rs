//! Keeps `schemas/` and the Rust types in step: generated schemas equal the committed ones, every event type
//! serializes to JSON its schema accepts, and the example messages validate and round-trip.
//!
//! Regenerate the committed files after changing a type: `TICKSTREAM_WRITE_SCHEMAS=1 cargo test -p tickstream-model --test schemas`

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use tickstream_model::schema::{event_schema, lake_document};
use tickstream_model::*;

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

fn check_or_write(file: &str, generated: &Value) {
    let path = schemas_dir().join(file);
    let text = serde_json::to_string_pretty(generated).unwrap() + "\n";
    if std::env::var_os("TICKSTREAM_WRITE_SCHEMAS").is_some() {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; regenerate with TICKSTREAM_WRITE_SCHEMAS=1",
            path.display()
        )
    });
    let committed: Value = serde_json::from_str(&committed).unwrap();
    assert_eq!(
        &committed, generated,
        "{file} differs from the Rust types; if the change is intended, regenerate with \
         TICKSTREAM_WRITE_SCHEMAS=1 cargo test -p tickstream-model --test schemas, and follow schemas/README.md"
    );
}

#[test]
fn committed_schemas_match_the_types() {
    for kind in EventKind::ALL {
        check_or_write(&format!("{}.json", kind.schema()), &event_schema(kind));
    }
    check_or_write("lake.v1.json", &lake_document());
}

fn validate(kind: EventKind, instance: &Value) {
    let validator = jsonschema::validator_for(&event_schema(kind)).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{} rejects {instance}: {errors:?}",
        kind.schema()
    );
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn one_of_each() -> Vec<Event> {
    let symbol = Symbol::parse("BTC-USDT").unwrap();
    let raw: Arc<str> = "BTCUSDT".into();
    let t = UnixNanos(1_700_000_000_123_456_789);
    vec![
        Event::Trade(Trade {
            exchange: Exchange::Binance,
            symbol: symbol.clone(),
            raw_symbol: raw.clone(),
            ts_event: t,
            ts_recv: t,
            trade_id: "12345".into(),
            price: d("0.00001230"),
            quantity: d("100"),
            side: AggressorSide::Sell,
        }),
        Event::Quote(Quote {
            exchange: Exchange::Binance,
            symbol: symbol.clone(),
            raw_symbol: raw.clone(),
            ts_event: t,
            ts_recv: t,
            bid_price: d("25.35190000"),
            bid_size: d("31.21000000"),
            ask_price: d("25.36520000"),
            ask_size: d("40.66000000"),
        }),
        Event::Book(BookUpdate {
            exchange: Exchange::Okx,
            symbol: symbol.clone(),
            raw_symbol: "BTC-USDT".into(),
            ts_event: t,
            ts_recv: t,
            action: BookAction::Delta,
            bids: vec![Level(d("8476.98"), d("0"))],
            asks: vec![Level(d("8476.99"), d("1.5"))],
            synced: true,
            sequence: Some(123_456),
            first_sequence: None,
            prev_sequence: Some(123_455),
            checksum: None,
        }),
        Event::Status(FeedStatus {
            exchange: Exchange::Kraken,
            symbol: None,
            raw_symbol: None,
            ts_event: t,
            ts_recv: t,
            state: FeedState::Gap,
            detail: "checksum mismatch".into(),
            reason: None,
            connection_id: Some(1),
            expected_sequence: Some(10),
            received_sequence: Some(12),
        }),
        Event::Bar(Bar {
            exchange: Exchange::Coinbase,
            symbol: symbol.clone(),
            interval: Interval::M1,
            open_time: UnixNanos(1_700_000_040_000_000_000),
            close_time: UnixNanos(1_700_000_100_000_000_000),
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: 1.5,
            volume: 10.0,
            quote_volume: 12.0,
            trades: 3,
            vwap: 1.2,
            buy_volume: 6.0,
            sell_volume: 4.0,
            gap: false,
        }),
        Event::Indicator(IndicatorValues {
            exchange: Exchange::Coinbase,
            symbol: symbol.clone(),
            interval: Interval::M1,
            open_time: UnixNanos(1_700_000_040_000_000_000),
            close_time: UnixNanos(1_700_000_100_000_000_000),
            values: BTreeMap::from([("rsi_14".to_string(), 55.5), ("sma_20".to_string(), 1.25)]),
        }),
        Event::Signal(Signal {
            id: "ema_cross:coinbase:BTC-USDT:1m:1700000040000000000".into(),
            ts: UnixNanos(1_700_000_040_000_000_000),
            exchange: Exchange::Coinbase,
            symbol: Some(symbol),
            interval: Some(Interval::M1),
            rule: "ema_cross".into(),
            direction: Direction::Up,
            values: BTreeMap::from([("ema_12".to_string(), 2.0), ("ema_26".to_string(), 1.9)]),
        }),
    ]
}

#[test]
fn every_event_type_validates_against_its_schema() {
    let events = one_of_each();
    assert_eq!(events.len(), EventKind::ALL.len());
    for event in events {
        let value = serde_json::to_value(&event).unwrap();
        validate(event.kind(), &value);
        let back: Event = serde_json::from_value(value).unwrap();
        assert_eq!(back, event);
    }
}

#[test]
fn schemas_reject_wrong_messages() {
    let mut trade = serde_json::to_value(&one_of_each()[0]).unwrap();
    trade["price"] = serde_json::json!(0.0000123);
    let validator = jsonschema::validator_for(&event_schema(EventKind::Trade)).unwrap();
    assert!(!validator.is_valid(&trade), "a float price must not pass");
    let mut bar = serde_json::to_value(&one_of_each()[4]).unwrap();
    bar["interval"] = serde_json::json!("2m");
    let validator = jsonschema::validator_for(&event_schema(EventKind::Bar)).unwrap();
    assert!(
        !validator.is_valid(&bar),
        "an unknown interval must not pass"
    );
}

#[test]
fn example_messages_validate_and_round_trip() {
    for kind in EventKind::ALL {
        let path = schemas_dir()
            .join("examples")
            .join(format!("{}.json", kind.schema()));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let example: Value = serde_json::from_str(&text).unwrap();
        validate(kind, &example);
        let event: Event = serde_json::from_value(example.clone()).unwrap();
        assert_eq!(event.kind(), kind);
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            example,
            "{} does not round-trip",
            path.display()
        );
    }
}
