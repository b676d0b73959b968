//! The circuit breaker and the retry budget inside the `#[retryable]` retry loop.

use retry_runtime::{BreakerState, CircuitBreaker, CircuitOpen, Classify, RetryBudget, retryable};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Classify)]
enum CallError {
    #[transient]
    Unavailable,
    #[permanent]
    BadRequest,
    #[permanent]
    Open(CircuitOpen),
    #[transient]
    TimedOut,
}

impl From<retry_runtime::AttemptTimeout> for CallError {
    fn from(_: retry_runtime::AttemptTimeout) -> Self {
        CallError::TimedOut
    }
}

impl From<CircuitOpen> for CallError {
    fn from(open: CircuitOpen) -> Self {
        CallError::Open(open)
    }
}

static OUTAGE_BREAKER: LazyLock<CircuitBreaker> = LazyLock::new(|| {
    CircuitBreaker::builder()
        .consecutive_failures(5)
        .open_for(Duration::from_secs(30))
        .half_open_permits(1)
        .half_open_successes(1)
        .build()
        .expect("valid breaker")
});

static OUTAGE_ATTEMPTS: AtomicU32 = AtomicU32::new(0);
static HEALED: AtomicU32 = AtomicU32::new(0);

#[retryable(max = 3, backoff = "100ms", breaker = OUTAGE_BREAKER)]
async fn behind_breaker() -> Result<u32, CallError> {
    OUTAGE_ATTEMPTS.fetch_add(1, Ordering::SeqCst);
    if HEALED.load(Ordering::SeqCst) == 1 { Ok(1) } else { Err(CallError::Unavailable) }
}

#[tokio::test(start_paused = true)]
async fn open_breaker_ends_the_call_at_once_then_probes_and_closes() {
    // Two calls of four attempts each: the fifth failure trips the breaker during the second call,
    // whose next attempt is refused at once.
    assert!(matches!(behind_breaker().await, Err(CallError::Unavailable)));
    let second = behind_breaker().await;
    assert!(matches!(second, Err(CallError::Open(_))), "{second:?}");
    assert_eq!(OUTAGE_ATTEMPTS.load(Ordering::SeqCst), 5);
    assert_eq!(OUTAGE_BREAKER.state(), BreakerState::Open);

    // While open: no attempt, no sleep.
    let start = Instant::now();
    for _ in 0..10 {
        match behind_breaker().await {
            Err(CallError::Open(open)) => assert_eq!(open.state(), BreakerState::Open),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(start.elapsed(), Duration::ZERO, "a refused call does not sleep");
    assert_eq!(OUTAGE_ATTEMPTS.load(Ordering::SeqCst), 5, "no attempt reaches the service while open");

    // After open_for, one probe goes through; the service has healed, so the breaker closes.
    tokio::time::advance(Duration::from_secs(30)).await;
    HEALED.store(1, Ordering::SeqCst);
    assert_eq!(behind_breaker().await.unwrap(), 1);
    assert_eq!(OUTAGE_BREAKER.state(), BreakerState::Closed);
    assert_eq!(OUTAGE_ATTEMPTS.load(Ordering::SeqCst), 6);
}

static PERMANENT_BREAKER: LazyLock<CircuitBreaker> = LazyLock::new(|| {
    CircuitBreaker::builder().consecutive_failures(2).half_open_permits(1).build().expect("valid breaker")
});

#[retryable(max = 3, backoff = 0, breaker = PERMANENT_BREAKER)]
async fn bad_request() -> Result<(), CallError> {
    Err(CallError::BadRequest)
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_do_not_count_against_the_breaker() {
    for _ in 0..20 {
        assert!(matches!(bad_request().await, Err(CallError::BadRequest)));
    }
    assert_eq!(PERMANENT_BREAKER.state(), BreakerState::Closed);
}

static BUDGET: RetryBudget = RetryBudget::new(10, 0.1);
static WITH_BUDGET: AtomicU32 = AtomicU32::new(0);
static WITHOUT_BUDGET: AtomicU32 = AtomicU32::new(0);

#[retryable(max = 3, backoff = 0, budget = BUDGET)]
fn outage_with_budget() -> Result<(), CallError> {
    WITH_BUDGET.fetch_add(1, Ordering::SeqCst);
    Err(CallError::Unavailable)
}

#[retryable(max = 3, backoff = 0)]
fn outage_without_budget() -> Result<(), CallError> {
    WITHOUT_BUDGET.fetch_add(1, Ordering::SeqCst);
    Err(CallError::Unavailable)
}

#[test]
fn budget_caps_retry_amplification_during_an_outage() {
    const CALLS: u32 = 1000;
    for _ in 0..CALLS {
        assert!(outage_with_budget().is_err());
        assert!(outage_without_budget().is_err());
    }
    let with = WITH_BUDGET.load(Ordering::SeqCst);
    let retries_per_call = f64::from(with - CALLS) / f64::from(CALLS);
    assert!(retries_per_call <= 0.2, "{retries_per_call} retries per call with a budget");
    println!("outage with a budget: {with} attempts for {CALLS} calls ({retries_per_call} retries per call)");
    assert_eq!(
        WITHOUT_BUDGET.load(Ordering::SeqCst),
        CALLS * 4,
        "without one, every call makes max + 1 attempts"
    );
}

#[tokio::test(start_paused = true)]
async fn hand_written_api_uses_the_same_breaker_and_budget() {
    let breaker = CircuitBreaker::builder().consecutive_failures(2).build().expect("valid breaker");
    let budget = RetryBudget::new(100, 0.1);
    let policy = retry_runtime::RetryPolicy::builder().backoff(Duration::ZERO).build().unwrap();
    let attempts = AtomicU32::new(0);
    let result: Result<(), CallError> = policy
        .retry(|| {
            attempts.fetch_add(1, Ordering::SeqCst);
            async { Err(CallError::Unavailable) }
        })
        .breaker(&breaker)
        .budget(&budget)
        .when(|e: &CallError| matches!(e, CallError::Unavailable))
        .run()
        .await;
    assert!(matches!(result, Err(CallError::Open(_))));
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
}
