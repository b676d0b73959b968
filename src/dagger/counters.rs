//! What the adapter counts: calls, attempts, retries by error kind, Retry-After waits, breaker
//! trips and rejections, call latencies.
//!
//! The counts are gathered from inside the retried body (each attempt runs it once, and it sees
//! the error it returns), so they need nothing from the retry engine. All of it sits in
//! [`Counters`], read through [`Counters::snapshot`], so that a telemetry layer with per-function
//! records can replace it without touching the workflow or the summary.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use retry_runtime::Classify;
use tokio::time::Instant;

use super::error::{DaggerError, DaggerErrorKind};

/// Live counters of one adapter; shared, updated from every call.
#[derive(Debug, Default)]
pub struct Counters {
    calls: AtomicU64,
    successes: AtomicU64,
    attempts: AtomicU64,
    failed_attempts: AtomicU64,
    retry_after_waits: AtomicU64,
    retry_after_honoured: AtomicU64,
    breaker_trips: AtomicU64,
    breaker_rejections: AtomicU64,
    /// Retries by the kind of the error that caused them, and final errors by kind.
    kinds: Mutex<KindCounts>,
    latencies: Mutex<Vec<Duration>>,
}

#[derive(Debug, Default)]
struct KindCounts {
    retries: BTreeMap<&'static str, u64>,
    failures: BTreeMap<&'static str, u64>,
}

/// A copy of the [`Counters`] at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CountersSnapshot {
    /// Calls made (one per query, however many attempts it took).
    pub calls: u64,
    /// Calls that returned `Ok`.
    pub successes: u64,
    /// Attempts made: requests sent, or at least started.
    pub attempts: u64,
    /// Attempts that ended in an error.
    pub failed_attempts: u64,
    /// Attempts after the first, by the kind of the error the previous attempt returned.
    pub retries_by_kind: BTreeMap<String, u64>,
    /// Calls that failed, by the kind of the error they returned.
    pub failures_by_kind: BTreeMap<String, u64>,
    /// Retries that followed an error carrying a `Retry-After` hint.
    pub retry_after_waits: u64,
    /// Of those, the retries sent no earlier than the hint asked.
    pub retry_after_honoured: u64,
    /// Times the circuit breaker opened.
    pub breaker_trips: u64,
    /// Calls that ended because the circuit breaker refused an attempt.
    pub breaker_rejections: u64,
    /// The duration of every call, first attempt to final result, in completion order.
    pub latencies: Vec<Duration>,
}

impl CountersSnapshot {
    /// Retries of every kind together: attempts after the first of their call.
    pub fn retries(&self) -> u64 {
        self.retries_by_kind.values().sum()
    }

    /// The latency at quantile `q` (0 to 1) by the nearest-rank method; zero without calls.
    pub fn latency_quantile(&self, q: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.saturating_sub(1).min(sorted.len() - 1)]
    }
}

impl Counters {
    /// Counters at zero.
    pub fn new() -> Counters {
        Counters::default()
    }

    /// A copy of every count.
    pub fn snapshot(&self) -> CountersSnapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        let owned = |m: &BTreeMap<&'static str, u64>| m.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        CountersSnapshot {
            calls: load(&self.calls),
            successes: load(&self.successes),
            attempts: load(&self.attempts),
            failed_attempts: load(&self.failed_attempts),
            retries_by_kind: owned(&kinds.retries),
            failures_by_kind: owned(&kinds.failures),
            retry_after_waits: load(&self.retry_after_waits),
            retry_after_honoured: load(&self.retry_after_honoured),
            breaker_trips: load(&self.breaker_trips),
            breaker_rejections: load(&self.breaker_rejections),
            latencies: self.latencies.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }

    /// Counts a trip of the circuit breaker (called from its transition listener).
    pub(crate) fn breaker_tripped(&self) {
        self.breaker_trips.fetch_add(1, Ordering::Relaxed);
    }

    fn bump(map: &mut BTreeMap<&'static str, u64>, kind: DaggerErrorKind) {
        *map.entry(kind.as_str()).or_insert(0) += 1;
    }
}

/// What one call has done so far, kept across its attempts.
#[derive(Debug)]
pub(crate) struct CallLog<'a> {
    counters: &'a Counters,
    started: Instant,
    /// The kind of the last attempt's error, and its Retry-After hint with the time it arrived.
    last_error: Option<(DaggerErrorKind, Option<(Instant, Duration)>)>,
}

impl<'a> CallLog<'a> {
    /// Starts a call.
    pub(crate) fn start(counters: &'a Counters) -> CallLog<'a> {
        counters.calls.fetch_add(1, Ordering::Relaxed);
        CallLog { counters, started: Instant::now(), last_error: None }
    }

    /// Called at the start of every attempt: a second or later attempt is a retry of the previous
    /// attempt's error, and honours its Retry-After if enough time has passed since it arrived.
    pub(crate) fn attempt(&mut self) {
        let c = self.counters;
        c.attempts.fetch_add(1, Ordering::Relaxed);
        if let Some((kind, hint)) = self.last_error.take() {
            Counters::bump(&mut c.kinds.lock().unwrap_or_else(|e| e.into_inner()).retries, kind);
            if let Some((at, wait)) = hint {
                c.retry_after_waits.fetch_add(1, Ordering::Relaxed);
                if at.elapsed() >= wait {
                    c.retry_after_honoured.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Called with the error an attempt is about to return.
    pub(crate) fn failed(&mut self, error: &DaggerError) {
        self.counters.failed_attempts.fetch_add(1, Ordering::Relaxed);
        self.last_error = Some((error.kind(), error.retry_after().map(|wait| (Instant::now(), wait))));
    }

    /// Ends the call with its result.
    pub(crate) fn finish<T>(self, result: &Result<T, DaggerError>) {
        let c = self.counters;
        match result {
            Ok(_) => {
                c.successes.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                if matches!(error, DaggerError::CircuitOpen(_)) {
                    c.breaker_rejections.fetch_add(1, Ordering::Relaxed);
                }
                Counters::bump(&mut c.kinds.lock().unwrap_or_else(|e| e.into_inner()).failures, error.kind());
            }
        }
        c.latencies.lock().unwrap_or_else(|e| e.into_inner()).push(self.started.elapsed());
    }
}
