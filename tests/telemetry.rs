//! Telemetry: per-function records, their Prometheus exposition, and the `tracing` events.

use retry_runtime::telemetry::{self, FnSnapshot};
use retry_runtime::{Classify, retryable};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Classify)]
enum FetchError {
    #[transient]
    Reset,
    #[transient(retry_after = wait)]
    Busy { wait: Duration },
    #[permanent]
    NotFound,
}

/// Scripted outcomes, one per attempt: 'r' reset, 'b' busy, 'n' not found, 'o' ok.
fn scripted(script: &[u8], counter: &AtomicU32) -> Result<u32, FetchError> {
    let i = counter.fetch_add(1, Ordering::SeqCst) as usize;
    match script.get(i).copied().unwrap_or(b'o') {
        b'r' => Err(FetchError::Reset),
        b'b' => Err(FetchError::Busy { wait: Duration::from_millis(3) }),
        b'n' => Err(FetchError::NotFound),
        _ => Ok(i as u32),
    }
}

#[retryable(max = 2, backoff = 0, name = "telemetry.fetch")]
fn fetch(script: &[u8], counter: &AtomicU32) -> Result<u32, FetchError> {
    scripted(script, counter)
}

fn record(name: &str) -> FnSnapshot {
    telemetry::snapshot().into_iter().find(|r| r.name == name).expect("the function has a record")
}

#[test]
fn records_count_every_outcome() {
    let run = |script: &[u8]| {
        let counter = AtomicU32::new(0);
        let _ = fetch(script, &counter);
    };
    run(b"o"); // first-try success
    run(b"o");
    run(b"ro"); // success after one retry
    run(b"bro"); // Retry-After wait, then a reset, then success
    run(b"n"); // permanent at once
    run(b"rrr"); // retries exhausted
    let r = record("telemetry.fetch");
    assert_eq!(r.calls, 6);
    assert_eq!(r.first_try_successes, 2);
    assert_eq!(r.successes_after_retry, 2);
    assert_eq!(r.permanent_failures, 1);
    assert_eq!(r.exhausted, 1);
    assert_eq!(r.retries, 1 + 2 + 2);
    assert_eq!(r.attempts, 6 + 5);
    assert_eq!(r.retry_after_waits, 1);
    assert_eq!(r.retries_by_kind, vec![("Busy".to_owned(), 1), ("Reset".to_owned(), 4)]);
    assert_eq!(r.delays.count(), 5);
    assert_eq!(r.delays.sum, Duration::from_millis(3));
    assert_eq!(r.breaker, None);
}

#[retryable(max = 1, backoff = 0)]
fn default_named() -> std::io::Result<()> {
    Ok(())
}

struct Adapter;

impl Adapter {
    #[retryable(max = 1, backoff = 0)]
    fn method(&self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn default_names_are_module_function_and_type_method() {
    default_named().unwrap();
    Adapter.method().unwrap();
    let names: Vec<String> = telemetry::snapshot().into_iter().map(|r| r.name).collect();
    assert!(names.contains(&"telemetry::default_named".to_owned()), "{names:?}");
    assert!(names.contains(&"telemetry::Adapter::method".to_owned()), "{names:?}");
}

#[retryable(max = 2, backoff = "10ms", name = "odd \"name\"\\with\nbreaks")]
fn oddly_named(counter: &AtomicU32) -> Result<u32, FetchError> {
    scripted(b"rr", counter)
}

/// A Prometheus text-format parser: `(metric name, labels) -> value`, checking the line grammar.
fn parse_prometheus(text: &str) -> HashMap<(String, BTreeMap<String, String>), f64> {
    let mut samples = HashMap::new();
    let mut typed = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap();
            let kind = parts.next().unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            typed.insert(name.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value: {line}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line}"));
                (name.to_owned(), parse_labels(body))
            }
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|base| typed.contains(*base)))
            .unwrap_or(&name);
        assert!(typed.contains(family), "sample before its TYPE line: {line}");
        assert!(samples.insert((name, labels), value).is_none(), "duplicate sample: {line}");
    }
    samples
}

