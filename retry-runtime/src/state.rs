//! The per-call retry state machine shared by the `#[retryable]` expansion and the hand-written
//! executors: it judges each attempt's outcome and computes the next delay.

use std::fmt::Debug;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::SmallRng;

use std::hash::{Hash, Hasher};

use crate::adaptive::Adaptive;
use crate::breaker::{CircuitBreaker, CircuitOpen, Outcome, Permit};
use crate::budget::RetryBudget;
use crate::classify::Classify;
use crate::clock::Clock;
use crate::name::CallName;
use crate::policy::{Jitter, RetryPolicy};
use crate::telemetry::FnStats;
use crate::telemetry::kinds::KindHasher;

/// The judgement of one failed attempt.
#[derive(Clone, Copy)]
struct Verdict<'e> {
    /// Retry this error (if the policy still allows it).
    retry: bool,
    /// Count it as a failure of the remote service (breaker, budget). Permanent errors count as neither.
    transient: bool,
    /// The server's Retry-After hint.
    retry_after: Option<Duration>,
    /// The error's kind, for logs and telemetry, with its hash.
    kind: Option<(u64, &'e dyn Debug)>,
    /// The error, for logs.
    error: &'e dyn Debug,
}

/// `#[retryable(on = [..])]` as a test of an error's kind; `None` retries the transient errors.
pub type KindFilter<E> = Option<fn(<E as Classify>::Kind) -> bool>;

/// The `Ok` and `Err` types of a function's return type, whatever alias names it.
#[diagnostic::on_unimplemented(
    message = "`#[retryable]` needs a function returning `Result<T, E>`, not `{Self}`",
    label = "not a `Result`",
    note = "only an error can be retried: return a `Result` (or an alias of it, such as `io::Result<T>`)"
)]
pub trait RetryResult {
    /// The error type.
    type Err;
    /// The error, if this is one.
    fn err(&self) -> Option<&Self::Err>;
    /// Builds the error result.
    fn from_err(error: Self::Err) -> Self;
}

impl<T, E> RetryResult for Result<T, E> {
    type Err = E;

    #[inline(always)]
    fn err(&self) -> Option<&E> {
        self.as_ref().err()
    }

    #[inline]
    fn from_err(error: E) -> Self {
        Err(error)
    }
}

/// What the retry loop does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Return the attempt's result to the caller.
    Return,
    /// Sleep this long, then try again.
    Retry(Duration),
}

/// Why a call stopped retrying a retryable error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GiveUp {
    Exhausted,
    Deadline,
    RetryAfterTooLong,
    Budget,
}

impl GiveUp {
    fn as_str(self) -> &'static str {
        match self {
            GiveUp::Exhausted => "retries exhausted",
            GiveUp::Deadline => "deadline would be passed",
            GiveUp::RetryAfterTooLong => "retry-after exceeds max_delay or deadline",
            GiveUp::Budget => "retry budget exhausted",
        }
    }
}

/// What the calls of one function share: its breaker, budget, telemetry record and adaptive state.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shared<'a> {
    /// Asked before every attempt, told every outcome.
    pub breaker: Option<&'a CircuitBreaker>,
    /// Asked before every retry, told every outcome.
    pub budget: Option<&'a RetryBudget>,
    /// The function's telemetry record.
    pub stats: Option<&'static FnStats>,
    /// Recent health, which scales retries and backoff.
    pub adaptive: Option<&'a Adaptive>,
}

/// The state of one call: attempts made, when it started (only read when a deadline needs it),
/// and, from its first failure on, what retrying needs.
#[derive(Debug)]
pub struct RetryState<'a, C: Clock> {
    policy: &'a RetryPolicy,
    shared: &'a Shared<'a>,
    name: &'a CallName,
    retries: u32,
    started: Option<Instant>,
    /// Set up at the first failure, so that a call that succeeds at once never builds it.
    retrying: Option<Retrying>,
    clock: PhantomData<C>,
}

/// What a call needs once it has failed: its retry limit and backoff scale (adjusted by adaptive
/// retry from the health at that moment), the previous delay, and the jitter generator (created
/// on the first jittered retry).
#[derive(Debug)]
struct Retrying {
    /// The policy's retries, or fewer when adaptive retry has cut them.
    max_retries: u32,
    /// 1, or more when adaptive retry lengthens backoff.
    backoff_scale: f64,
    previous: Duration,
    rng: Option<SmallRng>,
}

impl Retrying {
    fn new(policy: &RetryPolicy, adaptive: Option<&Adaptive>) -> Self {
        let (max_retries, backoff_scale) = match adaptive {
            None => (policy.max_retries, 1.0),
            Some(adaptive) => adaptive.adjust(policy.max_retries),
        };
        Retrying { max_retries, backoff_scale, previous: policy.backoff, rng: None }
    }
}

impl<'a, C: Clock + Default> RetryState<'a, C> {
    /// Starts a call. Reads the clock only when the policy has a deadline.
    #[inline(always)]
    pub fn new(policy: &'a RetryPolicy, shared: &'a Shared<'a>, name: &'a CallName) -> Self {
        RetryState {
            policy,
            shared,
            name,
            retries: 0,
            started: policy.deadline.map(|_| C::default().now()),
            retrying: None,
            clock: PhantomData,
        }
    }

