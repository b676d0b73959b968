//! Retrying by hand: the executors behind [`RetryPolicy::retry`], for code that does not use the
//! `#[retryable]` attribute.

use std::fmt::{self, Debug};
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use crate::adaptive::Adaptive;
use crate::breaker::{CircuitBreaker, CircuitOpen};
use crate::budget::RetryBudget;
use crate::classify::Classify;
use crate::clock::{Clock, SystemClock, TokioClock};
use crate::name::CallName;
use crate::policy::RetryPolicy;
use crate::state::{Next, RetryState, Shared};
use crate::timeout::AttemptTimeout;

/// A failed attempt about to be retried, as shown to an [`on_retry`](Retry::on_retry) hook.
#[derive(Debug)]
#[non_exhaustive]
pub struct RetryEvent<'e, E> {
    /// The number of the attempt that failed, from 1.
    pub attempt: u32,
    /// Its error.
    pub error: &'e E,
    /// How long the call sleeps before the next attempt.
    pub delay: Duration,
}

impl RetryPolicy {
    /// Retries `op` under this policy: configure with the returned builder, then
    /// [`run`](Retry::run) (async) or [`run_blocking`](Retry::run_blocking).
    ///
    /// By default errors classed [`Transient`](crate::ErrorClass::Transient) by their [`Classify`]
    /// impl are retried; [`when`](Retry::when) decides with a predicate instead.
    ///
    /// ```
    /// use retry_runtime::RetryPolicy;
    /// use std::io;
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let policy = RetryPolicy::builder().backoff(Duration::from_millis(10)).build().unwrap();
    /// let mut calls = 0;
    /// let result: io::Result<u32> = policy
    ///     .retry(|| {
    ///         calls += 1;
    ///         let n = calls;
    ///         async move {
    ///             if n < 3 { Err(io::Error::from(io::ErrorKind::ConnectionReset)) } else { Ok(n) }
    ///         }
    ///     })
    ///     .run()
    ///     .await;
    /// assert_eq!(result.unwrap(), 3);
    /// # }
    /// ```
    pub fn retry<F>(&self, op: F) -> Retry<'_, F, ByClass, NoHook, NoBreaker> {
        Retry {
            policy: self,
            op,
            classifier: ByClass,
            hook: NoHook,
            breaker: NoBreaker,
            budget: None,
            adaptive: None,
            name: CallName::fixed("retry"),
        }
    }
}

/// A retry of an operation, configured by its builder methods and started by
/// [`run`](Retry::run) or [`run_blocking`](Retry::run_blocking).
#[must_use = "a retry does nothing until `run` or `run_blocking` is called"]
pub struct Retry<'p, F, C, H, B> {
    policy: &'p RetryPolicy,
    op: F,
    classifier: C,
    hook: H,
    breaker: B,
    budget: Option<&'p RetryBudget>,
    adaptive: Option<&'p Adaptive>,
    name: CallName,
}

impl<F, C, H, B> Debug for Retry<'_, F, C, H, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("policy", self.policy)
            .field("name", &format_args!("{}", self.name))
            .finish_non_exhaustive()
    }
}

