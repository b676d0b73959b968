//! Behaviour of the retry engine through its hand-written executors, `RetryPolicy::retry(..).run()`
//! and `.run_blocking()`.
//!
//! Every async test runs on tokio's paused clock, so delays and deadlines are exact and instant;
//! operations are counting fakes. Nothing here sleeps for real or reads the wall clock.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use retry_runtime::{AttemptTimeout, Classify, ErrorClass, Jitter, RetryEvent, RetryPolicy};
use tokio::time::Instant;

// ---------------------------------------------------------------------------------------------
// Fakes

/// An error that says which attempt produced it, so tests can tell the last error from the others.
#[derive(Debug, Clone, PartialEq)]
enum TestError {
    Transient(u32),
    Permanent(u32),
    RateLimited { attempt: u32, wait: Duration },
    Timeout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum TestErrorKind {
    Transient,
    Permanent,
    RateLimited,
    Timeout,
}

impl Classify for TestError {
    type Kind = TestErrorKind;

    fn kind(&self) -> TestErrorKind {
        match self {
            TestError::Transient(_) => TestErrorKind::Transient,
            TestError::Permanent(_) => TestErrorKind::Permanent,
            TestError::RateLimited { .. } => TestErrorKind::RateLimited,
            TestError::Timeout => TestErrorKind::Timeout,
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            TestError::Permanent(_) => ErrorClass::Permanent,
            _ => ErrorClass::Transient,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            TestError::RateLimited { wait, .. } => Some(*wait),
            _ => None,
        }
    }
}

impl From<AttemptTimeout> for TestError {
    fn from(_: AttemptTimeout) -> Self {
        TestError::Timeout
    }
}

/// A counting fake: attempt `n` (from 1) returns `script(n)` at once.
fn counting<'a>(
    calls: &'a Cell<u32>,
    script: impl Fn(u32) -> Result<u32, TestError> + 'a,
) -> impl FnMut() -> std::future::Ready<Result<u32, TestError>> + 'a {
    move || {
        let n = calls.get() + 1;
        calls.set(n);
        std::future::ready(script(n))
    }
}

