//! The rows of one lake partition waiting for their row group: converted to Arrow columns a few dozen
//! rows at a time, so that between checkpoints a row waits as column values (tens of bytes) rather than
//! as an event (hundreds), and sorted by event time when they are taken.

use arrow::array::{AsArray, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::TimestampNanosecondType;
use tickstream_model::{Event, EventKind};

use super::arrow_schema::{arrow_schema, lake_table, sort_column};
use super::record_batch::record_batch;
use crate::Error;

/// Rows kept as events before they are converted to one small batch of columns.
const CHUNK_ROWS: usize = 64;

/// A partition's rows not yet in a row group, in arrival order.
#[derive(Debug)]
pub(super) struct PendingRows {
    kind: EventKind,
    /// The newest rows, fewer than `CHUNK_ROWS`.
    events: Vec<Event>,
    /// The older rows, a batch of columns per `CHUNK_ROWS`.
    chunks: Vec<RecordBatch>,
    rows: usize,
}

/// Rows taken for a row group: sorted by event time, with the first and last event times.
pub(super) struct SortedRows {
    pub batch: RecordBatch,
    pub first_ts: i64,
    pub last_ts: i64,
}

impl PendingRows {
    pub fn new(kind: EventKind) -> PendingRows {
        PendingRows {
            kind,
            events: Vec::new(),
            chunks: Vec::new(),
            rows: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Adds a row (an event of the partition's kind).
    pub fn push(&mut self, event: &Event) -> Result<(), Error> {
        self.events.push(event.clone());
        self.rows += 1;
        if self.events.len() >= CHUNK_ROWS {
            self.convert_events()?;
        }
        Ok(())
    }

    /// Takes every row as one batch sorted by event time, rows of equal times in arrival order; `None`
    /// when there are none.
    pub fn take_sorted(&mut self) -> Result<Option<SortedRows>, Error> {
        self.convert_events()?;
        self.rows = 0;
        let mut chunks = std::mem::take(&mut self.chunks);
        let batch = match chunks.len() {
            0 => return Ok(None),
            1 => chunks.pop().expect("one chunk"),
            _ => concat_batches(&arrow_schema(lake_table(self.kind)), &chunks)?,
        };
        let column = sort_column(lake_table(self.kind));
        let times = batch
            .column(column)
            .as_primitive::<TimestampNanosecondType>();
        let in_order = times.values().windows(2).all(|w| w[0] <= w[1]);
        let batch = if in_order {
            batch
        } else {
            let mut order: Vec<u32> = (0..batch.num_rows() as u32).collect();
            // A stable sort: equal times keep their arrival order.
            order.sort_by_key(|&i| times.value(i as usize));
            take_record_batch(&batch, &UInt32Array::from(order))?
        };
        let times = batch
            .column(column)
            .as_primitive::<TimestampNanosecondType>();
        let (first_ts, last_ts) = (times.value(0), times.value(times.len() - 1));
        Ok(Some(SortedRows {
            batch,
            first_ts,
            last_ts,
        }))
    }

    /// Converts the waiting events to a batch of columns, in arrival order.
    fn convert_events(&mut self) -> Result<(), Error> {
        if self.events.is_empty() {
            return Ok(());
        }
        // Taken rather than cleared: a quiet partition should not keep a chunk's worth of capacity.
        let events = std::mem::take(&mut self.events);
        self.chunks.push(record_batch(self.kind, &events)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;

    fn trade(ts: i64, id: &str) -> Event {
        let mut event: Event =
            serde_json::from_str(include_str!("../../../../schemas/examples/trade.v1.json"))
                .unwrap();
        if let Event::Trade(t) = &mut event {
            t.ts_event.0 = ts;
            t.trade_id = id.to_owned();
        }
        event
    }

    fn ids(rows: &SortedRows) -> Vec<String> {
        let table = lake_table(EventKind::Trade);
        let column = table
            .columns
            .iter()
            .position(|c| c.name == "trade_id")
            .unwrap();
        let ids = rows
            .batch
            .column(column)
            .as_any()
            .downcast_ref::<StringArray>();
        ids.unwrap().iter().map(|s| s.unwrap().to_owned()).collect()
    }

    #[test]
    fn rows_across_chunks_come_out_sorted_with_equal_times_in_arrival_order() {
        let mut pending = PendingRows::new(EventKind::Trade);
        // Two and a half chunks, newest first, every time twice.
        let n = CHUNK_ROWS * 5 / 2;
        for i in (0..n).rev() {
            pending
                .push(&trade((i / 2) as i64, &format!("{i}")))
                .unwrap();
        }
        assert_eq!(pending.len(), n);
        let rows = pending.take_sorted().unwrap().unwrap();
        assert!(pending.is_empty());
        assert_eq!((rows.first_ts, rows.last_ts), (0, ((n - 1) / 2) as i64));
        let expected: Vec<String> = (0..n / 2)
            .flat_map(|t| [format!("{}", 2 * t + 1), format!("{}", 2 * t)])
            .collect();
        assert_eq!(ids(&rows), expected);
        assert!(pending.take_sorted().unwrap().is_none());
    }

    #[test]
    fn rows_in_order_keep_it() {
        let mut pending = PendingRows::new(EventKind::Trade);
        for i in 0..10 {
            pending.push(&trade(100 + i, &format!("{i}"))).unwrap();
        }
        let rows = pending.take_sorted().unwrap().unwrap();
        assert_eq!((rows.first_ts, rows.last_ts), (100, 109));
        assert_eq!(
            ids(&rows),
            (0..10).map(|i| i.to_string()).collect::<Vec<_>>()
        );
    }
}
