//! The cost of asking a closed circuit breaker and recording a success, ours against failsafe's
//! and recloser's, on one thread and on two threads sharing one breaker.
//!
//! `cargo bench -p retry-runtime --bench breaker -- --warm-up-time 1 --measurement-time 3`
//!
//! The two-thread variants report the time per call as seen by each thread: two threads each make
//! `iters` calls at once, and the wall time is divided by `iters`.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use retry_runtime::{CircuitBreaker, Outcome};

fn ours(breaker: &CircuitBreaker) {
    if let Ok(permit) = black_box(breaker).try_acquire() {
        black_box(());
        permit.record(Outcome::Success);
    }
}

fn failsafe_call(breaker: &impl failsafe::CircuitBreaker) {
    let _ = black_box(breaker).call(|| black_box(Ok::<_, ()>(())));
}

fn recloser_call(breaker: &recloser::Recloser) {
    let _ = black_box(breaker).call(|| black_box(Ok::<(), ()>(())));
}

/// Runs `call` `iters` times on each of two threads at once; the wall time of the slower thread.
fn two_threads<B: Sync>(breaker: &B, iters: u64, call: fn(&B)) -> Duration {
    let start_line = Barrier::new(3);
    let finish_line = Barrier::new(3);
    std::thread::scope(|s| {
        for _ in 0..2 {
            let (start_line, finish_line) = (&start_line, &finish_line);
            s.spawn(move || {
                start_line.wait();
                for _ in 0..iters {
                    call(breaker);
                }
                finish_line.wait();
            });
        }
        start_line.wait();
        let start = Instant::now();
        finish_line.wait();
        start.elapsed()
    })
}

fn one_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("breaker/1-thread acquire+record success");
    let breaker = CircuitBreaker::new();
    group.bench_function("retry-runtime", |b| b.iter(|| ours(&breaker)));
    let failsafe = failsafe::Config::new().build();
    group.bench_function("failsafe", |b| b.iter(|| failsafe_call(&failsafe)));
    let recloser = recloser::Recloser::default();
    group.bench_function("recloser", |b| b.iter(|| recloser_call(&recloser)));
    group.finish();
}

fn shared_by_two_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("breaker/2-thread shared, per call per thread");
    let breaker = CircuitBreaker::new();
    group.bench_function("retry-runtime", |b| b.iter_custom(|iters| two_threads(&breaker, iters, ours)));
    let failsafe = failsafe::Config::new().build();
    group.bench_function("failsafe", |b| b.iter_custom(|iters| two_threads(&failsafe, iters, failsafe_call)));
    let recloser = recloser::Recloser::default();
    group.bench_function("recloser", |b| b.iter_custom(|iters| two_threads(&recloser, iters, recloser_call)));
    group.finish();
}

fn slow_paths(c: &mut Criterion) {
    let mut group = c.benchmark_group("breaker/other paths, 1 thread");
    // One failure in ten keeps the window from being all successes: every call writes the ring.
    let mixed = CircuitBreaker::builder().failure_rate(0.5).without_consecutive_failures().build().unwrap();
    let mut n = 0u32;
    group.bench_function("10% failures, count window", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            let permit = mixed.try_acquire().unwrap();
            permit.record(if n.is_multiple_of(10) { Outcome::Failure } else { Outcome::Success });
        })
    });
    let timed = CircuitBreaker::builder().time_window(Duration::from_secs(10), 10).build().unwrap();
    group.bench_function("successes, time window", |b| b.iter(|| ours(&timed)));
    let open = CircuitBreaker::new();
    open.force_open();
    group.bench_function("refused while forced open", |b| b.iter(|| black_box(open.try_acquire().is_err())));
    group.finish();
}

criterion_group!(benches, one_thread, shared_by_two_threads, slow_paths);
criterion_main!(benches);
