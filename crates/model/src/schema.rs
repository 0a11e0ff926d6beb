//! The published contracts, made from the Rust types: a JSON Schema per Kafka message type and the column
//! layout of each Parquet dataset. `schemas/` holds the committed copies; a test fails when they drift.

use serde_json::{Value, json};

use crate::{Bar, BookUpdate, EventKind, FeedStatus, IndicatorValues, Quote, Signal, Trade};

/// The JSON Schema (draft 2020-12) of one Kafka message type, including its `type` tag.
pub fn event_schema(kind: EventKind) -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let schema = match kind {
        EventKind::Trade => generator.into_root_schema_for::<Trade>(),
        EventKind::Quote => generator.into_root_schema_for::<Quote>(),
        EventKind::Book => generator.into_root_schema_for::<BookUpdate>(),
        EventKind::Status => generator.into_root_schema_for::<FeedStatus>(),
        EventKind::Bar => generator.into_root_schema_for::<Bar>(),
        EventKind::Indicator => generator.into_root_schema_for::<IndicatorValues>(),
        EventKind::Signal => generator.into_root_schema_for::<Signal>(),
    };
    let mut value = schema.to_value();
    if let Some(root) = value.as_object_mut() {
        root.insert(
            "$id".into(),
            json!(format!("urn:tickstream:schema:{}", kind.schema())),
        );
        root.insert("title".into(), json!(kind.schema()));
        if let Some(Value::Object(props)) = root.get_mut("properties") {
            props.insert(
                "type".into(),
                json!({ "const": kind.as_str(), "description": "The message type tag." }),
            );
        }
        if let Some(Value::Array(required)) = root.get_mut("required") {
            required.insert(0, json!("type"));
        }
    }
    value
}

/// A column's physical type in the lake, as Arrow names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Dictionary-encoded UTF-8.
    DictString,
    Utf8,
    /// TIMESTAMP(NANOS, UTC).
    TimestampNanosUtc,
    Float64,
    UInt64,
    Boolean,
    /// A list of `{price: float64, quantity: float64}`.
    Levels,
    /// Map from indicator name to value.
    ValueMap,
}

impl ColumnType {
    pub const fn as_str(self) -> &'static str {
        match self {
            ColumnType::DictString => "dictionary<int32, utf8>",
            ColumnType::Utf8 => "utf8",
            ColumnType::TimestampNanosUtc => "timestamp[ns, tz=UTC]",
            ColumnType::Float64 => "float64",
            ColumnType::UInt64 => "uint64",
            ColumnType::Boolean => "bool",
            ColumnType::Levels => "list<struct<price: float64, quantity: float64>>",
            ColumnType::ValueMap => "map<utf8, float64>",
        }
    }
}

/// One column of a lake dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    pub nullable: bool,
    pub doc: &'static str,
}

/// One lake dataset: its Hive partition keys (in the path, not repeated in the files) and its columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeTable {
    pub dataset: &'static str,
    pub kind: EventKind,
    pub version: &'static str,
    pub partitions: &'static [&'static str],
    pub columns: &'static [Column],
}

const fn col(name: &'static str, ty: ColumnType, doc: &'static str) -> Column {
    Column {
        name,
        ty,
        nullable: false,
        doc,
    }
}

const fn opt(name: &'static str, ty: ColumnType, doc: &'static str) -> Column {
    Column {
        name,
        ty,
        nullable: true,
        doc,
    }
}

use ColumnType::{
    Boolean, DictString, Float64, Levels, TimestampNanosUtc as Ts, UInt64, Utf8, ValueMap,
};

const TICK_KEYS: [&str; 3] = ["exchange", "symbol", "date"];
const BAR_KEYS: [&str; 4] = ["exchange", "symbol", "interval", "date"];