/// A counting fake whose attempts take `took` of (paused) time and record when they started.
fn slow<'a>(
    starts: &'a RefCell<Vec<Duration>>,
    origin: Instant,
    took: Duration,
    script: impl Fn(u32) -> Result<u32, TestError> + Copy + 'a,
) -> impl FnMut() -> std::pin::Pin<Box<dyn Future<Output = Result<u32, TestError>> + 'a>> + 'a {
    move || {
        starts.borrow_mut().push(origin.elapsed());
        let n = u32::try_from(starts.borrow().len()).unwrap();
        Box::pin(async move {
            tokio::time::sleep(took).await;
            script(n)
        })
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Polls a future once with a waker that does nothing, outside any runtime.
fn poll_once<F: Future>(future: F) -> Poll<F::Output> {
    let mut future = pin!(future);
    future.as_mut().poll(&mut Context::from_waker(Waker::noop()))
}

/// The delays an `on_retry` hook saw.
type Seen = RefCell<Vec<(u32, TestError, Duration)>>;

fn record(seen: &Seen) -> impl FnMut(&RetryEvent<'_, TestError>) + '_ {
    |event| seen.borrow_mut().push((event.attempt, event.error.clone(), event.delay))
}

// ---------------------------------------------------------------------------------------------
// Outcomes

#[tokio::test(start_paused = true)]
async fn first_ok_is_returned() {
    let start = Instant::now();
    let calls = Cell::new(0);
    let result = RetryPolicy::DEFAULT.retry(counting(&calls, |n| Ok(n * 10))).run().await;
    assert_eq!(result, Ok(10));
    assert_eq!(calls.get(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);

    let calls = Cell::new(0);
    let result = RetryPolicy::DEFAULT
        .retry(counting(&calls, |n| if n < 3 { Err(TestError::Transient(n)) } else { Ok(n * 10) }))
        .run()
        .await;
    assert_eq!(result, Ok(30));
    assert_eq!(calls.get(), 3, "no attempt after the first Ok");
}

#[tokio::test(start_paused = true)]
async fn non_retryable_error_is_returned_at_once() {
    let start = Instant::now();
    let calls = Cell::new(0);
    let seen = Seen::default();
    let result = RetryPolicy::DEFAULT
        .retry(counting(&calls, |n| Err(TestError::Permanent(n))))
        .on_retry(record(&seen))
        .run()
        .await;
    assert_eq!(result, Err(TestError::Permanent(1)));
    assert_eq!(calls.get(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(seen.borrow().is_empty());
}

#[tokio::test(start_paused = true)]
async fn last_error_is_returned_unchanged_after_max_plus_one_attempts() {
    for max in [0, 1, 3, 5] {
        let policy = RetryPolicy::builder().max_retries(max).backoff(ms(10)).build().unwrap();
        let calls = Cell::new(0);
        let result = policy.retry(counting(&calls, |n| Err(TestError::Transient(n)))).run().await;
        assert_eq!(calls.get(), max + 1, "max = {max}");
        assert_eq!(result, Err(TestError::Transient(max + 1)), "the last error, not an earlier one");
    }
}

// ---------------------------------------------------------------------------------------------
// Delays

#[tokio::test(start_paused = true)]
async fn delays_are_exact_under_the_paused_clock() {
    let start = Instant::now();
    let starts = RefCell::new(Vec::new());
    let seen = Seen::default();
    // Defaults: 3 retries, 0.5 s doubling.
    let result = RetryPolicy::DEFAULT
        .retry(slow(&starts, start, Duration::ZERO, |n| Err(TestError::Transient(n))))
        .on_retry(record(&seen))
        .run()
        .await;
    assert_eq!(result, Err(TestError::Transient(4)));
    assert_eq!(start.elapsed(), secs(0.5 + 1.0 + 2.0));
    assert_eq!(*starts.borrow(), [secs(0.0), secs(0.5), secs(1.5), secs(3.5)]);
    let delays: Vec<_> = seen.borrow().iter().map(|s| s.2).collect();
    assert_eq!(delays, [secs(0.5), secs(1.0), secs(2.0)]);
}

#[tokio::test(start_paused = true)]
async fn delays_are_capped_by_max_delay() {
    let policy = RetryPolicy::builder()
        .max_retries(5)
        .backoff(secs(1.0))
        .multiplier(3.0)
        .max_delay(secs(5.0))
        .build()
        .unwrap();
    let start = Instant::now();
    let calls = Cell::new(0);
    let seen = Seen::default();
    let _ =
        policy.retry(counting(&calls, |n| Err(TestError::Transient(n)))).on_retry(record(&seen)).run().await;
    let delays: Vec<_> = seen.borrow().iter().map(|s| s.2).collect();
    assert_eq!(delays, [secs(1.0), secs(3.0), secs(5.0), secs(5.0), secs(5.0)]);
    assert_eq!(start.elapsed(), secs(19.0));
}

#[tokio::test(start_paused = true)]
async fn zero_delay_does_not_sleep() {
    let policy = RetryPolicy::builder()
        .max_retries(3)
        .backoff(Duration::ZERO)
        .max_delay(Duration::ZERO)
        .build()
        .unwrap();
    let start = Instant::now();
    let calls = Cell::new(0);
    let result = policy
        .retry(counting(&calls, |n| if n < 4 { Err(TestError::Transient(n)) } else { Ok(n) }))
        .run()
        .await;
    assert_eq!(result, Ok(4));
    assert_eq!(start.elapsed(), Duration::ZERO);
}

/// Outside any tokio runtime, registering a timer panics; a zero-delay retry loop must finish in a
/// single poll without touching the timer at all.
#[test]
fn zero_delay_registers_no_timer() {
    let policy = RetryPolicy::builder()
        .max_retries(3)
        .backoff(Duration::ZERO)
        .max_delay(Duration::ZERO)
        .build()
        .unwrap();
    let calls = Cell::new(0);
    let future =
        policy.retry(counting(&calls, |n| if n < 4 { Err(TestError::Transient(n)) } else { Ok(n) })).run();
    assert_eq!(poll_once(future), Poll::Ready(Ok(4)));
    assert_eq!(calls.get(), 4);
}

// ---------------------------------------------------------------------------------------------
// Retry-After

#[tokio::test(start_paused = true)]
async fn retry_after_raises_the_delay_to_the_hint() {
    let start = Instant::now();
    let calls = Cell::new(0);
    let seen = Seen::default();
    let result = RetryPolicy::DEFAULT
        .retry(counting(&calls, |n| match n {
            // Hint above the computed 0.5 s: wait for the hint.
            1 => Err(TestError::RateLimited { attempt: n, wait: secs(2.0) }),
            // Hint below the computed 1 s: wait the computed delay.
            2 => Err(TestError::RateLimited { attempt: n, wait: secs(0.1) }),
            _ => Ok(n),
        }))
        .on_retry(record(&seen))
        .run()
        .await;
    assert_eq!(result, Ok(3));
    let delays: Vec<_> = seen.borrow().iter().map(|s| s.2).collect();
    assert_eq!(delays, [secs(2.0), secs(1.0)]);
    assert_eq!(start.elapsed(), secs(3.0));
}

#[tokio::test(start_paused = true)]
async fn retry_after_equal_to_max_delay_is_honoured() {
    let policy = RetryPolicy::builder().max_delay(secs(5.0)).build().unwrap();
    let start = Instant::now();
    let calls = Cell::new(0);
    let result = policy
        .retry(counting(&calls, |n| {
            if n == 1 { Err(TestError::RateLimited { attempt: n, wait: secs(5.0) }) } else { Ok(n) }
        }))
        .run()
        .await;
    assert_eq!(result, Ok(2));
    assert_eq!(start.elapsed(), secs(5.0));
}

#[tokio::test(start_paused = true)]
async fn retry_after_above_max_delay_gives_up_at_once() {
    let policy = RetryPolicy::builder().max_delay(secs(5.0)).build().unwrap();
    let start = Instant::now();
    let calls = Cell::new(0);
    let error = TestError::RateLimited { attempt: 1, wait: secs(5.001) };
    let result = policy.retry(counting(&calls, |_| Err(error.clone()))).run().await;
    assert_eq!(result, Err(error.clone()));
    assert_eq!(calls.get(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO, "gave up without sleeping");
}

#[tokio::test(start_paused = true)]
async fn retry_after_beyond_the_remaining_deadline_gives_up_at_once() {
    let policy = RetryPolicy::builder().deadline(secs(10.0)).build().unwrap();
    let start = Instant::now();
    let starts = RefCell::new(Vec::new());
    // The attempt takes 5 s, leaving 5 s; the server asks for 6 s (below max_delay, above what is left).
    let result = policy
        .retry(slow(&starts, start, secs(5.0), |n| {
            Err(TestError::RateLimited { attempt: n, wait: secs(6.0) })
        }))
        .run()
        .await;
    assert_eq!(result, Err(TestError::RateLimited { attempt: 1, wait: secs(6.0) }));
    assert_eq!(starts.borrow().len(), 1);
    assert_eq!(start.elapsed(), secs(5.0), "gave up at once, without sleeping");
}

// ---------------------------------------------------------------------------------------------
// Deadline

#[tokio::test(start_paused = true)]
async fn deadline_is_never_overshot() {
    // Attempts take 0.3 s; delays 0.5, 1, 2.. s; deadline 2 s. Attempt 1 runs 0..0.3, sleeps to 0.8;
    // attempt 2 runs 0.8..1.1; sleeping 1 s would end at 2.1 > 2: give up at 1.1 instead.
    let policy = RetryPolicy::builder().max_retries(10).deadline(secs(2.0)).build().unwrap();
    let start = Instant::now();
    let starts = RefCell::new(Vec::new());
    let result = policy.retry(slow(&starts, start, secs(0.3), |n| Err(TestError::Transient(n)))).run().await;
    assert_eq!(result, Err(TestError::Transient(2)));
    assert_eq!(*starts.borrow(), [secs(0.0), secs(0.8)]);
    assert_eq!(start.elapsed(), secs(1.1));
}

#[tokio::test(start_paused = true)]
async fn sleeping_exactly_up_to_the_deadline_is_allowed() {
    // Delays 0.5 and 1 s end exactly at the 1.5 s deadline; the third delay (2 s) would pass it.
    let policy = RetryPolicy::builder().max_retries(10).deadline(secs(1.5)).build().unwrap();
    let start = Instant::now();
    let starts = RefCell::new(Vec::new());
    let result =
        policy.retry(slow(&starts, start, Duration::ZERO, |n| Err(TestError::Transient(n)))).run().await;
    assert_eq!(result, Err(TestError::Transient(3)));
    assert_eq!(*starts.borrow(), [secs(0.0), secs(0.5), secs(1.5)]);
    assert_eq!(start.elapsed(), secs(1.5));
}

#[tokio::test(start_paused = true)]
async fn deadline_does_not_interrupt_a_running_attempt() {
    let policy = RetryPolicy::builder().deadline(secs(1.0)).build().unwrap();
    let start = Instant::now();
    let starts = RefCell::new(Vec::new());
    let result = policy.retry(slow(&starts, start, secs(3.0), Ok)).run().await;
    assert_eq!(result, Ok(1), "an attempt running past the deadline still completes");
    assert_eq!(start.elapsed(), secs(3.0));
}

/// Regression: with a zero delay, a deadline already passed used to leave a "remaining" time of
/// zero, and a zero delay is not more than zero, so the loop kept starting attempts after the
/// deadline.
#[tokio::test(start_paused = true)]
async fn zero_delay_retry_is_not_started_after_the_deadline() {
    let policy = RetryPolicy::builder()
        .max_retries(5)
        .backoff(Duration::ZERO)
        .max_delay(Duration::ZERO)
        .deadline(secs(1.0))
        .build()
        .unwrap();
    let start = Instant::now();
    let starts = RefCell::new(Vec::new());
    let result = policy.retry(slow(&starts, start, secs(0.6), |n| Err(TestError::Transient(n)))).run().await;
    // Attempt 1 ends at 0.6 (before the deadline: retry at once); attempt 2 ends at 1.2, past it.
    assert_eq!(result, Err(TestError::Transient(2)));
    assert_eq!(*starts.borrow(), [secs(0.0), secs(0.6)]);
    assert_eq!(start.elapsed(), secs(1.2));
}

// ---------------------------------------------------------------------------------------------
// Per-attempt timeout

#[tokio::test(start_paused = true)]
async fn attempt_timeout_turns_a_hang_into_a_retried_error() {
    let policy = RetryPolicy::builder().attempt_timeout(secs(1.0)).build().unwrap();
    let start = Instant::now();
    let calls = Cell::new(0);
    let seen = Seen::default();
    let result = policy
        .retry(|| {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n == 1 {
                    std::future::pending::<()>().await;
                }
                Ok::<u32, TestError>(n)
            }
        })
        .on_retry(record(&seen))
        .run()
        .await;
    assert_eq!(result, Ok(2));
    assert_eq!(*seen.borrow(), [(1, TestError::Timeout, secs(0.5))]);
    assert_eq!(start.elapsed(), secs(1.0 + 0.5));
}

#[tokio::test(start_paused = true)]
async fn attempt_timeout_is_judged_like_any_error() {
    // A predicate that does not retry timeouts: the timeout is returned after the first attempt.
    let policy = RetryPolicy::builder().attempt_timeout(secs(1.0)).build().unwrap();
    let start = Instant::now();
    let calls = Cell::new(0);
    let result = policy
        .retry(|| {
            calls.set(calls.get() + 1);
            std::future::pending::<Result<u32, TestError>>()
        })
        .when(|e: &TestError| !matches!(e, TestError::Timeout))
        .run()
        .await;
    assert_eq!(result, Err(TestError::Timeout));
    assert_eq!(calls.get(), 1);
    assert_eq!(start.elapsed(), secs(1.0));
}

#[tokio::test(start_paused = true)]
async fn attempt_timeout_of_io_errors_is_a_transient_timed_out() {
    let policy =
        RetryPolicy::builder().max_retries(1).backoff(ms(10)).attempt_timeout(secs(1.0)).build().unwrap();
    let calls = Cell::new(0);
    let result: std::io::Result<()> = policy
        .retry(|| {
            calls.set(calls.get() + 1);
            std::future::pending()
        })
        .run()
        .await;
    assert_eq!(result.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(calls.get(), 2, "the timeout was retried");
}

// ---------------------------------------------------------------------------------------------
// Hooks and predicates

#[tokio::test(start_paused = true)]
async fn on_retry_hook_sees_attempt_error_and_delay() {
    let calls = Cell::new(0);
    let seen = Seen::default();
    let result = RetryPolicy::DEFAULT
        .retry(counting(&calls, |n| if n < 3 { Err(TestError::Transient(n)) } else { Ok(n) }))
        .on_retry(record(&seen))
        .run()
        .await;
    assert_eq!(result, Ok(3));
    assert_eq!(
        *seen.borrow(),
        [(1, TestError::Transient(1), secs(0.5)), (2, TestError::Transient(2), secs(1.0))]
    );

    // Exhausted: one event per retry, none for the final give-up.
    let calls = Cell::new(0);
    let seen = Seen::default();
    let _ = RetryPolicy::DEFAULT
        .retry(counting(&calls, |n| Err(TestError::Transient(n))))
        .on_retry(record(&seen))
        .run()
        .await;
    let attempts: Vec<_> = seen.borrow().iter().map(|s| s.0).collect();
    assert_eq!(attempts, [1, 2, 3]);
}

/// An error without `Classify`: only `when` can retry it.
#[derive(Debug, PartialEq)]
enum PlainError {
    Busy,
    Fatal,
    Timeout,
}

impl From<AttemptTimeout> for PlainError {
    fn from(_: AttemptTimeout) -> Self {
        PlainError::Timeout
    }
}

#[tokio::test(start_paused = true)]
async fn when_predicate_decides_retry() {
    let calls = Cell::new(0);
    let result = RetryPolicy::DEFAULT
        .retry(|| {
            calls.set(calls.get() + 1);
            std::future::ready(match calls.get() {
                1 | 2 => Err(PlainError::Busy),
                _ => Err(PlainError::Fatal),
            })
        })
        .when(|e: &PlainError| *e == PlainError::Busy)
        .run()
        .await;
    assert_eq!(result, Err::<(), _>(PlainError::Fatal));
    assert_eq!(calls.get(), 3);

    // The predicate overrides the class: a permanent error it accepts is retried.
    let calls = Cell::new(0);
    let result = RetryPolicy::DEFAULT
        .retry(counting(&calls, |n| if n < 3 { Err(TestError::Permanent(n)) } else { Ok(n) }))
        .when(|_: &TestError| true)
        .run()
        .await;
    assert_eq!(result, Ok(3));
}

#[tokio::test(start_paused = true)]
async fn when_predicate_reads_no_retry_after_hint() {
    // The hint (100 s) exceeds max_delay (1 s): with Classify the call would give up at once; with
    // `when` the hint is not read and the computed delay is used.
    let policy = RetryPolicy::builder().backoff(ms(100)).max_delay(secs(1.0)).build().unwrap();
    let start = Instant::now();
    let calls = Cell::new(0);
    let result = policy
        .retry(counting(&calls, |n| {
            if n < 2 { Err(TestError::RateLimited { attempt: n, wait: secs(100.0) }) } else { Ok(n) }
        }))
        .when(|_: &TestError| true)
        .run()
        .await;
    assert_eq!(result, Ok(2));
    assert_eq!(start.elapsed(), ms(100));
}

// ---------------------------------------------------------------------------------------------
// Jitter

async fn jittered_delays(policy: &RetryPolicy) -> Vec<Duration> {
    let calls = Cell::new(0);
    let seen = Seen::default();
    let _ =
        policy.retry(counting(&calls, |n| Err(TestError::Transient(n)))).on_retry(record(&seen)).run().await;
    seen.into_inner().into_iter().map(|s| s.2).collect()
}

#[tokio::test(start_paused = true)]
async fn seeded_jitter_is_reproducible() {
    for jitter in [Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
        let policy = RetryPolicy::builder()
            .max_retries(8)
            .backoff(ms(100))
            .max_delay(secs(10.0))
            .jitter(jitter)
            .seed(42)
            .build()
            .unwrap();
        let first = jittered_delays(&policy).await;
        assert_eq!(first.len(), 8);
        assert_eq!(first, jittered_delays(&policy).await, "{jitter:?}: same seed, same delays");
        let other = policy.to_builder().seed(43).build().unwrap();
        assert_ne!(first, jittered_delays(&other).await, "{jitter:?}: another seed, other delays");
        for (i, delay) in first.iter().enumerate() {
            let d = policy.backoff_delay(u32::try_from(i).unwrap() + 1);
            match jitter {
                Jitter::Full => assert!(*delay <= d),
                Jitter::Equal => assert!(*delay >= d / 2 && *delay <= d),
                _ => assert!(*delay >= policy.backoff() && *delay <= policy.max_delay()),
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn unseeded_jitter_differs_between_calls() {
    for jitter in [Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
        let policy = RetryPolicy::builder()
            .max_retries(8)
            .backoff(ms(100))
            .max_delay(secs(10.0))
            .jitter(jitter)
            .build()
            .unwrap();
        let a = jittered_delays(&policy).await;
        let b = jittered_delays(&policy).await;
        assert_eq!(a.len(), 8);
        assert_ne!(a, b, "{jitter:?}: two calls drew the same jitter");
    }
}

// ---------------------------------------------------------------------------------------------
// Blocking executor

#[test]
fn run_blocking_retries_and_returns() {
    let policy = RetryPolicy::builder()
        .max_retries(3)
        .backoff(Duration::ZERO)
        .max_delay(Duration::ZERO)
        .build()
        .unwrap();

    let calls = Cell::new(0);
    let seen = Seen::default();
    let result = policy
        .retry(|| {
            calls.set(calls.get() + 1);
            if calls.get() < 3 { Err(TestError::Transient(calls.get())) } else { Ok(calls.get()) }
        })
        .on_retry(record(&seen))
        .run_blocking();
    assert_eq!(result, Ok(3));
    assert_eq!(
        *seen.borrow(),
        [(1, TestError::Transient(1), Duration::ZERO), (2, TestError::Transient(2), Duration::ZERO)]
    );

    let calls = Cell::new(0);
    let result = policy
        .retry(|| {
            calls.set(calls.get() + 1);
            Err::<(), _>(TestError::Permanent(calls.get()))
        })
        .run_blocking();
    assert_eq!(result, Err(TestError::Permanent(1)));

    let calls = Cell::new(0);
    let result = policy
        .retry(|| {
            calls.set(calls.get() + 1);
            Err::<(), _>(TestError::Transient(calls.get()))
        })
        .run_blocking();
    assert_eq!(result, Err(TestError::Transient(4)));

    let calls = Cell::new(0);
    let result = policy
        .retry(|| {
            calls.set(calls.get() + 1);
            Err::<(), _>(PlainError::Busy)
        })
        .when(|_: &PlainError| calls.get() < 2)
        .run_blocking();
    assert_eq!(result, Err(PlainError::Busy));
    assert_eq!(calls.get(), 2);
}

#[test]
fn run_blocking_sleeps_small_delays() {
    // A 1 ms delay really sleeps; only the outcome is asserted, never the wall-clock time.
    let policy = RetryPolicy::builder().max_retries(2).backoff(ms(1)).build().unwrap();
    let calls = Cell::new(0);
    let result = policy
        .retry(|| {
            calls.set(calls.get() + 1);
            if calls.get() < 3 {
                Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset))
            } else {
                Ok(calls.get())
            }
        })
        .run_blocking();
    assert_eq!(result.unwrap(), 3);
}

/// An error holding an `Rc`: neither `Send` nor `Sync`.
#[derive(Debug)]
struct LocalError(Rc<str>);

impl Classify for LocalError {
    type Kind = ();
    fn kind(&self) {}
    fn class(&self) -> ErrorClass {
        ErrorClass::Transient
    }
}

impl From<AttemptTimeout> for LocalError {
    fn from(_: AttemptTimeout) -> Self {
        LocalError(Rc::from("timeout"))
    }
}

#[test]
fn non_send_error_works_with_run_blocking() {
    let policy = RetryPolicy::builder()
        .max_retries(2)
        .backoff(Duration::ZERO)
        .max_delay(Duration::ZERO)
        .build()
        .unwrap();
    let calls = Cell::new(0);
    let result = policy
        .retry(|| {
            calls.set(calls.get() + 1);
            Err::<(), _>(LocalError(Rc::from(format!("attempt {}", calls.get()))))
        })
        .run_blocking();
    assert_eq!(&*result.unwrap_err().0, "attempt 3");
}

// ---------------------------------------------------------------------------------------------
// Send

static POLICY: RetryPolicy = RetryPolicy::DEFAULT;

fn assert_send<T: Send>(value: T) -> T {
    value
}

#[tokio::test(start_paused = true)]
async fn run_future_is_send_when_the_operation_is() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&calls);
    let future = POLICY
        .retry(move || {
            let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
            async move {
                tokio::task::yield_now().await;
                if n < 3 { Err(TestError::Transient(n)) } else { Ok(n) }
            }
        })
        .run();
    let result = tokio::spawn(assert_send(future)).await.unwrap();
    assert_eq!(result, Ok(3));
    assert_eq!(calls.load(Ordering::Relaxed), 3);
}

/// The error is never held across a sleep, so even a `!Send` error type leaves the future `Send`
/// as long as the attempt's own future is.
#[tokio::test(start_paused = true)]
async fn run_future_is_send_even_with_a_non_send_error() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&calls);
    let future = POLICY
        .retry(move || {
            let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
            async move {
                tokio::task::yield_now().await;
                if n < 3 { Err(LocalError(Rc::from("busy"))) } else { Ok(n) }
            }
        })
        .run();
    // The output is `!Send`, so map it before it leaves the spawned task.
    let future = assert_send(future);
    let result = tokio::spawn(async move { future.await.ok() }).await.unwrap();
    assert_eq!(result, Some(3));
}

// ---------------------------------------------------------------------------------------------
// Tracing

mod events {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::{Event, Level, Subscriber};
    use tracing_subscriber::layer::{Context, Layer};

    /// One event of target `retry`: its level, `outcome` and `attempt` fields.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Seen {
        pub level: Level,
        pub outcome: String,
        pub attempt: u64,
        pub name: String,
    }

    /// A layer that records every event of target `retry`.
    #[derive(Clone, Default)]
    pub struct Recorder(pub Arc<Mutex<Vec<Seen>>>);

    #[derive(Default)]
    struct Fields {
        outcome: String,
        attempt: u64,
        name: String,
    }

    impl Visit for Fields {
        fn record_str(&mut self, field: &Field, value: &str) {
            match field.name() {
                "outcome" => self.outcome = value.to_owned(),
                "name" => self.name = value.to_owned(),
                _ => {}
            }
        }

        fn record_u64(&mut self, field: &Field, value: u64) {
            if field.name() == "attempt" {
                self.attempt = value;
            }
        }

        fn record_i64(&mut self, field: &Field, value: i64) {
            if field.name() == "attempt" {
                self.attempt = u64::try_from(value).unwrap_or_default();
            }
        }

        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            match field.name() {
                "outcome" => self.outcome = format!("{value:?}").trim_matches('"').to_owned(),
                "name" => self.name = format!("{value:?}").trim_matches('"').to_owned(),
                _ => {}
            }
        }
    }

    impl<S: Subscriber> Layer<S> for Recorder {
        fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
            if event.metadata().target() != "retry" {
                return;
            }
            let mut fields = Fields::default();
            event.record(&mut fields);
            self.0.lock().unwrap().push(Seen {
                level: *event.metadata().level(),
                outcome: fields.outcome,
                attempt: fields.attempt,
                name: fields.name,
            });
        }
    }
}

#[tokio::test(start_paused = true)]
async fn tracing_events_for_every_retry_and_give_up() {
    use tracing_subscriber::layer::SubscriberExt;

    let recorder = events::Recorder::default();
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(recorder.clone()));
    let take = |log: &Arc<Mutex<Vec<events::Seen>>>| -> Vec<(String, u64)> {
        log.lock().unwrap().drain(..).map(|s| (s.outcome, s.attempt)).collect()
    };
    let pairs =
        |v: &[(&str, u64)]| -> Vec<(String, u64)> { v.iter().map(|(o, a)| ((*o).to_owned(), *a)).collect() };

    // Exhausted: one event per retry, then one give-up.
    let policy = RetryPolicy::builder().max_retries(2).backoff(ms(10)).build().unwrap();
    let calls = Cell::new(0);
    let _ = policy.retry(counting(&calls, |n| Err(TestError::Transient(n)))).name("exhausted").run().await;
    let log = recorder.0.lock().unwrap().clone();
    assert!(log.iter().all(|s| s.name == "exhausted"), "{log:?}");
    assert_eq!(log.last().unwrap().level, tracing::Level::WARN);
    assert_eq!(take(&recorder.0), pairs(&[("retry", 1), ("retry", 2), ("gave_up", 3)]));

    // Success after a retry: the retry only.
    let calls = Cell::new(0);
    let _ = policy
        .retry(counting(&calls, |n| if n < 2 { Err(TestError::Transient(n)) } else { Ok(n) }))
        .run()
        .await;
    assert_eq!(take(&recorder.0), pairs(&[("retry", 1)]));

    // First-try success: nothing.
    let calls = Cell::new(0);
    let _ = policy.retry(counting(&calls, Ok)).run().await;
    assert_eq!(take(&recorder.0), pairs(&[]));

    // Retry-After too long: a give-up.
    let calls = Cell::new(0);
    let _ = policy
        .retry(counting(&calls, |n| Err(TestError::RateLimited { attempt: n, wait: secs(3600.0) })))
        .run()
        .await;
    assert_eq!(take(&recorder.0), pairs(&[("gave_up", 1)]));

    // Deadline: a give-up.
    let deadline = policy.to_builder().backoff(secs(1.0)).deadline(ms(500)).build().unwrap();
    let calls = Cell::new(0);
    let _ = deadline.retry(counting(&calls, |n| Err(TestError::Transient(n)))).run().await;
    assert_eq!(take(&recorder.0), pairs(&[("gave_up", 1)]));

    // Not retryable: its own outcome.
    let calls = Cell::new(0);
    let _ = policy.retry(counting(&calls, |n| Err(TestError::Permanent(n)))).run().await;
    assert_eq!(take(&recorder.0), pairs(&[("not_retryable", 1)]));

    // The blocking executor logs the same way.
    let blocking = RetryPolicy::builder()
        .max_retries(1)
        .backoff(Duration::ZERO)
        .max_delay(Duration::ZERO)
        .build()
        .unwrap();
    let _ = blocking.retry(|| Err::<(), _>(TestError::Transient(0))).run_blocking();
    assert_eq!(take(&recorder.0), pairs(&[("retry", 1), ("gave_up", 2)]));
}
