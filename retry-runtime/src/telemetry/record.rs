//! The per-function record and the registry of all records.

use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use super::histogram::{DelayHistogram, Histogram};
use super::kinds::KindCounts;
use super::striped::StripedCounter;
use crate::breaker::BreakerState;
use crate::name::CallName;

/// Every record that has seen a call, in the order of their first calls.
static REGISTRY: Mutex<Vec<&'static FnStats>> = Mutex::new(Vec::new());

/// No breaker state observed yet.
const NO_BREAKER: u8 = u8::MAX;

/// The telemetry record of one retried function. `#[retryable]` keeps one in a `static` inside
/// the function; it registers itself on the first call.
#[derive(Debug)]
pub struct FnStats {
    registered: AtomicBool,
    name: OnceLock<String>,
    /// Bumped by the success path: striped by thread, so no locked instruction.
    first_try_successes: StripedCounter,
    /// Calls whose first attempt failed or was refused by the breaker.
    troubled_calls: AtomicU64,
    successes_after_retry: AtomicU64,
    permanent_failures: AtomicU64,
    exhausted: AtomicU64,
    breaker_rejections: AtomicU64,
    budget_rejections: AtomicU64,
    retries: AtomicU64,
    retry_after_waits: AtomicU64,
    retries_by_kind: KindCounts,
    delays: Histogram,
    breaker_state: AtomicU8,
    #[cfg(feature = "metrics")]
    feed: OnceLock<super::metrics_feed::Feed>,
}

impl Default for FnStats {
    fn default() -> Self {
        Self::new()
    }
}

impl FnStats {
    /// An empty record.
    pub const fn new() -> Self {
        FnStats {
            registered: AtomicBool::new(false),
            name: OnceLock::new(),
            first_try_successes: StripedCounter::new(),
            troubled_calls: AtomicU64::new(0),
            successes_after_retry: AtomicU64::new(0),
            permanent_failures: AtomicU64::new(0),
            exhausted: AtomicU64::new(0),
            breaker_rejections: AtomicU64::new(0),
            budget_rejections: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            retry_after_waits: AtomicU64::new(0),
            retries_by_kind: KindCounts::new(),
            delays: Histogram::new(),
            breaker_state: AtomicU8::new(NO_BREAKER),
            #[cfg(feature = "metrics")]
            feed: OnceLock::new(),
        }
    }

    /// Registers the record under `name` on its first use.
    #[inline(always)]
    fn ensure_registered(&'static self, name: &CallName) {
        if !self.registered.load(Relaxed) {
            self.register(name);
        }
    }

    #[cold]
    #[inline(never)]
    fn register(&'static self, name: &CallName) {
        let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        if !self.registered.load(Relaxed) {
            let name = self.name.get_or_init(|| name.to_string());
            #[cfg(feature = "metrics")]
            let _ = self.feed.get_or_init(|| super::metrics_feed::Feed::new(name));
            let _ = name;
            registry.push(self);
            self.registered.store(true, Relaxed);
        }
    }

    /// A call succeeded on its first attempt: the success path, one relaxed add.
    #[inline(always)]
    pub(crate) fn first_try_success(&'static self, name: &CallName) {
        self.ensure_registered(name);
        self.first_try_successes.increment();
        #[cfg(feature = "metrics")]
        self.feed().first_try_success();
    }

    /// A call succeeded after `retries` retries.
    pub(crate) fn success_after_retry(&'static self, name: &CallName) {
        self.ensure_registered(name);
        self.successes_after_retry.fetch_add(1, Relaxed);
        #[cfg(feature = "metrics")]
        self.feed().success_after_retry();
    }

    /// An attempt failed; `first` when it was the call's first.
    pub(crate) fn attempt_failed(&'static self, name: &CallName, first: bool) {
        self.ensure_registered(name);
        if first {
            self.troubled_calls.fetch_add(1, Relaxed);
            #[cfg(feature = "metrics")]
            self.feed().troubled_call();
        }
    }

    /// The call returned an error it was not to retry.
    pub(crate) fn permanent_failure(&self) {
        self.permanent_failures.fetch_add(1, Relaxed);
        #[cfg(feature = "metrics")]
        self.feed().permanent_failure();
    }

    /// The call gave up on a retryable error (retries, deadline or Retry-After exhausted).
    pub(crate) fn exhausted(&self) {
        self.exhausted.fetch_add(1, Relaxed);
        #[cfg(feature = "metrics")]
        self.feed().exhausted();
    }