    /// The policy of this call.
    #[inline]
    pub fn policy(&self) -> &'a RetryPolicy {
        self.policy
    }

    /// Attempts made so far, counting the one in progress once [`judge`](Self::judge) has seen it.
    #[inline]
    pub fn attempts(&self) -> u32 {
        self.retries + 1
    }

    /// Asks the breaker, if any, for a permit to make an attempt.
    #[inline]
    pub fn acquire(&self) -> Result<Option<Permit<'a>>, CircuitOpen> {
        match self.shared.breaker {
            None => Ok(None),
            Some(breaker) => {
                let acquired = breaker.try_acquire();
                if let Some(stats) = self.shared.stats {
                    stats.breaker_state(breaker.state());
                }
                match acquired {
                    Ok(permit) => Ok(Some(permit)),
                    Err(open) => Err(self.rejected(open)),
                }
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn rejected(&self, open: CircuitOpen) -> CircuitOpen {
        if let Some(stats) = self.shared.stats {
            stats.breaker_rejection(self.name, self.retries == 0);
        }
        if let Some(adaptive) = self.shared.adaptive {
            adaptive.record(false);
        }
        tracing::warn!(
            target: "retry",
            name = %self.name,
            attempt = self.retries + 1,
            outcome = "circuit_open",
            "circuit breaker is open: giving up"
        );
        open
    }

    /// Judges an attempt's result by the error's [`Classify`] impl: records it with the breaker and
    /// budget, then decides whether to return it or to retry after a delay.
    ///
    /// `on` decides retry from the error's kind (`#[retryable(on = [..])]`); `None` retries the
    /// errors classed transient. Either way only transient errors count as failures of the service.
    #[inline(always)]
    pub fn judge<R>(
        &mut self,
        result: &R,
        permit: Option<Permit<'a>>,
        on: KindFilter<R::Err>,
        describe: impl FnOnce(&R::Err) -> &dyn Debug,
    ) -> Next
    where
        R: RetryResult,
        R::Err: Classify,
    {
        match result.err() {
            None => {
                self.succeeded(permit);
                Next::Return
            }
            Some(e) => self.judge_error(e, permit, on, describe),
        }
    }

    /// The error half of [`judge`](Self::judge), out of line so that `judge` itself is a few
    /// instructions on the success path.
    #[cold]
    #[inline(never)]
    fn judge_error<Err: Classify>(
        &mut self,
        e: &Err,
        permit: Option<Permit<'a>>,
        on: KindFilter<Err>,
        describe: impl FnOnce(&Err) -> &dyn Debug,
    ) -> Next {
        let kind = e.kind();
        let transient = e.class().is_transient();
        let mut hasher = KindHasher::default();
        kind.hash(&mut hasher);
        let verdict = Verdict {
            retry: on.map_or(transient, |on| on(kind)),
            transient,
            retry_after: e.retry_after(),
            kind: Some((hasher.finish(), &kind)),
            error: describe(e),
        };
        self.failed(permit, verdict)
    }

    /// Judges an attempt's result with a predicate (`#[retryable(when = ..)]`): errors it accepts
    /// are retried and count as failures of the service; no Retry-After hint is read.
    #[inline(always)]
    pub fn judge_when<R: RetryResult>(
        &mut self,
        result: &R,
        permit: Option<Permit<'a>>,
        when: impl FnOnce(&R::Err) -> bool,
        describe: impl FnOnce(&R::Err) -> &dyn Debug,
    ) -> Next {
        match result.err() {
            None => {
                self.succeeded(permit);
                Next::Return
            }
            Some(e) => self.judge_error_when(e, permit, when, describe),
        }
    }

    #[cold]
    #[inline(never)]
    fn judge_error_when<Err>(
        &mut self,
        e: &Err,
        permit: Option<Permit<'a>>,
        when: impl FnOnce(&Err) -> bool,
        describe: impl FnOnce(&Err) -> &dyn Debug,
    ) -> Next {
        let retry = when(e);
        let verdict = Verdict { retry, transient: retry, retry_after: None, kind: None, error: describe(e) };
        self.failed(permit, verdict)
    }

    /// Records a success with whatever listens. Inline, it is a few tests of `None` when nothing
    /// listens; the recording is out of line, so that a permit is never copied on the fast path
    /// (a copy of a 40-byte `Option<Permit>` whose tag was just written stalls store forwarding).
    #[inline(always)]
    fn succeeded(&self, permit: Option<Permit<'a>>) {
        let shared = self.shared;
        if permit.is_none() && shared.budget.is_none() && shared.adaptive.is_none() {
            // The common case of `#[retryable]`: only telemetry listens, and a first-try success
            // is one count, made here rather than through a call.
            match shared.stats {
                None => return,
                Some(stats) if self.retries == 0 => return stats.first_try_success(self.name),
                Some(_) => {}
            }
        }
        self.record_success(permit);
    }

    #[inline(never)]
    fn record_success(&self, permit: Option<Permit<'a>>) {
        if let Some(permit) = permit {
            permit.record(Outcome::Success);
        }
        let shared = self.shared;
        if let Some(budget) = shared.budget {
            budget.record_success();
        }
        if let Some(stats) = shared.stats {
            if self.retries == 0 {
                stats.first_try_success(self.name);
            } else {
                stats.success_after_retry(self.name);
            }
        }
        if let Some(adaptive) = shared.adaptive {
            adaptive.record(true);
        }
    }

    #[cold]
    #[inline(never)]
    fn failed(&mut self, permit: Option<Permit<'a>>, verdict: Verdict<'_>) -> Next {
        if let Some(permit) = permit {
            permit.record(if verdict.transient { Outcome::Failure } else { Outcome::Ignored });
        }
        if verdict.transient
            && let Some(budget) = self.shared.budget
        {
            budget.record_failure();
        }
        let stats = self.shared.stats;
        if let Some(stats) = stats {
            stats.attempt_failed(self.name, self.retries == 0);
        }
        let attempt = self.retries + 1;
        let (kind, error) = (verdict.kind.map_or(&"" as &dyn Debug, |(_, k)| k), verdict.error);
        if !verdict.retry {
            if let Some(stats) = stats {
                stats.permanent_failure();
            }
            tracing::debug!(
                target: "retry",
                name = %self.name,
                attempt,
                error.kind = ?kind,
                error = ?error,
                outcome = "not_retryable",
                "error is not retryable: returning it"
            );
            return Next::Return;
        }
        match self.next_delay(verdict.retry_after) {
            Ok(delay) => {
                self.retries += 1;
                if let Some(retrying) = &mut self.retrying {
                    retrying.previous = delay;
                }
                if let Some(stats) = stats {
                    stats.retry(delay, verdict.kind, verdict.retry_after.is_some());
                }
                tracing::info!(
                    target: "retry",
                    name = %self.name,
                    attempt,
                    delay_ms = delay.as_secs_f64() * 1000.0,
                    error.kind = ?kind,
                    error = ?error,
                    outcome = "retry",
                    "attempt failed: retrying"
                );
                Next::Retry(delay)
            }
            Err(reason) => {
                if let Some(stats) = stats {
                    if reason == GiveUp::Budget { stats.budget_rejection() } else { stats.exhausted() }
                }
                if let Some(adaptive) = self.shared.adaptive {
                    adaptive.record(false);
                }
                tracing::warn!(
                    target: "retry",
                    name = %self.name,
                    attempt,
                    error.kind = ?kind,
                    error = ?error,
                    outcome = "gave_up",
                    reason = reason.as_str(),
                    "giving up"
                );
                Next::Return
            }
        }
    }

    /// The delay before the next retry, or why there is none.
    fn next_delay(&mut self, retry_after: Option<Duration>) -> Result<Duration, GiveUp> {
        let policy = self.policy;
        let remaining = self.remaining();
        let adaptive = self.shared.adaptive;
        let retrying = self.retrying.get_or_insert_with(|| Retrying::new(policy, adaptive));
        if self.retries >= retrying.max_retries {
            return Err(GiveUp::Exhausted);
        }
        let remaining = remaining?;
        if let Some(hint) = retry_after
            && (hint > policy.max_delay || remaining.is_some_and(|r| hint > r))
        {
            return Err(GiveUp::RetryAfterTooLong);
        }
        let retry = self.retries + 1;
        let computed = match policy.jitter {
            Jitter::None => policy.backoff_delay(retry),
            _ => {
                let rng = retrying.rng.get_or_insert_with(|| jitter_rng(policy.seed));
                policy.jittered_delay(retry, retrying.previous, rng)
            }
        };
        let computed = if retrying.backoff_scale > 1.0 {
            Duration::try_from_secs_f64(computed.as_secs_f64() * retrying.backoff_scale)
                .map_or(policy.max_delay, |d| d.min(policy.max_delay))
        } else {
            computed
        };
        let delay = retry_after.map_or(computed, |hint| computed.max(hint));
        if remaining.is_some_and(|r| delay > r) {
            return Err(GiveUp::Deadline);
        }
        if let Some(budget) = self.shared.budget
            && !budget.can_retry()
        {
            return Err(GiveUp::Budget);
        }
        Ok(delay)
    }

    /// Time left before the deadline, if there is one; `Err` once the deadline has passed, when even
    /// a zero delay would start an attempt after it.
    fn remaining(&self) -> Result<Option<Duration>, GiveUp> {
        let (Some(deadline), Some(started)) = (self.policy.deadline, self.started) else {
            return Ok(None);
        };
        let elapsed = C::default().now().saturating_duration_since(started);
        deadline.checked_sub(elapsed).map(Some).ok_or(GiveUp::Deadline)
    }
}

/// A fresh generator for one call's jitter: seeded from the policy when it has a seed, otherwise
/// from the thread's generator (used here, in a plain function, never held across an `.await`).
fn jitter_rng(seed: Option<u64>) -> SmallRng {
    match seed {
        Some(seed) => SmallRng::seed_from_u64(seed),
        None => SmallRng::from_rng(&mut rand::rng()),
    }
}
