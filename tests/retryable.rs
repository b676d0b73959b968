//! Behaviour of `#[retryable]` on every supported signature shape: each test counts attempts.

use retry_runtime::{AttemptTimeout, Classify, ErrorClass, retryable};
use std::cell::Cell;
use std::fmt::{Debug, Display};
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::time::Instant;

fn reset() -> io::Error {
    io::Error::from(io::ErrorKind::ConnectionReset)
}

#[derive(Debug, Classify, thiserror::Error)]
enum StepError {
    #[transient]
    #[error("connection failed")]
    Connection,
    #[transient]
    #[error("attempt timed out")]
    Timeout(#[from] AttemptTimeout),
    #[transient(retry_after = wait)]
    #[error("rate limited")]
    RateLimited { wait: Option<Duration> },
    #[permanent]
    #[error("bad request")]
    BadRequest,
}

static FREE_ASYNC: AtomicU32 = AtomicU32::new(0);

#[retryable(max = 3, backoff = 0.5)]
async fn free_async() -> io::Result<u32> {
    let n = FREE_ASYNC.fetch_add(1, Ordering::SeqCst) + 1;
    if n < 3 { Err(reset()) } else { Ok(n) }
}

#[tokio::test(start_paused = true)]
async fn free_async_fn_retries_until_ok_with_exact_backoff() {
    let start = Instant::now();
    assert_eq!(free_async().await.unwrap(), 3);
    assert_eq!(FREE_ASYNC.load(Ordering::SeqCst), 3);
    assert_eq!(start.elapsed(), Duration::from_millis(500 + 1000));
}

thread_local! {
    static FREE_SYNC: Cell<u32> = const { Cell::new(0) };
}

#[retryable(max = 4, backoff = 0)]
fn free_sync() -> io::Result<u32> {
    let n = FREE_SYNC.get() + 1;
    FREE_SYNC.set(n);
    if n < 4 { Err(reset()) } else { Ok(n) }
}

#[test]
fn free_sync_fn_retries_until_ok() {
    assert_eq!(free_sync().unwrap(), 4);
    assert_eq!(FREE_SYNC.get(), 4);
}

struct Adapter {
    attempts: u32,
    fail_first: u32,
    items: Vec<u32>,
}

impl Adapter {
    fn new(fail_first: u32) -> Self {
        Adapter { attempts: 0, fail_first, items: vec![1, 2, 3] }
    }

    #[retryable(max = 5, backoff = "10ms")]
    async fn by_mut(&mut self) -> Result<u32, StepError> {
        self.attempts += 1;
        if self.attempts <= self.fail_first { Err(StepError::Connection) } else { Ok(self.attempts) }
    }

    #[retryable(max = 5, backoff = "10ms")]
    async fn by_ref(&self, counter: &AtomicU32, step: &str) -> Result<usize, StepError> {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        if n <= self.fail_first { Err(StepError::Connection) } else { Ok(step.len()) }
    }

    #[retryable(max = 2, backoff = 0)]
    fn by_value(self, counter: &AtomicU32) -> Result<usize, StepError> {
        counter.fetch_add(1, Ordering::SeqCst);
        if counter.load(Ordering::SeqCst) <= self.fail_first {
            Err(StepError::Connection)
        } else {
            Ok(self.items.len())
        }
    }

    #[retryable(max = 3, backoff = 0)]
    fn items(&self, counter: &AtomicU32) -> Result<&[u32], StepError> {
        if counter.fetch_add(1, Ordering::SeqCst) < self.fail_first {
            return Err(StepError::Connection);
        }
        Ok(&self.items)
    }

