//! The task behind each sink node: writes batches, and on a barrier from every input makes everything
//! before it durable and acknowledges it to the checkpoint coordinator.

use anyhow::Context;
use tickstream_io::lake::{ParquetSink, SourceOffset};
use tickstream_io::ndjson::FileSink;
use tokio::sync::mpsc;

use crate::registry::SinkSpec;
use crate::runtime::{Batch, FINAL_CHECKPOINT, InputMarkers, Message};

/// A running sink.
#[derive(Debug)]
pub enum SinkTask {
    File(FileSink),
    Parquet(Box<ParquetSink>),
}

impl SinkTask {
    pub async fn build(spec: &SinkSpec) -> anyhow::Result<SinkTask> {
        match spec {
            SinkSpec::File(config) => Ok(SinkTask::File(FileSink::create(config)?)),
            SinkSpec::Parquet(config) => {
                let config = config.clone();
                let sink = tokio::task::spawn_blocking(move || ParquetSink::open(config)).await??;
                Ok(SinkTask::Parquet(Box::new(sink)))
            }
        }
    }

    /// Writes a batch; Parquet files are written on this worker thread with the runtime told it blocks.
    fn write(&mut self, batch: &Batch) -> anyhow::Result<()> {
        match self {
            SinkTask::File(sink) => Ok(sink.write(&batch.events)?),
            SinkTask::Parquet(sink) => tokio::task::block_in_place(|| match &batch.sources {
                Some(sources) => {
                    let offsets: Vec<SourceOffset<'_>> = sources
                        .iter()
                        .map(|s| SourceOffset {
                            topic: &s.topic,
                            partition: s.partition,
                            offset: s.offset,
                        })
                        .collect();
                    Ok(sink.write_batch(&batch.events, &offsets)?)
                }
                None => Ok(sink.write(&batch.events)?),
            }),
        }
    }

    /// Makes everything written so far durable.
    fn flush(&mut self) -> anyhow::Result<()> {
        match self {
            SinkTask::File(sink) => Ok(sink.flush()?),
            SinkTask::Parquet(sink) => Ok(tokio::task::block_in_place(|| sink.flush())?),
        }
    }

    /// Writes batches; on a barrier from every input, flushes and acknowledges it; at the end, flushes and
    /// acknowledges the final checkpoint. Returns the events written.
    pub async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Message>,
        mut markers: InputMarkers,
        acks: mpsc::Sender<u64>,
    ) -> anyhow::Result<u64> {
        let mut written = 0u64;
        while let Some(message) = inbound.recv().await {
            match message {
                Message::Batch(batch) => {
                    written += batch.events.len() as u64;
                    self.write(&batch)?;
                }
                Message::Barrier(n) if markers.barrier(n) => {
                    self.flush().context("flushing at a checkpoint")?;
                    let _ = acks.send(n).await;
                }
                Message::Barrier(_) => {}
                Message::End if markers.end() => break,
                Message::End => {}
            }
        }
        self.flush().context("flushing at the end")?;
        let _ = acks.send(FINAL_CHECKPOINT).await;
        Ok(written)
    }
}