    /// The retry budget denied a retry.
    pub(crate) fn budget_rejection(&self) {
        self.budget_rejections.fetch_add(1, Relaxed);
        #[cfg(feature = "metrics")]
        self.feed().budget_rejection();
    }

    /// The breaker refused an attempt; `first` when it was the call's first.
    pub(crate) fn breaker_rejection(&'static self, name: &CallName, first: bool) {
        self.attempt_failed(name, first);
        self.breaker_rejections.fetch_add(1, Relaxed);
        #[cfg(feature = "metrics")]
        self.feed().breaker_rejection();
    }

    /// A retry is about to sleep `delay`; `kind` is the error's kind with its hash.
    pub(crate) fn retry(&self, delay: Duration, kind: Option<(u64, &dyn Debug)>, retry_after: bool) {
        self.retries.fetch_add(1, Relaxed);
        if retry_after {
            self.retry_after_waits.fetch_add(1, Relaxed);
        }
        if let Some((hash, kind)) = kind {
            self.retries_by_kind.record(hash, kind);
        }
        self.delays.record(delay);
        #[cfg(feature = "metrics")]
        self.feed().retry(delay, kind.map(|(_, k)| k), retry_after);
    }

    /// The state the breaker was in when last asked.
    #[inline]
    pub(crate) fn breaker_state(&self, state: BreakerState) {
        self.breaker_state.store(state as u8, Relaxed);
    }

    #[cfg(feature = "metrics")]
    fn feed(&self) -> &super::metrics_feed::Feed {
        self.feed.get_or_init(|| super::metrics_feed::Feed::new(self.name.get().map_or("", String::as_str)))
    }

    /// A snapshot of this record.
    pub fn snapshot(&self) -> FnSnapshot {
        let first_try_successes = self.first_try_successes.get();
        let troubled = self.troubled_calls.load(Relaxed);
        let retries = self.retries.load(Relaxed);
        let calls = first_try_successes + troubled;
        FnSnapshot {
            name: self.name.get().cloned().unwrap_or_default(),
            calls,
            attempts: calls + retries,
            first_try_successes,
            successes_after_retry: self.successes_after_retry.load(Relaxed),
            permanent_failures: self.permanent_failures.load(Relaxed),
            exhausted: self.exhausted.load(Relaxed),
            breaker_rejections: self.breaker_rejections.load(Relaxed),
            budget_rejections: self.budget_rejections.load(Relaxed),
            retries,
            retry_after_waits: self.retry_after_waits.load(Relaxed),
            retries_by_kind: self.retries_by_kind.snapshot(),
            delays: self.delays.snapshot(),
            breaker: breaker_state(self.breaker_state.load(Relaxed)),
        }
    }
}

fn breaker_state(code: u8) -> Option<BreakerState> {
    [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
        BreakerState::ForcedOpen,
        BreakerState::Disabled,
    ]
    .into_iter()
    .find(|s| *s as u8 == code)
}

/// The figures of one retried function at one moment.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct FnSnapshot {
    /// The function's name (`module::function`, `Type::method`, or its `name = ".."`).
    pub name: String,
    /// Calls made (counted once their first attempt has ended).
    pub calls: u64,
    /// Attempts made: calls plus retries.
    pub attempts: u64,
    /// Calls whose first attempt succeeded.
    pub first_try_successes: u64,
    /// Calls that failed at first and succeeded after retrying.
    pub successes_after_retry: u64,
    /// Calls that returned an error not to retry (a permanent one, or one `on`/`when` rejected).
    pub permanent_failures: u64,
    /// Calls that gave up on a retryable error: retries exhausted, or a deadline or Retry-After
    /// that left no room for another attempt.
    pub exhausted: u64,
    /// Attempts refused by the circuit breaker (each ends its call).
    pub breaker_rejections: u64,
    /// Retries denied by the retry budget (each ends its call).
    pub budget_rejections: u64,
    /// Retries made.
    pub retries: u64,
    /// Retries whose delay honoured a Retry-After hint.
    pub retry_after_waits: u64,
    /// Retries by error kind, sorted by kind.
    pub retries_by_kind: Vec<(String, u64)>,
    /// The delays slept before retries.
    pub delays: DelayHistogram,
    /// The state of the function's breaker when it was last asked, if it has one.
    pub breaker: Option<BreakerState>,
}

/// Snapshots of every function called so far, in the order of their first calls.
pub fn snapshot() -> Vec<FnSnapshot> {
    let registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    registry.iter().map(|stats| stats.snapshot()).collect()
}
