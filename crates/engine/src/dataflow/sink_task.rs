//! The task behind each sink node: writes batches, and on a barrier from every input makes everything
//! before it durable and acknowledges it to the checkpoint coordinator.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tickstream_api::Cache;
use tickstream_io::kafka::KafkaSink;
use tickstream_io::lake::{COMMIT_SPACING, ParquetSink};
use tickstream_io::ndjson::FileSink;
use tickstream_model::{Event, UnixNanos};
use tokio::sync::mpsc;

use super::barriers::{Aligner, Step};
use super::{Batch, FINAL_CHECKPOINT, Inbound, Notices};
use crate::Error;
use crate::checkpoint::Report;
use crate::pipeline::SinkSpec;

/// A running sink.
#[derive(Debug)]
pub enum SinkTask {
    File(FileSink),
    Parquet(Box<ParquetSink>),
    Kafka(Box<KafkaSink>),
    /// The serving cache; with `api`, the HTTP/WebSocket API serving it from this process.
    Cache {
        cache: Cache,
        api: Option<ApiServer>,
    },
}

/// The API served from a pipeline process, stopped when its cache sink ends.
#[derive(Debug)]
pub struct ApiServer {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), tickstream_api::Error>>,
}

/// An API a run serves, with the demo key it issued; shown by the status display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedApi {
    pub listen: std::net::SocketAddr,
    pub demo_key: Option<String>,
}

/// The APIs of a run's cache sinks, filled in as the sinks start.
pub type ServedApis = Arc<Mutex<Vec<ServedApi>>>;

/// Histogram of the time from a tick's `ts_recv` (the connector's receive time) to its cache write.
pub const END_TO_END_LATENCY: &str = "tickstream_end_to_end_latency_seconds";

/// The connector's receive time of a tick; events made by operators have none.
fn ts_recv(event: &Event) -> Option<UnixNanos> {
    match event {
        Event::Trade(e) => Some(e.ts_recv),
        Event::Quote(e) => Some(e.ts_recv),
        Event::Book(e) => Some(e.ts_recv),
        Event::Status(e) => Some(e.ts_recv),
        Event::Bar(_) | Event::Indicator(_) | Event::Signal(_) => None,
    }
}

impl SinkTask {
    pub async fn build(
        spec: &SinkSpec,
        served: &ServedApis,
        notices: &Notices,
    ) -> Result<SinkTask, Error> {
        match spec {
            SinkSpec::File(config) => Ok(SinkTask::File(FileSink::create(config)?)),
            SinkSpec::Parquet(config) => {
                let config = config.clone();
                let sink = tokio::task::spawn_blocking(move || ParquetSink::open(config)).await??;
                Ok(SinkTask::Parquet(Box::new(sink)))
            }
            SinkSpec::Kafka(config) => Ok(SinkTask::Kafka(Box::new(KafkaSink::new(config).await?))),
            SinkSpec::Cache(config) => {
                let cache = Cache::open(&config.cache_config())?;
                let api = match &config.api {
                    Some(api) => {
                        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                        let shutdown = async move {
                            let _ = stopped.await;
                        };
                        tracing::info!(listen = %api.listen, "serving the API");
                        let mut demo_key = None;
                        if config.demo_key {
                            let key = tickstream_api::cache::issue_demo_key(api).await?;
                            notices.show(&format!(
                                "API on http://{} (docs at /docs); demo API key: {key}",
                                api.listen
                            ));
                            notices.show(&format!(
                                "  curl -H 'Authorization: Bearer {key}' 'http://{}/v1/latest?exchange=binance&symbol=BTC-USDT'",
                                api.listen
                            ));
                            demo_key = Some(key);
                        }
                        served
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(ServedApi {
                                listen: api.listen,
                                demo_key,
                            });
                        let task = tokio::spawn(tickstream_api::serve(
                            api.clone(),
                            cache.clone(),
                            shutdown,
                        ));
                        Some(ApiServer { stop, task })
                    }
                    None => None,
                };
                Ok(SinkTask::Cache { cache, api })
            }
        }
    }

    /// Writes a batch. The lake writes on its own thread (see [`SinkTask::run`]), so it blocks here.
    async fn write(&mut self, batch: &Batch, latency: &metrics::Histogram) -> Result<(), Error> {
        match self {
            SinkTask::Kafka(sink) => Ok(sink.write(&batch.events).await?),
            SinkTask::Cache { cache, .. } => {
                cache.write(&batch.events).await;
                let written = tickstream_model::UnixNanos::now();
                for t in batch.events.iter().filter_map(ts_recv) {
                    latency.record((written.0 - t.0).max(0) as f64 / 1e9);
                }
                Ok(())
            }
            SinkTask::File(sink) => Ok(sink.write(&batch.events)?),
            SinkTask::Parquet(sink) => match &batch.positions {
                Some(positions) => Ok(sink.write_batch(&batch.events, positions)?),
                None => Ok(sink.write(&batch.events)?),
            },
        }
    }