    #[retryable(max = 3, backoff = 0)]
    async fn boxed(&self, counter: &AtomicU32) -> Result<Box<dyn Debug + Send>, StepError> {
        if counter.fetch_add(1, Ordering::SeqCst) < self.fail_first {
            return Err(StepError::Connection);
        }
        Ok(Box::new(self.items.len()))
    }
}

#[tokio::test(start_paused = true)]
async fn mut_self_state_persists_across_attempts() {
    let mut adapter = Adapter::new(2);
    assert_eq!(adapter.by_mut().await.unwrap(), 3);
    assert_eq!(adapter.attempts, 3, "the mutation of every attempt is visible afterwards");
}

#[tokio::test(start_paused = true)]
async fn ref_self_and_borrowed_arguments() {
    let adapter = Adapter::new(1);
    let counter = AtomicU32::new(0);
    assert_eq!(adapter.by_ref(&counter, "step").await.unwrap(), 4);
    assert_eq!(counter.load(Ordering::SeqCst), 2);
}

#[test]
fn self_by_value_is_fine_while_the_body_borrows_it() {
    let counter = AtomicU32::new(0);
    assert_eq!(Adapter::new(1).by_value(&counter).unwrap(), 3);
    assert_eq!(counter.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn values_coerce_to_the_return_type() {
    let adapter = Adapter::new(1);
    let counter = AtomicU32::new(0);
    assert_eq!(adapter.items(&counter).unwrap(), &[1, 2, 3]);
    assert_eq!(counter.load(Ordering::SeqCst), 2);
    let counter = AtomicU32::new(0);
    assert_eq!(format!("{:?}", adapter.boxed(&counter).await.unwrap()), "3");
    assert_eq!(counter.load(Ordering::SeqCst), 2);
}

#[retryable(max = 3, backoff = 0)]
fn owned_argument(name: String, counter: &AtomicU32) -> io::Result<usize> {
    if counter.fetch_add(1, Ordering::SeqCst) < 2 {
        return Err(reset());
    }
    Ok(name.as_str().len())
}

#[test]
fn owned_arguments_used_by_reference() {
    let counter = AtomicU32::new(0);
    assert_eq!(owned_argument("dagger".to_owned(), &counter).unwrap(), 6);
    assert_eq!(counter.load(Ordering::SeqCst), 3);
}

#[retryable(max = 3, backoff = 0)]
async fn generic<T, C>(value: &T, counter: &C, label: impl AsRef<str>) -> io::Result<String>
where
    T: Display + ?Sized,
    C: AsRef<AtomicU32>,
{
    if counter.as_ref().fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(reset());
    }
    Ok(format!("{}={value}", label.as_ref()))
}

#[tokio::test(start_paused = true)]
async fn generics_where_clauses_and_impl_trait_arguments() {
    let counter = std::sync::Arc::new(AtomicU32::new(0));
    assert_eq!(generic("v", &counter, "k").await.unwrap(), "k=v");
    assert_eq!(counter.load(Ordering::SeqCst), 2);
}

trait Engine {
    async fn run(&self, counter: &AtomicU32) -> Result<u32, StepError>;
}

struct Dagger;

impl Engine for Dagger {
    #[retryable(max = 3, backoff = "1s")]
    async fn run(&self, counter: &AtomicU32) -> Result<u32, StepError> {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        if n < 3 { Err(StepError::Connection) } else { Ok(n) }
    }
}

#[tokio::test(start_paused = true)]
async fn async_fn_in_trait_impl() {
    let counter = AtomicU32::new(0);
    let start = Instant::now();
    assert_eq!(Dagger.run(&counter).await.unwrap(), 3);
    assert_eq!(start.elapsed(), Duration::from_secs(1 + 2));
}

fn always(_: &anyhow::Error) -> bool {
    true
}

#[retryable(max = 2, backoff = 0, when = always)]
async fn anyhow_result(counter: &AtomicU32) -> anyhow::Result<u32> {
    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
    if n < 3 {
        let parsed: u32 = "not a number".parse()?;
        return Ok(parsed);
    }
    Ok(n)
}

#[tokio::test(start_paused = true)]
async fn anyhow_result_with_question_mark_ends_only_the_attempt() {
    let counter = AtomicU32::new(0);
    assert_eq!(anyhow_result(&counter).await.unwrap(), 3);
    assert_eq!(counter.load(Ordering::SeqCst), 3);
}

#[retryable(max = 3, backoff = 0)]
pub(crate) async fn crate_visible(counter: &AtomicU32) -> io::Result<u32> {
    counter.fetch_add(1, Ordering::SeqCst);
    Err(reset())
}

#[tokio::test(start_paused = true)]
async fn last_error_returned_after_max_plus_one_attempts() {
    let counter = AtomicU32::new(0);
    let err = crate_visible(&counter).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    assert_eq!(counter.load(Ordering::SeqCst), 4);
}

#[retryable(max = 5, backoff = 0)]
async fn permanent(counter: &AtomicU32) -> Result<(), StepError> {
    counter.fetch_add(1, Ordering::SeqCst);
    Err(StepError::BadRequest)
}

#[tokio::test(start_paused = true)]
async fn permanent_error_returned_at_once() {
    let counter = AtomicU32::new(0);
    assert!(matches!(permanent(&counter).await, Err(StepError::BadRequest)));
    assert_eq!(counter.load(Ordering::SeqCst), 1);
}

#[retryable(max = 5, backoff = "100ms", on = [Connection])]
async fn only_connection(counter: &AtomicU32, error: fn() -> StepError) -> Result<(), StepError> {
    counter.fetch_add(1, Ordering::SeqCst);
    Err(error())
}

#[tokio::test(start_paused = true)]
async fn on_lists_exactly_the_kinds_to_retry() {
    let counter = AtomicU32::new(0);
    let _ = only_connection(&counter, || StepError::Connection).await;
    assert_eq!(counter.load(Ordering::SeqCst), 6);
    let counter = AtomicU32::new(0);
    let _ = only_connection(&counter, || StepError::RateLimited { wait: None }).await;
    assert_eq!(counter.load(Ordering::SeqCst), 1, "transient but not listed: not retried");
}

#[retryable(max = 3, backoff = "100ms", max_delay = "5s")]
async fn rate_limited(counter: &AtomicU32, wait: Duration) -> Result<u32, StepError> {
    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
    if n == 1 { Err(StepError::RateLimited { wait: Some(wait) }) } else { Ok(n) }
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_and_a_too_long_one_gives_up_at_once() {
    let counter = AtomicU32::new(0);
    let start = Instant::now();
    assert_eq!(rate_limited(&counter, Duration::from_secs(2)).await.unwrap(), 2);
    assert_eq!(start.elapsed(), Duration::from_secs(2));

    let counter = AtomicU32::new(0);
    let start = Instant::now();
    assert!(matches!(
        rate_limited(&counter, Duration::from_secs(60)).await,
        Err(StepError::RateLimited { .. })
    ));
    assert_eq!(start.elapsed(), Duration::ZERO, "gave up without sleeping");
    assert_eq!(counter.load(Ordering::SeqCst), 1);
}

#[retryable(max = 10, backoff = 1, multiplier = 1, deadline = "2.5s")]
async fn with_deadline(counter: &AtomicU32) -> Result<(), StepError> {
    counter.fetch_add(1, Ordering::SeqCst);
    Err(StepError::Connection)
}

#[tokio::test(start_paused = true)]
async fn deadline_gives_up_rather_than_sleep_past_it() {
    let counter = AtomicU32::new(0);
    let start = Instant::now();
    assert!(with_deadline(&counter).await.is_err());
    assert_eq!(counter.load(Ordering::SeqCst), 3);
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

#[retryable(max = 2, backoff = 0, attempt_timeout = "1s")]
async fn hangs_first(counter: &AtomicU32) -> Result<u32, StepError> {
    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
    if n == 1 {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    Ok(n)
}

#[tokio::test(start_paused = true)]
async fn attempt_timeout_becomes_a_retried_error() {
    let counter = AtomicU32::new(0);
    let start = Instant::now();
    assert_eq!(hangs_first(&counter).await.unwrap(), 2);
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

#[retryable(max = 3, backoff = 0)]
#[tracing::instrument(skip(counter))]
async fn instrumented(id: u32, counter: &AtomicU32) -> io::Result<u32> {
    if counter.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(reset());
    }
    Ok(id)
}

#[tokio::test(start_paused = true)]
async fn stacked_with_tracing_instrument() {
    let counter = AtomicU32::new(0);
    assert_eq!(instrumented(7, &counter).await.unwrap(), 7);
    assert_eq!(counter.load(Ordering::SeqCst), 2);
}

static STACKED_TEST: AtomicU32 = AtomicU32::new(0);

#[retryable(max = 2, backoff = 0)]
#[tokio::test]
async fn stacked_with_tokio_test() -> io::Result<()> {
    if STACKED_TEST.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(reset());
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn generated_future_is_send() {
    let counter = std::sync::Arc::new(AtomicU32::new(0));
    let c = counter.clone();
    let handle = tokio::spawn(async move {
        let adapter = Adapter::new(1);
        adapter.by_ref(&c, "spawned").await
    });
    assert_eq!(handle.await.unwrap().unwrap(), 7);
    assert_eq!(counter.load(Ordering::SeqCst), 2);
}

#[test]
fn derived_kind_enum_names_variants() {
    assert_eq!(StepError::Connection.kind(), StepErrorKind::Connection);
    assert_eq!(StepErrorKind::RateLimited.as_str(), "RateLimited");
    assert_eq!(StepErrorKind::BadRequest.to_string(), "BadRequest");
    assert_eq!(StepError::BadRequest.class(), ErrorClass::Permanent);
    let wait = Some(Duration::from_secs(3));
    assert_eq!(StepError::RateLimited { wait }.retry_after(), wait);
}

static SHARED_POLICY: std::sync::LazyLock<retry_runtime::RetryPolicy> = std::sync::LazyLock::new(|| {
    retry_runtime::RetryPolicy::builder().max_retries(1).backoff(Duration::from_secs(2)).build().unwrap()
});

const CONST_POLICY: retry_runtime::RetryPolicy = retry_runtime::RetryPolicy::DEFAULT;

#[retryable(policy = SHARED_POLICY)]
async fn with_shared_policy(counter: &AtomicU32) -> io::Result<()> {
    counter.fetch_add(1, Ordering::SeqCst);
    Err(reset())
}

#[retryable(policy = SHARED_POLICY, max = 4, backoff = "10ms")]
async fn with_overridden_policy(counter: &AtomicU32) -> io::Result<()> {
    counter.fetch_add(1, Ordering::SeqCst);
    Err(reset())
}

#[retryable(policy = CONST_POLICY, max = 0)]
fn with_const_policy(counter: &AtomicU32) -> io::Result<()> {
    counter.fetch_add(1, Ordering::SeqCst);
    Err(reset())
}

#[tokio::test(start_paused = true)]
async fn policy_values_are_reused_and_inline_keys_override_them() {
    let counter = AtomicU32::new(0);
    let start = Instant::now();
    assert!(with_shared_policy(&counter).await.is_err());
    assert_eq!(counter.load(Ordering::SeqCst), 2);
    assert_eq!(start.elapsed(), Duration::from_secs(2));

    let counter = AtomicU32::new(0);
    let start = Instant::now();
    assert!(with_overridden_policy(&counter).await.is_err());
    assert_eq!(counter.load(Ordering::SeqCst), 5);
    assert_eq!(start.elapsed(), Duration::from_millis(10 + 20 + 40 + 80));

    let counter = AtomicU32::new(0);
    assert!(with_const_policy(&counter).is_err());
    assert_eq!(counter.load(Ordering::SeqCst), 1);
}

mod reexported {
    pub use retry_runtime as rt;
}

#[retryable(max = 1, backoff = 0, crate = reexported::rt)]
fn through_a_renamed_crate(counter: &AtomicU32) -> io::Result<()> {
    if counter.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(reset());
    }
    Ok(())
}

#[test]
fn crate_key_names_the_runtime_path() {
    let counter = AtomicU32::new(0);
    through_a_renamed_crate(&counter).unwrap();
    assert_eq!(counter.load(Ordering::SeqCst), 2);
}

#[retryable(max = 20, backoff = "100ms", max_delay = "1s", jitter = decorrelated)]
async fn jittered(counter: &AtomicU32) -> io::Result<()> {
    counter.fetch_add(1, Ordering::SeqCst);
    Err(reset())
}

#[tokio::test(start_paused = true)]
async fn jitter_stays_within_max_delay() {
    let counter = AtomicU32::new(0);
    let start = Instant::now();
    assert!(jittered(&counter).await.is_err());
    assert_eq!(counter.load(Ordering::SeqCst), 21);
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(100 * 20), "{elapsed:?}: each delay is at least backoff");
    assert!(elapsed <= Duration::from_millis(1001 * 20), "{elapsed:?}: each delay is at most max_delay");
}

static TIMED_POLICY: std::sync::LazyLock<retry_runtime::RetryPolicy> = std::sync::LazyLock::new(|| {
    retry_runtime::RetryPolicy::builder()
        .max_retries(2)
        .backoff(Duration::ZERO)
        .attempt_timeout(Duration::from_millis(300))
        .build()
        .unwrap()
});

#[retryable(policy = TIMED_POLICY, attempt_timeout)]
async fn policy_timed(counter: &AtomicU32) -> Result<u32, StepError> {
    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
    if n < 3 {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    Ok(n)
}

#[tokio::test(start_paused = true)]
async fn bare_attempt_timeout_takes_the_policys() {
    let counter = AtomicU32::new(0);
    let start = Instant::now();
    assert_eq!(policy_timed(&counter).await.unwrap(), 3);
    assert_eq!(start.elapsed(), Duration::from_millis(600));
}
