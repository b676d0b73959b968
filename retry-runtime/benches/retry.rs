//! The cost of retrying: the success path per call, and a zero-delay retry, against a bare call and
//! against backon, tokio-retry2 and backoff.
//!
//! `cargo bench -p retry-runtime --bench retry -- --warm-up-time 1 --measurement-time 3`
//!
//! Group `success`: one successful call, polled by a hand-written executor whose waker does nothing,
//! so the numbers are the retry wrappers' own cost and not a runtime's. Group
//! `three_failures_zero_delay`: three transient failures then success, with every delay zero, on a
//! tokio current-thread runtime (the peers sleep even for a zero delay, which needs a timer); the
//! `_noop` group runs the same call on the hand-written executor, where ours never touches a timer.

use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::io;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use retry_runtime::RetryPolicy;

/// Polls a future to completion with a waker that does nothing: the cheapest possible executor.
#[inline]
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

/// The operation under test: an `async fn` that succeeds.
async fn fetch(x: u64) -> io::Result<u64> {
    Ok(black_box(x))
}

/// Ours, with the policy in a `static`, as `#[retryable]` generates it.
static POLICY: RetryPolicy = RetryPolicy::DEFAULT;

/// Ours through the attribute, which also keeps the function's telemetry record.
#[retry_runtime::retryable]
async fn fetch_retryable(x: u64) -> io::Result<u64> {
    Ok(black_box(x))
}

fn success(c: &mut Criterion) {
    let mut group = c.benchmark_group("success");
    group.bench_function("bare", |b| b.iter(|| block_on(fetch(black_box(7)))));
    group.bench_function("ours", |b| b.iter(|| block_on(POLICY.retry(|| fetch(black_box(7))).run())));
    group.bench_function("ours_attribute", |b| b.iter(|| block_on(fetch_retryable(black_box(7)))));
    group.bench_function("backon", |b| {
        use backon::{ExponentialBuilder, Retryable};
        b.iter(|| block_on((|| fetch(black_box(7))).retry(ExponentialBuilder::default())))
    });
    group.bench_function("tokio_retry2", |b| {
        use tokio_retry2::strategy::ExponentialBackoff;
        use tokio_retry2::{Retry, RetryError};
        b.iter(|| {
            let strategy = ExponentialBackoff::from_millis(500).take(3);
            block_on(Retry::spawn(strategy, || async {
                fetch(black_box(7)).await.map_err(RetryError::transient)
            }))
        })
    });
    group.bench_function("backoff", |b| {
        b.iter(|| {
            block_on(backoff::future::retry(backoff::ExponentialBackoff::default(), || async {
                fetch(black_box(7)).await.map_err(backoff::Error::transient)
            }))
        })
    });
    group.finish();
}

/// Attempts fail with a transient error until the fourth, which succeeds.
fn flaky() -> impl FnMut() -> Ready<io::Result<u64>> {
    let mut attempt = 0;
    move || {
        attempt += 1;
        ready(if black_box(attempt) < 4 {
            Err(io::Error::from(io::ErrorKind::ConnectionReset))
        } else {
            Ok(attempt)
        })
    }
}

fn zero_delay(c: &mut Criterion) {
    let zero = RetryPolicy::builder()
        .max_retries(3)
        .backoff(Duration::ZERO)
        .max_delay(Duration::ZERO)
        .build()
        .unwrap();
    let zero = &zero;
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();

    let mut group = c.benchmark_group("three_failures_zero_delay");
    group.sample_size(20);
    group.bench_function("bare_x4", |b| {
        b.to_async(&rt).iter(|| async {
            let mut op = flaky();
            for _ in 0..3 {
                let _ = black_box(op().await);
            }
            op().await
        })
    });
    group.bench_function("ours", |b| b.to_async(&rt).iter(|| zero.retry(flaky()).run()));
    group.bench_function("backon", |b| {
        use backon::{ConstantBuilder, Retryable};
        let backoff = ConstantBuilder::new().with_delay(Duration::ZERO).with_max_times(3);
        b.to_async(&rt).iter(|| flaky().retry(backoff))
    });
    group.bench_function("tokio_retry2", |b| {
        use tokio_retry2::strategy::FixedInterval;
        use tokio_retry2::{Retry, RetryError};
        b.to_async(&rt).iter(|| {
            let mut op = flaky();
            Retry::spawn(FixedInterval::new(Duration::ZERO).take(3), move || {
                let result = op();
                async move { result.await.map_err(RetryError::transient) }
            })
        })
    });
    group.bench_function("backoff", |b| {
        b.to_async(&rt).iter(|| {
            let mut op = flaky();
            backoff::future::retry(backoff::backoff::Zero {}, move || {
                let result = op();
                async move { result.await.map_err(backoff::Error::transient) }
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("three_failures_zero_delay_noop");
    group.bench_function("bare_x4", |b| {
        b.iter(|| {
            let mut op = flaky();
            for _ in 0..3 {
                let _ = black_box(block_on(op()));
            }
            block_on(op())
        })
    });
    group.bench_function("ours", |b| b.iter(|| block_on(zero.retry(flaky()).run())));
    group.finish();
}

criterion_group!(benches, success, zero_delay);
criterion_main!(benches);