    /// Makes everything written so far durable; `last` at the end of the run, when the lake sink also
    /// merges each partition's segments into one file. The cache holds latest state, which its writer
    /// keeps converging on its own: there is nothing to wait for.
    async fn flush(&mut self, last: bool) -> Result<(), Error> {
        match self {
            SinkTask::Kafka(sink) => Ok(sink.flush().await?),
            SinkTask::Cache { .. } => Ok(()),
            SinkTask::File(sink) => Ok(sink.flush()?),
            SinkTask::Parquet(sink) if last => Ok(sink.close()?),
            SinkTask::Parquet(sink) => Ok(sink.flush()?),
        }
    }

    /// Runs the sink until its inputs end (see [`SinkTask::drain`]); returns the events written.
    ///
    /// The lake runs on an OS thread of its own at a lower scheduling priority: its encoding, compression
    /// and checkpoint flushes are heavy but not urgent, and must not take CPU from the flow to the cache
    /// and Kafka when the machine is busy. Every other sink is a task of the runtime.
    pub async fn run(
        self,
        name: &str,
        inbound: Inbound,
        barriers: Aligner,
        acks: mpsc::Sender<Report>,
    ) -> Result<u64, Error> {
        if !matches!(self, SinkTask::Parquet(_)) {
            return self.drain(name, inbound, barriers, acks).await;
        }
        let (done, finished) = tokio::sync::oneshot::channel();
        let name = name.to_owned();
        std::thread::Builder::new()
            .name(LAKE_THREAD.to_owned())
            .spawn(move || {
                lower_priority();
                let written = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|source| Error::Start {
                        what: "starting the lake sink's runtime",
                        source,
                    })
                    .and_then(|runtime| {
                        runtime.block_on(self.drain(&name, inbound, barriers, acks))
                    });
                let _ = done.send(written);
            })
            .map_err(|source| Error::Start {
                what: "starting the lake sink's thread",
                source,
            })?;
        finished
            .await
            .unwrap_or(Err(Error::Stopped("the lake sink's thread")))
    }

    /// Writes batches; on a barrier from every input, flushes and acknowledges it; at the end, flushes and
    /// acknowledges the final checkpoint. Returns the events written. Counts them in
    /// `tickstream_sink_events_total{sink}`, times flushes in `tickstream_sink_flush_seconds{sink}` and,
    /// for the lake, shows the rows waiting in memory in `tickstream_lake_buffered_rows{sink}`.
    ///
    /// The lake flushes a group of partitions at a time (`ParquetSink::flush_step`) and between the groups
    /// writes what arrived meanwhile, so that its inputs do not wait for the whole flush (seconds with
    /// thousands of partitions), which would hold up the other sinks fed by the same nodes.
    async fn drain(
        mut self,
        name: &str,
        mut inbound: Inbound,
        mut barriers: Aligner,
        acks: mpsc::Sender<Report>,
    ) -> Result<u64, Error> {
        let events = metrics::counter!("tickstream_sink_events_total", "sink" => name.to_owned());
        let latency = metrics::histogram!(END_TO_END_LATENCY);
        let buffered = matches!(self, SinkTask::Parquet(_))
            .then(|| metrics::gauge!("tickstream_lake_buffered_rows", "sink" => name.to_owned()));
        let mut checkpoints = Checkpoints {
            acks,
            flush_time: metrics::histogram!("tickstream_sink_flush_seconds", "sink" => name.to_owned()),
            flushing: None,
            next_step: None,
        };
        let mut written = 0u64;
        // A sink flushes once a barrier has arrived from every input; what follows the barrier on an input
        // that delivered it early is written meanwhile (see `barriers`).
        'run: loop {
            let pause = checkpoints.pause_until().filter(|at| *at > Instant::now());
            if let Some(until) = pause {
                // Between two steps of a flush: take what arrives until the next step is due.
                tokio::select! {
                    received = inbound.recv() => match received {
                        Some((input, message)) => barriers.push(input, message),
                        None => break,
                    },
                    () = tokio::time::sleep_until(until.into()) => {}
                }
            } else if checkpoints.flushing.is_some() {
                checkpoints.step(&mut self).await?;
                // What arrived during the step, then the next step.
                for _ in 0..inbound.waiting() {
                    match inbound.try_recv() {
                        Some((input, message)) => barriers.push(input, message),
                        None => break,
                    }
                }
            } else {
                match inbound.recv().await {
                    Some((input, message)) => barriers.push(input, message),
                    None => break,
                }
            }
            while let Some(step) = barriers.next() {
                match step {
                    Step::Batch(_, batch) => {
                        written += batch.events.len() as u64;
                        self.write(&batch, &latency).await?;
                        events.increment(batch.events.len() as u64);
                    }
                    Step::Barrier(n) => checkpoints.begin(&mut self, n).await?,
                    // Partitions and completion concern operators only.
                    Step::Partition(..) | Step::Complete => {}
                    Step::End => break 'run,
                }
            }
            if let (Some(gauge), SinkTask::Parquet(lake)) = (&buffered, &self) {
                gauge.set(lake.buffered_rows() as f64);
            }
        }
        checkpoints.finish(&mut self).await?;
        let started = Instant::now();
        let last = self
            .flush(true)
            .await
            .map_err(|e| e.within("flushing at the end"));
        checkpoints
            .flush_time
            .record(started.elapsed().as_secs_f64());
        last?;
        let _ = checkpoints
            .acks
            .send(Report::Durable(FINAL_CHECKPOINT))
            .await;
        if let SinkTask::Cache { api: Some(api), .. } = self {
            let _ = api.stop.send(());
            api.task.await??;
        }
        Ok(written)
    }
}

