//! Conversion of every event type to Arrow record batches with exactly the published lake schema.

mod lake_common;

use lake_common::*;
use tickstream_io::lake::{arrow_schema, lake_table, partition_batches, record_batch};
use tickstream_model::{Event, EventKind};

#[test]
fn every_event_type_converts_to_a_batch_with_exactly_the_lake_schema() {
    let events = one_of_each();
    for kind in EventKind::ALL {
        let rows: Vec<Event> = events
            .iter()
            .filter(|e| e.kind() == kind)
            .cloned()
            .collect();
        assert!(!rows.is_empty(), "fixture has a {kind}");
        let batch = record_batch(kind, &rows).unwrap();
        assert_eq!(batch.schema(), arrow_schema(lake_table(kind)), "{kind}");
        assert_eq!(batch.num_rows(), rows.len());
    }
    let wrong = record_batch(EventKind::Trade, &events);
    assert!(wrong.is_err(), "a quote is refused by the trades dataset");
    let grouped = partition_batches(&events).unwrap();
    assert_eq!(
        grouped.len(),
        7,
        "{:?}",
        grouped
            .iter()
            .map(|g| g.0.relative_dir())
            .collect::<Vec<_>>()
    );
}

#[test]
fn partitions_follow_the_layout_and_batches_are_sorted_by_event_time() {
    let mut events = trades(
        tickstream_model::Exchange::Bybit,
        "ETH-USDT-PERP",
        DAY_START - 2 * SECOND,
        SECOND,
        7,
        4,
    );
    events.reverse();
    let grouped = partition_batches(&events).unwrap();
    let dirs: Vec<String> = grouped
        .iter()
        .map(|(k, _)| k.relative_dir().display().to_string())
        .collect();
    assert_eq!(
        dirs,
        [
            "trades/exchange=bybit/symbol=ETH-USDT-PERP/date=2026-11-20",
            "trades/exchange=bybit/symbol=ETH-USDT-PERP/date=2026-11-21",
        ]
    );
    let ids: Vec<Vec<String>> = grouped
        .iter()
        .map(|(_, b)| {
            let col = b.column_by_name("trade_id").unwrap();
            let ids = col
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .unwrap();
            ids.iter().map(|v| v.unwrap().to_owned()).collect()
        })
        .collect();
    assert_eq!(ids, vec![vec!["7", "8"], vec!["9", "10"]]);
    assert_eq!(grouped[0].0.date(), "2026-11-20");
}