/// Every lake dataset, in the order of `schemas/lake.v1.json`.
pub const LAKE_TABLES: [LakeTable; 7] = [
    LakeTable {
        dataset: "trades",
        kind: EventKind::Trade,
        version: "v1",
        partitions: &TICK_KEYS,
        columns: &[
            col("raw_symbol", DictString, "The venue's own symbol."),
            col("ts_event", Ts, "Venue time of the trade."),
            col("ts_recv", Ts, "When tickstream received the frame."),
            col("trade_id", Utf8, "The venue's trade id as sent."),
            col(
                "price",
                Float64,
                "Price; the exact decimal text is on Kafka.",
            ),
            col(
                "quantity",
                Float64,
                "Quantity; the exact decimal text is on Kafka.",
            ),
            col("side", DictString, "Aggressor side: buy, sell or unknown."),
        ],
    },
    LakeTable {
        dataset: "quotes",
        kind: EventKind::Quote,
        version: "v1",
        partitions: &TICK_KEYS,
        columns: &[
            col("raw_symbol", DictString, "The venue's own symbol."),
            col("ts_event", Ts, "Venue time of the quote."),
            col("ts_recv", Ts, "When tickstream received the frame."),
            col("bid_price", Float64, "Best bid price."),
            col("bid_size", Float64, "Best bid size."),
            col("ask_price", Float64, "Best ask price."),
            col("ask_size", Float64, "Best ask size."),
        ],
    },
    LakeTable {
        dataset: "book",
        kind: EventKind::Book,
        version: "v1",
        partitions: &TICK_KEYS,
        columns: &[
            col("raw_symbol", DictString, "The venue's own symbol."),
            col("ts_event", Ts, "Venue time of the update."),
            col("ts_recv", Ts, "When tickstream received the frame."),
            col("action", DictString, "snapshot or delta."),
            col(
                "bids",
                Levels,
                "Bid levels, best first; quantity 0 removes a level.",
            ),
            col(
                "asks",
                Levels,
                "Ask levels, best first; quantity 0 removes a level.",
            ),
            col(
                "synced",
                Boolean,
                "False when the update was not joined to a snapshot.",
            ),
            opt("sequence", UInt64, "The venue's sequence of this message."),
            opt(
                "first_sequence",
                UInt64,
                "The first update id covered (Binance U).",
            ),
            opt(
                "prev_sequence",
                UInt64,
                "The sequence this message follows (OKX prevSeqId).",
            ),
        ],
    },
    LakeTable {
        dataset: "bars",
        kind: EventKind::Bar,
        version: "v1",
        partitions: &BAR_KEYS,
        columns: &[
            col("open_time", Ts, "Start of the bar (inclusive)."),
            col("close_time", Ts, "End of the bar (exclusive)."),
            col("open", Float64, "First trade price."),
            col("high", Float64, "Highest trade price."),
            col("low", Float64, "Lowest trade price."),
            col("close", Float64, "Last trade price."),
            col("volume", Float64, "Sum of quantities."),
            col("quote_volume", Float64, "Sum of price times quantity."),
            col("trades", UInt64, "Number of trades."),
            col(
                "vwap",
                Float64,
                "Volume-weighted average price of this bar.",
            ),
            col("buy_volume", Float64, "Volume of buyer-initiated trades."),
            col("sell_volume", Float64, "Volume of seller-initiated trades."),
            col(
                "gap",
                Boolean,
                "The feed had a gap, stale, disconnect or resync during the bar.",
            ),
        ],
    },
    LakeTable {
        dataset: "indicators",
        kind: EventKind::Indicator,
        version: "v1",
        partitions: &BAR_KEYS,
        columns: &[
            col("open_time", Ts, "Start of the bar the values belong to."),
            col("close_time", Ts, "End of that bar."),
            col(
                "values",
                ValueMap,
                "Indicator values by name (rsi_14, ...); absent before the lookback.",
            ),
        ],
    },
    LakeTable {
        dataset: "signals",
        kind: EventKind::Signal,
        version: "v1",
        partitions: &["date"],
        columns: &[
            col("id", Utf8, "Deterministic signal id."),
            col("ts", Ts, "Event time of the bar or quote that fired it."),
            col("exchange", DictString, "Venue, or composite."),
            opt("symbol", DictString, "Canonical symbol."),
            opt("interval", DictString, "Bar interval, for bar rules."),
            col("rule", DictString, "Rule name from the pipeline file."),
            col("direction", DictString, "up, down or neutral."),
            col("values", ValueMap, "The values that fired it."),
        ],
    },
    LakeTable {
        dataset: "status",
        kind: EventKind::Status,
        version: "v1",
        partitions: &["date"],
        columns: &[
            col("exchange", DictString, "Venue."),
            opt(
                "symbol",
                DictString,
                "Canonical symbol, when about one instrument.",
            ),
            col("ts_event", Ts, "When it happened."),
            col(
                "state",
                DictString,
                "connected, subscribed, disconnected, reconnecting, gap, resync, stale, rejected, backpressure.",
            ),
            col("detail", Utf8, "A sentence for people."),
            opt("reason", DictString, "For rejected frames: the reason."),
            opt(
                "expected_sequence",
                UInt64,
                "For gaps: the sequence expected.",
            ),
            opt(
                "received_sequence",
                UInt64,
                "For gaps: the sequence received.",
            ),
        ],
    },
];

/// The lake layout as the JSON document `schemas/lake.v1.json`.
pub fn lake_document() -> Value {
    let tables: Vec<Value> = LAKE_TABLES
        .iter()
        .map(|t| {
            json!({
                "dataset": t.dataset,
                "version": t.version,
                "event": t.kind.schema(),
                "path": format!(
                    "<root>/{}/{}/<file>.parquet",
                    t.dataset,
                    t.partitions.iter().map(|p| format!("{p}=<{p}>")).collect::<Vec<_>>().join("/")
                ),
                "partitions": t.partitions,
                "columns": t.columns.iter().map(|c| json!({
                    "name": c.name,
                    "type": c.ty.as_str(),
                    "nullable": c.nullable,
                    "doc": c.doc,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "$comment": "Generated from tickstream-model's LAKE_TABLES; see schemas/README.md.",
        "format": "Apache Parquet, zstd, rows sorted by event time within a file",
        "partition_columns": "Hive-style, in the path only; `date` is the UTC date of the event time",
        "tables": tables,
    })
}
