//! The success path allocates nothing: a counting global allocator watches the measured region.
//!
//! Only allocations made by the measuring thread while a region is open are counted, so the test
//! harness's own threads and output do not interfere.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use retry_runtime::RetryPolicy;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static MEASURING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if MEASURING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged; counting has no effect on it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract is passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: the caller's contract is passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The number of allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    ALLOCATIONS.store(0, Ordering::Relaxed);
    MEASURING.with(|m| m.set(true));
    f();
    MEASURING.with(|m| m.set(false));
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Polls a future to completion with a waker that does nothing: an executor that allocates nothing.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

static POLICY: RetryPolicy = RetryPolicy::DEFAULT;

async fn fetch(x: u64) -> io::Result<u64> {
    Ok(black_box(x))
}

#[test]
fn success_path_allocates_nothing() {
    // The allocator really counts.
    assert_eq!(allocations(|| drop(black_box(Box::new(1u64)))), 1);

    let policy = RetryPolicy::builder()
        .max_retries(5)
        .backoff(Duration::from_millis(100))
        .deadline(Duration::from_secs(10))
        .build()
        .unwrap();
    let n = allocations(|| {
        for i in 0..1_000 {
            assert_eq!(block_on(POLICY.retry(|| fetch(i)).run()).unwrap(), i);
            assert_eq!(POLICY.retry(|| Ok::<u64, io::Error>(black_box(i))).run_blocking().unwrap(), i);
            // A deadline reads the clock, but allocates nothing either.
            assert_eq!(block_on(policy.retry(|| fetch(i)).run()).unwrap(), i);
            assert_eq!(policy.retry(|| Ok::<u64, io::Error>(black_box(i))).run_blocking().unwrap(), i);
        }
    });
    assert_eq!(n, 0, "the success path allocated {n} times");
}

#[test]
fn zero_delay_retry_of_a_simple_error_allocates_nothing() {
    let policy = RetryPolicy::builder()
        .max_retries(3)
        .backoff(Duration::ZERO)
        .max_delay(Duration::ZERO)
        .build()
        .unwrap();
    let run = |i: u64| {
        let attempts = Cell::new(0);
        let result =
            block_on(
                policy
                    .retry(|| {
                        attempts.set(attempts.get() + 1);
                        let fail = attempts.get() < 4;
                        async move {
                            if fail { Err(io::Error::from(io::ErrorKind::ConnectionReset)) } else { Ok(i) }
                        }
                    })
                    .run(),
            );
        assert_eq!(result.unwrap(), i);
    };
    // The first retry registers tracing's call sites; count the steady state only.
    run(0);
    let n = allocations(|| {
        for i in 0..1_000 {
            run(i);
        }
    });
    assert_eq!(n, 0, "a zero-delay retry allocated {n} times");
}
