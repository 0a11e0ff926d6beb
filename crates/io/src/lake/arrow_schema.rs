//! Arrow schemas and Parquet writer settings of the lake datasets, made from `LAKE_TABLES` so that the files
//! cannot drift from `schemas/lake.v1.json`.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef, TimeUnit};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use tickstream_model::EventKind;
use tickstream_model::schema::{ColumnType, LAKE_TABLES, LakeTable};

/// Key/value metadata key naming the event schema of the rows (`trade.v1`, ...).
pub const META_SCHEMA: &str = "tickstream.schema";
/// Key/value metadata key naming the dataset (`trades`, ...).
pub const META_DATASET: &str = "tickstream.dataset";
/// Key/value metadata key naming the tickstream version that wrote the file.
pub const META_VERSION: &str = "tickstream.version";
/// Key/value metadata key holding the source offset ranges a file covers (see `offsets.rs`).
pub const META_OFFSETS: &str = "tickstream.offsets";

/// The version written into every file's metadata.
pub const TICKSTREAM_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The lake table that holds events of `kind`.
pub fn lake_table(kind: EventKind) -> &'static LakeTable {
    LAKE_TABLES
        .iter()
        .find(|t| t.kind == kind)
        .unwrap_or(&LAKE_TABLES[0])
}

/// The lake table named `dataset`, if there is one.
pub fn lake_table_named(dataset: &str) -> Option<&'static LakeTable> {
    LAKE_TABLES.iter().find(|t| t.dataset == dataset)
}

/// The element of a `Levels` column: `{price, quantity}`.
pub fn level_fields() -> Fields {
    Fields::from(vec![
        Field::new("price", DataType::Float64, false),
        Field::new("quantity", DataType::Float64, false),
    ])
}

/// The list item of a `Levels` column.
pub fn level_item() -> FieldRef {
    Arc::new(Field::new("item", DataType::Struct(level_fields()), false))
}

/// The key and value of a `ValueMap` entry.
pub fn value_map_fields() -> Fields {
    Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
    ])
}

/// The entries of a `ValueMap` column, named as the Parquet format names map entries.
pub fn value_map_entries() -> FieldRef {
    Arc::new(Field::new(
        "key_value",
        DataType::Struct(value_map_fields()),
        false,
    ))
}

/// The Arrow type of one lake column type.
pub fn arrow_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::DictString => {
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
        }
        ColumnType::Utf8 => DataType::Utf8,
        ColumnType::TimestampNanosUtc => {
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
        }
        ColumnType::Float64 => DataType::Float64,
        ColumnType::UInt64 => DataType::UInt64,
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Levels => DataType::List(level_item()),
        ColumnType::ValueMap => DataType::Map(value_map_entries(), false),
    }
}

/// The Arrow schema of a dataset's files (partition keys are in the path, not in the file).
pub fn arrow_schema(table: &LakeTable) -> SchemaRef {
    let fields: Vec<Field> = table
        .columns
        .iter()
        .map(|c| Field::new(c.name, arrow_type(c.ty), c.nullable))
        .collect();
    Arc::new(Schema::new(fields))
}

/// Index of the column rows are sorted by: the table's first timestamp (`ts_event`, `open_time`, `ts`).
pub fn sort_column(table: &LakeTable) -> usize {
    table
        .columns
        .iter()
        .position(|c| c.ty == ColumnType::TimestampNanosUtc)
        .unwrap_or(0)
}

/// How a lake file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileCodec {
    /// zstd at this level: every file readers keep (merged at a roll, compacted, or on an object store).
    Zstd(i32),
    /// LZ4 (`LZ4_RAW`): the segments a local root commits at each checkpoint until the roll merges them.
    /// The parquet writer sets up a fresh zstd compressor for every column chunk; for the thousands of
    /// small column chunks of a checkpoint over hundreds of partitions that set-up cost most of the time.
    Segment,
}

/// Writer settings shared by the sink and compaction: the codec, page statistics, dictionary pages, the
/// sort order declared, and the schema and version metadata.
pub fn writer_properties(
    table: &LakeTable,
    codec: FileCodec,
    row_group_rows: usize,
) -> WriterProperties {
    let compression = match codec {
        FileCodec::Zstd(level) => Compression::ZSTD(ZstdLevel::try_new(level).unwrap_or_default()),
        FileCodec::Segment => Compression::LZ4_RAW,
    };
    WriterProperties::builder()
        .set_compression(compression)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_dictionary_enabled(true)
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: sort_column(table) as i32,
            descending: false,
            nulls_first: false,
        }]))
        .set_created_by(format!("tickstream {TICKSTREAM_VERSION}"))
        .set_key_value_metadata(Some(vec![
            KeyValue::new(META_SCHEMA.to_owned(), table.kind.schema().to_owned()),
            KeyValue::new(META_DATASET.to_owned(), table.dataset.to_owned()),
            KeyValue::new(META_VERSION.to_owned(), TICKSTREAM_VERSION.to_owned()),
        ]))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_a_schema_matching_the_published_layout() {
        for table in &LAKE_TABLES {
            let schema = arrow_schema(table);
            assert_eq!(
                schema.fields().len(),
                table.columns.len(),
                "{}",
                table.dataset
            );
            for (field, column) in schema.fields().iter().zip(table.columns) {
                assert_eq!(field.name(), column.name);
                assert_eq!(field.is_nullable(), column.nullable);
                let shown = match field.data_type() {
                    DataType::Dictionary(k, v) => {
                        format!("dictionary<{}, {}>", k, v).to_lowercase()
                    }
                    DataType::Timestamp(TimeUnit::Nanosecond, Some(tz)) => {
                        format!("timestamp[ns, tz={tz}]")
                    }
                    DataType::List(_) => "list<struct<price: float64, quantity: float64>>".into(),
                    DataType::Map(..) => "map<utf8, float64>".into(),
                    DataType::Boolean => "bool".into(),
                    other => other.to_string().to_lowercase(),
                };
                assert_eq!(
                    shown,
                    column.ty.as_str(),
                    "{}.{}",
                    table.dataset,
                    column.name
                );
            }
            assert!(table.columns[sort_column(table)].ty == ColumnType::TimestampNanosUtc);
            assert!(
                table
                    .partitions
                    .iter()
                    .all(|p| schema.field_with_name(p).is_err()),
                "keys stay in the path"
            );
        }
    }
}
