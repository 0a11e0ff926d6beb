//! The benchmark's metrics recorder: the Prometheus recorder `run` uses, with the end-to-end latency
//! histogram also copied, while a measurement is on, into a list of samples, so that the percentiles and
//! the maximum of one phase are exact rather than a rolling summary's estimate. Every figure still comes
//! from the pipeline's own `histogram!`/`counter!` calls.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use metrics_exporter_prometheus::{PrometheusHandle, PrometheusRecorder};

use tickstream_engine::dataflow::END_TO_END_LATENCY;

/// Latency samples (seconds) kept while `on`, as `f32`: a microsecond is far above its precision at any
/// latency below minutes, and a million samples take 4 MB instead of 8 in the RSS the benchmark reports.
#[derive(Debug, Default)]
pub struct LatencyCapture {
    on: AtomicBool,
    samples: Mutex<Vec<f32>>,
}

impl LatencyCapture {
    /// Forgets earlier samples and keeps new ones, with room for `expected` of them (so that the list is
    /// not copied as it grows).
    pub fn start(&self, expected: usize) {
        let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        samples.clear();
        samples.reserve_exact(expected);
        drop(samples);
        self.on.store(true, Ordering::Relaxed);
    }

    /// Stops keeping samples and returns those kept.
    pub fn stop(&self) -> Vec<f32> {
        self.on.store(false, Ordering::Relaxed);
        std::mem::take(&mut *self.samples.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Records into the Prometheus histogram and, while capturing, into the capture.
struct Tee {
    inner: Histogram,
    capture: Arc<LatencyCapture>,
}

impl HistogramFn for Tee {
    fn record(&self, value: f64) {
        self.inner.record(value);
        if self.capture.on.load(Ordering::Relaxed) {
            self.capture
                .samples
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(value as f32);
        }
    }
}

/// The recorder installed by `tickstream bench`.
pub struct BenchRecorder {
    inner: PrometheusRecorder,
    capture: Arc<LatencyCapture>,
}

impl BenchRecorder {
    /// Installs the recorder process-wide; returns the Prometheus handle and the latency capture.
    pub fn install() -> anyhow::Result<(PrometheusHandle, Arc<LatencyCapture>)> {
        let inner = crate::observe::metric_samples::builder().build_recorder();
        let handle = inner.handle();
        let capture = Arc::new(LatencyCapture::default());
        metrics::set_global_recorder(BenchRecorder {
            inner,
            capture: capture.clone(),
        })
        .map_err(|e| anyhow::anyhow!("cannot install the metrics recorder: {e}"))?;
        Ok((handle, capture))
    }
}

impl Recorder for BenchRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.inner.register_counter(key, metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.inner.register_gauge(key, metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        let inner = self.inner.register_histogram(key, metadata);
        if key.name() == END_TO_END_LATENCY {
            Histogram::from_arc(Arc::new(Tee {
                inner,
                capture: self.capture.clone(),
            }))
        } else {
            inner
        }
    }
}

/// p50, p95, p99 and the maximum of `samples` (nearest rank), in the samples' unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub count: usize,
}

impl Percentiles {
    pub fn of(mut samples: Vec<f32>) -> Option<Percentiles> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_by(f32::total_cmp);
        let rank = |q: f64| {
            let i = (q * samples.len() as f64).ceil() as usize;
            f64::from(samples[i.clamp(1, samples.len()) - 1])
        };
        Some(Percentiles {
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
            max: f64::from(samples[samples.len() - 1]),
            count: samples.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::of((1..=100u8).rev().map(f32::from).collect()).unwrap();
        assert_eq!(
            (p.p50, p.p95, p.p99, p.max, p.count),
            (50.0, 95.0, 99.0, 100.0, 100)
        );
        let one = Percentiles::of(vec![7.0]).unwrap();
        assert_eq!((one.p50, one.p99, one.max), (7.0, 7.0, 7.0));
        assert_eq!(Percentiles::of(Vec::new()), None);
    }

    #[test]
    fn the_latency_histogram_is_captured_only_while_on() {
        let capture = Arc::new(LatencyCapture::default());
        let recorder = BenchRecorder {
            inner: crate::observe::metric_samples::builder().build_recorder(),
            capture: capture.clone(),
        };
        let handle = recorder.inner.handle();
        metrics::with_local_recorder(&recorder, || {
            let latency = metrics::histogram!(END_TO_END_LATENCY);
            let other = metrics::histogram!("tickstream_sink_flush_seconds");
            latency.record(0.5);
            capture.start(2);
            latency.record(0.001);
            other.record(9.0);
            latency.record(0.002);
            assert_eq!(capture.stop(), vec![0.001, 0.002]);
            latency.record(0.003);
        });
        assert!(capture.stop().is_empty());
        let text = handle.render();
        assert!(
            text.contains("tickstream_end_to_end_latency_seconds_count 4"),
            "{text}"
        );
    }
}
