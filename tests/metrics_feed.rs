//! The `metrics` feature: telemetry reaches any `metrics` recorder.

use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use retry_runtime::retryable;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A recorder that keeps every counter and histogram by its key.
#[derive(Default)]
struct Capture {
    counters: Mutex<BTreeMap<String, Arc<Cell>>>,
    histograms: Mutex<BTreeMap<String, Arc<Samples>>>,
}

#[derive(Default)]
struct Cell(AtomicU64);

impl CounterFn for Cell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::SeqCst);
    }
    fn absolute(&self, value: u64) {
        self.0.store(value, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(value);
    }
}

fn key_string(key: &Key) -> String {
    let labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Recorder for Capture {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let cell = self.counters.lock().unwrap().entry(key_string(key)).or_default().clone();
        Counter::from_arc(cell)
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let samples = self.histograms.lock().unwrap().entry(key_string(key)).or_default().clone();
        Histogram::from_arc(samples)
    }
}

#[retryable(max = 2, backoff = "5ms", name = "metrics.flaky")]
fn flaky(counter: &AtomicU32) -> std::io::Result<u32> {
    if counter.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(std::io::ErrorKind::ConnectionReset.into());
    }
    Ok(1)
}

#[test]
fn telemetry_feeds_the_metrics_facade() {
    let capture = Capture::default();
    metrics::with_local_recorder(&capture, || {
        flaky(&AtomicU32::new(0)).unwrap();
        flaky(&AtomicU32::new(1)).unwrap();
    });
    let counters = capture.counters.lock().unwrap();
    let value = |key: &str| counters.get(key).map(|c| c.0.load(Ordering::SeqCst));
    assert_eq!(value("retry_first_try_successes_total{function=metrics.flaky}"), Some(1));
    assert_eq!(value("retry_successes_after_retry_total{function=metrics.flaky}"), Some(1));
    assert_eq!(value("retry_retries_total{function=metrics.flaky}"), Some(1));
    assert_eq!(value("retry_retries_by_kind_total{function=metrics.flaky,kind=ConnectionReset}"), Some(1));
    let histograms = capture.histograms.lock().unwrap();
    let delays = histograms["retry_delay_seconds{function=metrics.flaky}"].0.lock().unwrap();
    assert_eq!(*delays, vec![0.005]);
}
