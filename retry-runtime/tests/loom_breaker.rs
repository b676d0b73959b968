//! Loom models of the circuit breaker's races: loom runs each model under every interleaving of
//! the breaker's atomic operations (the breaker uses loom's atomics under `--cfg loom`).
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p retry-runtime --test loom_breaker --release --target-dir target/loom
//! ```
#![cfg(loom)]

use std::sync::atomic::{AtomicU64 as StdAtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use retry_runtime::BreakerState::{self, Closed, HalfOpen, Open};
use retry_runtime::{CircuitBreaker, CircuitBreakerBuilder, Clock, Outcome};

/// A clock that moves only when told to. Its atomics are std's: loom need not explore the clock.
#[derive(Clone)]
struct FakeClock {
    base: Instant,
    offset_ms: std::sync::Arc<StdAtomicU64>,
}

impl FakeClock {
    fn new() -> Self {
        FakeClock { base: Instant::now(), offset_ms: std::sync::Arc::new(StdAtomicU64::new(0)) }
    }

    fn advance(&self, ms: u64) {
        self.offset_ms.fetch_add(ms, SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.base + Duration::from_millis(self.offset_ms.load(SeqCst))
    }
}

/// The transitions a breaker reported, as `(from, to)`. A std mutex: loom need not explore it,
/// and nothing inside it yields to loom.
#[derive(Clone, Default)]
struct Transitions(std::sync::Arc<std::sync::Mutex<Vec<(BreakerState, BreakerState)>>>);

impl Transitions {
    fn log(&self) -> Vec<(BreakerState, BreakerState)> {
        self.0.lock().unwrap().clone()
    }
}

fn builder(clock: &FakeClock, seen: &Transitions) -> CircuitBreakerBuilder {
    let seen = seen.clone();
    CircuitBreaker::builder()
        .clock(clock.clone())
        .open_for(Duration::from_secs(1))
        .on_transition(move |t| seen.0.lock().unwrap().push((t.from, t.to)))
}

/// Trips `breaker` (which trips on one failure) and waits out its `open_for` of 1 s.
fn trip_and_wait(breaker: &CircuitBreaker, clock: &FakeClock) {
    breaker.try_acquire().unwrap().record(Outcome::Failure);
    assert_eq!(breaker.state(), Open);
    clock.advance(1000);
}

/// Two threads each hold a closed-state permit, then both record the tripping failure: the
/// breaker opens exactly once, and its listener hears of it once.
#[test]
fn a_trip_opens_exactly_once() {
    loom::model(|| {
        let clock = FakeClock::new();
        let seen = Transitions::default();
        let breaker = Arc::new(
            builder(&clock, &seen).count_window(2).minimum_calls(1).consecutive_failures(1).build().unwrap(),
        );
        let ready = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (breaker, ready) = (breaker.clone(), ready.clone());
                thread::spawn(move || {
                    let permit = breaker.try_acquire().expect("closed");
                    // Both permits exist before either failure is recorded.
                    ready.fetch_add(1, Ordering::SeqCst);
                    while ready.load(Ordering::SeqCst) < 2 {
                        thread::yield_now();
                    }
                    permit.record(Outcome::Failure);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(seen.log(), [(Closed, Open)]);
        assert_eq!(breaker.state(), Open);
    });
}

/// Runs `threads` threads racing for probes of a breaker half-open with `permits` probe permits,
/// each keeping its probe for a moment; asserts the probes held at once never exceed `permits`.
/// With `half_open_first`, the breaker is half-open before the threads start; otherwise they also
/// race to half-open it.
fn probes_stay_bounded(threads: usize, permits: u32, half_open_first: bool) {
    let mut model = loom::model::Builder::new();
    if threads > 2 {
        // Three threads explode the search; two preemptions per run still cover every way two
        // of them can interleave around the third.
        model.preemption_bound = Some(2);
    }
    model.check(move || {
        let clock = FakeClock::new();
        let seen = Transitions::default();
        let breaker = Arc::new(
            builder(&clock, &seen)
                .consecutive_failures(1)
                .half_open_permits(permits)
                .half_open_successes(1)
                .build()
                .unwrap(),
        );
        trip_and_wait(&breaker, &clock);
        if half_open_first {
            assert_eq!(breaker.state(), HalfOpen);
        }
        let held = Arc::new(AtomicUsize::new(0));
        let granted = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (breaker, held, granted) = (breaker.clone(), held.clone(), granted.clone());
                thread::spawn(move || {
                    if let Ok(probe) = breaker.try_acquire() {
                        assert!(probe.is_probe());
                        granted.fetch_add(1, Ordering::SeqCst);
                        let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(now <= permits as usize, "{now} probes held, bound {permits}");
                        held.fetch_sub(1, Ordering::SeqCst);
                        drop(probe);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(granted.load(Ordering::SeqCst) >= 1, "a free probe slot was refused");
        // Exactly one thread half-opened the breaker.
        assert_eq!(seen.log(), [(Closed, Open), (Open, HalfOpen)]);
        assert_eq!(breaker.state(), HalfOpen);
    });
}

#[test]
fn half_open_permits_never_exceed_the_bound_when_racing_to_half_open() {
    probes_stay_bounded(2, 1, false);
}

#[test]
fn half_open_permits_never_exceed_the_bound() {
    probes_stay_bounded(3, 2, true);
}

/// Two threads take a probe of a breaker with one probe permit and drop it without a result
/// (a cancelled attempt): the slot comes back every time, so a later probe gets in and can close
/// the breaker.
#[test]
fn a_dropped_permit_is_released() {
    loom::model(|| {
        let clock = FakeClock::new();
        let seen = Transitions::default();
        let breaker = Arc::new(
            builder(&clock, &seen)
                .consecutive_failures(1)
                .half_open_permits(1)
                .half_open_successes(1)
                .build()
                .unwrap(),
        );
        trip_and_wait(&breaker, &clock);
        assert_eq!(breaker.state(), HalfOpen);
        let handles: Vec<_> = [Outcome::Ignored, Outcome::Ignored]
            .into_iter()
            .enumerate()
            .map(|(i, outcome)| {
                let breaker = breaker.clone();
                thread::spawn(move || {
                    if let Ok(probe) = breaker.try_acquire() {
                        if i == 0 {
                            drop(probe); // cancelled
                        } else {
                            probe.record(outcome); // a permanent error: released too
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let probe = breaker.try_acquire().expect("the probe slot was released");
        assert!(probe.is_probe());
        probe.record(Outcome::Success);
        assert_eq!(breaker.state(), Closed);
    });
}

/// A probe's success races another probe's failure: the breaker ends either closed or open, and
/// reports exactly one way out of half-open.
#[test]
fn racing_probe_results_leave_half_open_once() {
    loom::model(|| {
        let clock = FakeClock::new();
        let seen = Transitions::default();
        let breaker = Arc::new(
            builder(&clock, &seen)
                .consecutive_failures(1)
                .half_open_permits(2)
                .half_open_successes(1)
                .build()
                .unwrap(),
        );
        trip_and_wait(&breaker, &clock);
        assert_eq!(breaker.state(), HalfOpen);
        let handles: Vec<_> = [Outcome::Success, Outcome::Failure]
            .into_iter()
            .map(|outcome| {
                let breaker = breaker.clone();
                thread::spawn(move || {
                    if let Ok(probe) = breaker.try_acquire() {
                        probe.record(outcome);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        // One way out of half-open: closed (after which the failure may trip it again, as a
        // closed-state failure), or open again by the failed probe.
        let log = seen.log();
        assert_eq!(log[..2], [(Closed, Open), (Open, HalfOpen)]);
        let (rest, state) = (&log[2..], breaker.state());
        let valid = matches!(
            (rest, state),
            ([(HalfOpen, Closed)], Closed)
                | ([(HalfOpen, Open)], Open)
                | ([(HalfOpen, Closed), (Closed, Open)], Open)
        );
        assert!(valid, "{log:?}, ending {state:?}");
    });
}

/// Two threads write outcomes into a count-based window concurrently, lapping it: afterwards the
/// window's counts still match its slots exactly (no outcome lost or counted twice), which the
/// breaker's verdicts then show.
#[test]
fn concurrent_records_keep_the_window_exact() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        let clock = FakeClock::new();
        let seen = Transitions::default();
        // Trips only when all 3 calls in the window failed; the threads never put 3 there.
        let breaker = Arc::new(
            builder(&clock, &seen)
                .count_window(3)
                .minimum_calls(3)
                .failure_rate(1.0)
                .without_consecutive_failures()
                .build()
                .unwrap(),
        );
        let handles: Vec<_> = [[Outcome::Failure, Outcome::Success], [Outcome::Success, Outcome::Failure]]
            .into_iter()
            .map(|outcomes| {
                let breaker = breaker.clone();
                thread::spawn(move || {
                    for outcome in outcomes {
                        breaker.try_acquire().expect("closed").record(outcome);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(breaker.state(), Closed);
        // Three successes replace whatever the threads left.
        for _ in 0..3 {
            breaker.try_acquire().unwrap().record(Outcome::Success);
        }
        // A count off by one either way would trip one failure early or late.
        for expected in [Closed, Closed, Open] {
            breaker.try_acquire().unwrap().record(Outcome::Failure);
            assert_eq!(breaker.state(), expected);
        }
    });
}

/// A failure races two successes that push it out of the window. Afterwards a success finds the
/// window full of successes (and so writes nothing); the run of failures must be over all the
/// same, so that one more failure is a run of one, not two.
#[test]
fn a_success_always_ends_the_run_of_failures() {
    loom::model(|| {
        let clock = FakeClock::new();
        let seen = Transitions::default();
        let breaker = Arc::new(
            builder(&clock, &seen)
                .count_window(2)
                .minimum_calls(2)
                .failure_rate(1.0)
                .consecutive_failures(2)
                .build()
                .unwrap(),
        );
        for _ in 0..2 {
            breaker.try_acquire().unwrap().record(Outcome::Success);
        }
        let handles: Vec<_> = [vec![Outcome::Failure], vec![Outcome::Success, Outcome::Success]]
            .into_iter()
            .map(|outcomes| {
                let breaker = breaker.clone();
                thread::spawn(move || {
                    for outcome in outcomes {
                        breaker.try_acquire().expect("closed").record(outcome);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        breaker.try_acquire().unwrap().record(Outcome::Success);
        breaker.try_acquire().unwrap().record(Outcome::Failure);
        // One failure since the last success, one of the two calls in the window: no trip.
        assert_eq!(seen.log(), []);
        assert_eq!(breaker.state(), Closed);
    });
}