fn parse_labels(body: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = body.chars().peekable();
    while chars.peek().is_some() {
        let name: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert_eq!(chars.next(), Some('"'));
        let mut value = String::new();
        loop {
            match chars.next().expect("unterminated label value") {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c @ ('\\' | '"')) => value.push(c),
                    other => panic!("bad escape {other:?}"),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.insert(name, value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    labels
}

#[test]
fn prometheus_exposition_parses_back_to_the_snapshot() {
    let counter = AtomicU32::new(0);
    oddly_named(&counter).unwrap();
    let name = "odd \"name\"\\with\nbreaks";
    let r = record(name);
    let samples = parse_prometheus(&telemetry::prometheus());
    let get = |metric: &str, extra: &[(&str, &str)]| {
        let mut labels = BTreeMap::from([("function".to_owned(), name.to_owned())]);
        for (k, v) in extra {
            labels.insert((*k).to_owned(), (*v).to_owned());
        }
        samples.get(&(metric.to_owned(), labels)).copied().unwrap_or_else(|| panic!("missing {metric}"))
    };
    assert_eq!(get("retry_calls_total", &[]), r.calls as f64);
    assert_eq!(get("retry_calls_total", &[]), 1.0);
    assert_eq!(get("retry_attempts_total", &[]), 3.0);
    assert_eq!(get("retry_retries_total", &[]), 2.0);
    assert_eq!(get("retry_successes_after_retry_total", &[]), 1.0);
    assert_eq!(get("retry_retries_by_kind_total", &[("kind", "Reset")]), 2.0);
    assert_eq!(get("retry_delay_seconds_count", &[]), 2.0);
    assert!((get("retry_delay_seconds_sum", &[]) - 0.03).abs() < 1e-9);
    assert_eq!(get("retry_delay_seconds_bucket", &[("le", "0.01")]), 1.0);
    assert_eq!(get("retry_delay_seconds_bucket", &[("le", "0.025")]), 2.0);
    assert_eq!(get("retry_delay_seconds_bucket", &[("le", "+Inf")]), 2.0);
}

/// Collects the fields of every event with target "retry".
#[derive(Default, Clone)]
struct Events(Arc<Mutex<Vec<BTreeMap<String, String>>>>);

struct FieldVisitor<'a>(&'a mut BTreeMap<String, String>);

impl tracing::field::Visit for FieldVisitor<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl tracing::Subscriber for Events {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if event.metadata().target() == "retry" {
            let mut fields = BTreeMap::new();
            event.record(&mut FieldVisitor(&mut fields));
            self.0.lock().unwrap().push(fields);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[retryable(max = 1, backoff = "20ms", name = "telemetry.traced")]
fn traced(counter: &AtomicU32) -> Result<u32, FetchError> {
    scripted(b"rr", counter)
}

#[test]
fn tracing_events_have_stable_field_names() {
    let events = Events::default();
    let counter = AtomicU32::new(0);
    tracing::subscriber::with_default(events.clone(), || {
        let _ = traced(&counter);
    });
    let events = events.0.lock().unwrap();
    assert_eq!(events.len(), 2, "one retry and one give-up");
    let retry = &events[0];
    assert_eq!(retry["outcome"], "retry");
    assert_eq!(retry["attempt"], "1");
    assert_eq!(retry["delay_ms"], "20.0");
    assert_eq!(retry["error.kind"], "Reset");
    assert_eq!(retry["error"], "Reset");
    assert_eq!(retry["name"], "telemetry.traced");
    let gave_up = &events[1];
    assert_eq!(gave_up["outcome"], "gave_up");
    assert_eq!(gave_up["attempt"], "2");
    assert_eq!(gave_up["reason"], "retries exhausted");
}