/// A sink's checkpoint flushes and their acknowledgements to the coordinator.
struct Checkpoints {
    acks: mpsc::Sender<Report>,
    flush_time: metrics::Histogram,
    /// The lake's flush under way: its checkpoint and when it began.
    flushing: Option<(u64, Instant)>,
    /// When the next step of the lake's flush is due: after each step, the lake pauses for
    /// [`COMMIT_SPACING`] times the step's duration (taking in what arrives), so that a flush uses at most
    /// a third of a core and the CPU it leaves goes to the flow to the cache. A flush still under way at
    /// the next barrier, or at the end of the inputs, or with more rows waiting than the lake's
    /// `max_buffered_rows`, goes on without pauses. A flush takes longer this way and weighs less on
    /// the latency of the rest; see docs/benchmarks.md.
    next_step: Option<Instant>,
}

impl Checkpoints {
    /// Flushes for checkpoint `n`, after finishing the flush under way: the lake begins a flush of steps,
    /// other sinks flush at once.
    async fn begin(&mut self, sink: &mut SinkTask, n: u64) -> Result<(), Error> {
        self.finish(sink).await?;
        let started = Instant::now();
        if let SinkTask::Parquet(lake) = sink {
            lake.begin_flush();
            self.flushing = Some((n, started));
            return Ok(());
        }
        let flushed = sink.flush(false).await;
        self.flush_time.record(started.elapsed().as_secs_f64());
        self.settle(n, flushed).await
    }

    /// One step of the lake's flush under way; acknowledges its checkpoint when it is complete.
    async fn step(&mut self, sink: &mut SinkTask) -> Result<(), Error> {
        let Some((n, started)) = self.flushing else {
            return Ok(());
        };
        let SinkTask::Parquet(lake) = sink else {
            self.flushing = None;
            return Ok(());
        };
        let step_started = Instant::now();
        let stepped = lake.flush_step();
        let spacing = if lake.over_row_limit() {
            0
        } else {
            COMMIT_SPACING
        };
        self.next_step = Some(Instant::now() + step_started.elapsed() * spacing);
        let done = match stepped {
            Ok(done) => done,
            Err(e) => {
                self.flushing = None;
                return self.settle(n, Err(e.into())).await;
            }
        };
        if done {
            self.flushing = None;
            self.flush_time.record(started.elapsed().as_secs_f64());
            self.settle(n, Ok(())).await?;
        }
        Ok(())
    }

    /// While the lake's flush is under way, when its next step is due.
    fn pause_until(&self) -> Option<Instant> {
        self.flushing.and(self.next_step)
    }

    /// Completes the flush under way, if any, without pauses between its steps.
    async fn finish(&mut self, sink: &mut SinkTask) -> Result<(), Error> {
        while self.flushing.is_some() {
            self.step(sink).await?;
        }
        Ok(())
    }

    /// Acknowledges checkpoint `n` once flushed. A broker away: the checkpoint is not acknowledged, so its
    /// position is not committed; a later checkpoint's flush covers everything before it.
    async fn settle(&mut self, n: u64, flushed: Result<(), Error>) -> Result<(), Error> {
        match flushed {
            Ok(()) => {
                let _ = self.acks.send(Report::Durable(n)).await;
                Ok(())
            }
            Err(e) if e.is_retryable() => {
                tracing::warn!(checkpoint = n, "flush failed, checkpoint skipped: {e:#}");
                Ok(())
            }
            Err(e) => Err(e.within("flushing at a checkpoint")),
        }
    }
}

/// The name of the lake sink's thread (at most 15 bytes, as Linux keeps).
pub const LAKE_THREAD: &str = "tickstream-lake";

/// How much nicer than the rest of the process the lake sink's thread runs (Linux nice values: 0 is the
/// default, 19 the nicest). At 10 it gets about a tenth of a core that the runtime's workers also want,
/// and all of an idle one.
const LAKE_NICENESS: i32 = 10;

/// Lowers the calling thread's scheduling priority to [`LAKE_NICENESS`]; on Linux a thread has a nice
/// value of its own. Failing to is logged and changes nothing else.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let thread = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(thread), LAKE_NICENESS) {
            tracing::warn!("could not lower the lake sink thread's priority: {e}");
        }
    }
}