impl<'p, F, C, H, B> Retry<'p, F, C, H, B> {
    /// Retries the errors for which `predicate` returns `true`, instead of asking [`Classify`].
    /// No Retry-After hint is read.
    pub fn when<P>(self, predicate: P) -> Retry<'p, F, When<P>, H, B> {
        Retry {
            policy: self.policy,
            op: self.op,
            classifier: When(predicate),
            hook: self.hook,
            breaker: self.breaker,
            budget: self.budget,
            adaptive: self.adaptive,
            name: self.name,
        }
    }

    /// Calls `hook` before every retry with the failed attempt, its error and the coming delay.
    pub fn on_retry<H2>(self, hook: H2) -> Retry<'p, F, C, H2, B> {
        Retry {
            policy: self.policy,
            op: self.op,
            classifier: self.classifier,
            hook,
            breaker: self.breaker,
            budget: self.budget,
            adaptive: self.adaptive,
            name: self.name,
        }
    }

    /// Asks `breaker` before every attempt; an open breaker ends the call with `E::from(CircuitOpen)`.
    pub fn breaker(self, breaker: &'p CircuitBreaker) -> Retry<'p, F, C, H, &'p CircuitBreaker> {
        Retry {
            policy: self.policy,
            op: self.op,
            classifier: self.classifier,
            hook: self.hook,
            breaker,
            budget: self.budget,
            adaptive: self.adaptive,
            name: self.name,
        }
    }

    /// Asks `budget` before every retry; a denied retry returns the current error.
    pub fn budget(mut self, budget: &'p RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Adapts retries and backoff to the recent health kept in `adaptive` (shared by the calls of
    /// one operation); see [`adaptive`](crate::adaptive) for the algorithm.
    pub fn adaptive(mut self, adaptive: &'p Adaptive) -> Self {
        self.adaptive = Some(adaptive);
        self
    }

    /// The name in logs (default `"retry"`).
    pub fn name(mut self, name: &'static str) -> Self {
        self.name = CallName::fixed(name);
        self
    }

    fn shared<E>(&self) -> Shared<'p>
    where
        B: Guard<'p, E>,
    {
        Shared { breaker: self.breaker.breaker(), budget: self.budget, stats: None, adaptive: self.adaptive }
    }

    /// Runs the operation, sleeping on tokio's timer between attempts, and returns the first `Ok`,
    /// the first error not to retry, or the last error.
    ///
    /// The policy's `attempt_timeout`, if any, bounds each attempt; a timed-out attempt fails with
    /// `E::from(AttemptTimeout)`. Since any policy may carry one, the error type must convert
    /// [`AttemptTimeout`]: `io::Error`, `anyhow::Error` and `Box<dyn Error>` already do.
    ///
    /// The deadline, if any, counts from the first poll. The returned future is `Send` when the
    /// operation's futures are: no error is held across a sleep.
    //
    // Written as a plain function returning an `async move` block, not an `async fn`: the block
    // uses the captured values in place, where an `async fn` would move its arguments again on
    // the first poll (a copy right after a write stalls store forwarding; see benches/retry.rs).
    pub fn run<T, E, Fut>(self) -> impl Future<Output = Result<T, E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Classifier<E>,
        H: OnRetry<E>,
        B: Guard<'p, E>,
        E: Debug + From<AttemptTimeout>,
    {
        let shared = self.shared::<E>();
        let Retry { policy, mut op, mut classifier, mut hook, name, .. } = self;
        async move {
            let mut state = RetryState::<TokioClock>::new(policy, &shared, &name);
            // One timer, created only when first needed, serves both the attempt timeout and the
            // backoff sleep: with a single `Sleep` in it, the future's drop code stays small.
            let mut timer = pin!(None::<tokio::time::Sleep>);
            loop {
                let permit = if B::GUARDED { state.acquire().map_err(B::rejected)? } else { None };
                let delay = {
                    let mut attempt = pin!(op());
                    let result = match policy.attempt_timeout() {
                        None => attempt.await,
                        Some(limit) => {
                            timer.set(Some(tokio::time::sleep(limit)));
                            // The attempt first, as `tokio::time::timeout` does: a result that is
                            // ready wins over a timer that fired at the same time.
                            poll_fn(|cx| {
                                if let Poll::Ready(result) = attempt.as_mut().poll(cx) {
                                    return Poll::Ready(result);
                                }
                                match timer.as_mut().as_pin_mut().map(|sleep| sleep.poll(cx)) {
                                    Some(Poll::Ready(())) => Poll::Ready(Err(E::from(AttemptTimeout))),
                                    _ => Poll::Pending,
                                }
                            })
                            .await
                        }
                    };
                    // Without a breaker the permit is `None`: say so here, where the compiler sees
                    // it, instead of reading it back from the future's memory.
                    let permit = if B::GUARDED { permit } else { None };
                    match classifier.judge(&mut state, &result, permit) {
                        Next::Return => return result,
                        Next::Retry(delay) => {
                            if let Err(error) = &result {
                                hook.on_retry(&RetryEvent { attempt: state.attempts() - 1, error, delay });
                            }
                            delay
                        }
                    }
                };
                if !delay.is_zero() {
                    timer.set(Some(tokio::time::sleep(delay)));
                    if let Some(sleep) = timer.as_mut().as_pin_mut() {
                        sleep.await;
                    }
                }
            }
        }
    }

    /// Runs the operation on this thread, sleeping with `std::thread::sleep` between attempts.
    ///
    /// The policy's `attempt_timeout` does not apply: a blocking call cannot be interrupted.
    pub fn run_blocking<T, E>(self) -> Result<T, E>
    where
        F: FnMut() -> Result<T, E>,
        C: Classifier<E>,
        H: OnRetry<E>,
        B: Guard<'p, E>,
        E: Debug,
    {
        let shared = self.shared::<E>();
        let Retry { policy, mut op, mut classifier, mut hook, name, .. } = self;
        let mut state = RetryState::<SystemClock>::new(policy, &shared, &name);
        loop {
            let permit = state.acquire().map_err(B::rejected)?;
            let result = op();
            match classifier.judge(&mut state, &result, permit) {
                Next::Return => return result,
                Next::Retry(delay) => {
                    if let Err(error) = &result {
                        hook.on_retry(&RetryEvent { attempt: state.attempts() - 1, error, delay });
                    }
                    drop(result);
                    if !delay.is_zero() {
                        std::thread::sleep(delay);
                    }
                }
            }
        }
    }
}

/// Decides which errors a [`Retry`] retries.
pub trait Classifier<E> {
    /// Judges `result` through `state`.
    #[doc(hidden)]
    fn judge<'a, K: Clock + Default, T>(
        &mut self,
        state: &mut RetryState<'a, K>,
        result: &Result<T, E>,
        permit: Option<crate::Permit<'a>>,
    ) -> Next;
}

/// The default classifier: retries the errors whose [`Classify::class`] is transient.
#[derive(Debug, Clone, Copy, Default)]
pub struct ByClass;

impl<E: Classify + Debug> Classifier<E> for ByClass {
    #[inline(always)]
    fn judge<'a, K: Clock + Default, T>(
        &mut self,
        state: &mut RetryState<'a, K>,
        result: &Result<T, E>,
        permit: Option<crate::Permit<'a>>,
    ) -> Next {
        state.judge(result, permit, None, |e| e)
    }
}

/// A classifier that retries the errors a predicate accepts; see [`Retry::when`].
#[derive(Debug, Clone, Copy)]
pub struct When<P>(P);

impl<E: Debug, P: FnMut(&E) -> bool> Classifier<E> for When<P> {
    #[inline(always)]
    fn judge<'a, K: Clock + Default, T>(
        &mut self,
        state: &mut RetryState<'a, K>,
        result: &Result<T, E>,
        permit: Option<crate::Permit<'a>>,
    ) -> Next {
        state.judge_when(result, permit, |e| (self.0)(e), |e| e)
    }
}

/// Something called before every retry; see [`Retry::on_retry`]. Implemented by closures taking
/// a [`RetryEvent`].
pub trait OnRetry<E> {
    /// Called with the failed attempt, its error and the coming delay.
    fn on_retry(&mut self, event: &RetryEvent<'_, E>);
}

impl<E, F: FnMut(&RetryEvent<'_, E>)> OnRetry<E> for F {
    #[inline]
    fn on_retry(&mut self, event: &RetryEvent<'_, E>) {
        self(event)
    }
}

/// A hook that does nothing: the default of [`Retry::on_retry`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHook;

impl<E> OnRetry<E> for NoHook {
    #[inline]
    fn on_retry(&mut self, _: &RetryEvent<'_, E>) {}
}

/// What guards each attempt of a [`Retry`]: nothing, or a circuit breaker (set with
/// [`Retry::breaker`], which then needs `E: From<CircuitOpen>`).
pub trait Guard<'p, E> {
    /// Whether there is a breaker at all, known at compile time.
    #[doc(hidden)]
    const GUARDED: bool = true;
    /// The breaker, if any.
    #[doc(hidden)]
    fn breaker(&self) -> Option<&'p CircuitBreaker>;
    /// The error returned when the breaker refuses an attempt.
    #[doc(hidden)]
    fn rejected(open: CircuitOpen) -> E;
}

/// No circuit breaker: the default guard of a [`Retry`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBreaker;

impl<'p, E> Guard<'p, E> for NoBreaker {
    const GUARDED: bool = false;

    #[inline]
    fn breaker(&self) -> Option<&'p CircuitBreaker> {
        None
    }

    #[cold]
    fn rejected(_: CircuitOpen) -> E {
        unreachable!("an attempt without a breaker is never refused")
    }
}

impl<'p, E: From<CircuitOpen>> Guard<'p, E> for &'p CircuitBreaker {
    #[inline]
    fn breaker(&self) -> Option<&'p CircuitBreaker> {
        Some(*self)
    }

    #[cold]
    fn rejected(open: CircuitOpen) -> E {
        E::from(open)
    }
}
