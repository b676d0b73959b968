//! Behaviour of the circuit breaker, on a manual clock (or tokio's paused one): every test is
//! deterministic and sleeps for real nowhere.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use retry_runtime::{
    BreakerConfigError, BreakerState, CircuitBreaker, CircuitBreakerBuilder, CircuitOpen, Classify, Clock,
    ErrorClass, Outcome, Transition,
};

/// A clock that moves only when told to.
#[derive(Clone)]
struct ManualClock {
    base: Instant,
    offset_ns: Arc<AtomicU64>,
}

impl ManualClock {
    fn new() -> Self {
        ManualClock { base: Instant::now(), offset_ns: Arc::new(AtomicU64::new(0)) }
    }

    fn advance(&self, by: Duration) {
        self.offset_ns.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.base + Duration::from_nanos(self.offset_ns.load(Ordering::SeqCst))
    }
}

/// The transitions a breaker reported, as `(from, to)`.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Transition>>>);

impl Log {
    fn pairs(&self) -> Vec<(BreakerState, BreakerState)> {
        self.0.lock().unwrap().iter().map(|t| (t.from, t.to)).collect()
    }

    fn open_fors(&self) -> Vec<Duration> {
        self.0.lock().unwrap().iter().filter_map(|t| t.open_for).collect()
    }
}

use BreakerState::{Closed, Disabled, ForcedOpen, HalfOpen, Open};

const SEC: Duration = Duration::from_secs(1);

/// Builds `builder` with a manual clock and a transition log.
fn build(builder: CircuitBreakerBuilder) -> (CircuitBreaker, ManualClock, Log) {
    let clock = ManualClock::new();
    let log = Log::default();
    let sink = log.clone();
    let breaker = builder
        .clock(clock.clone())
        .on_transition(move |t| sink.0.lock().unwrap().push(t))
        .build()
        .expect("valid settings");
    (breaker, clock, log)
}

/// A breaker that trips on the first failure, opens for 10 s, and closes after one probe.
fn hair_trigger() -> (CircuitBreaker, ManualClock, Log) {
    build(
        CircuitBreaker::builder()
            .consecutive_failures(1)
            .open_for(10 * SEC)
            .open_for_growth(1.0, 10 * SEC)
            .half_open_permits(1)
            .half_open_successes(1),
    )
}

fn call(breaker: &CircuitBreaker, outcome: Outcome) {
    breaker.try_acquire().expect("the breaker should let this call through").record(outcome);
}

fn calls(breaker: &CircuitBreaker, outcome: Outcome, n: usize) {
    for _ in 0..n {
        call(breaker, outcome);
    }
}

#[test]
fn breaker_and_permit_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<CircuitBreaker>();
    send_sync::<retry_runtime::Permit<'static>>();
    send_sync::<CircuitOpen>();
}

#[test]
fn a_breaker_lives_in_a_static() {
    static LAZY: LazyLock<CircuitBreaker> = LazyLock::new(|| CircuitBreaker::builder().build().unwrap());
    static CONST: CircuitBreaker = CircuitBreaker::new();
    for breaker in [&*LAZY, &CONST] {
        assert_eq!(breaker.state(), Closed);
        call(breaker, Outcome::Success);
    }
    assert_eq!(CircuitBreaker::default().state(), Closed);
}

#[test]
fn not_permitted_while_open() {
    let (b, clock, _) = hair_trigger();
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), Open);
    let open = b.try_acquire().unwrap_err();
    assert_eq!(open.state(), Open);
    assert_eq!(open.half_open_in(), Some(10 * SEC));
    clock.advance(4 * SEC);
    let open = b.try_acquire().unwrap_err();
    assert_eq!(open.half_open_in(), Some(6 * SEC));
    assert_eq!(open.retry_after(), Some(6 * SEC));
}

#[test]
fn not_permitted_while_forced_open() {
    let (b, clock, log) = hair_trigger();
    b.force_open();
    assert_eq!(b.state(), ForcedOpen);
    let open = b.try_acquire().unwrap_err();
    assert_eq!(open.state(), ForcedOpen);
    assert_eq!(open.half_open_in(), None);
    // No wait ends a forced open.
    clock.advance(3600 * SEC);
    assert!(b.try_acquire().is_err());
    assert_eq!(b.state(), ForcedOpen);
    assert_eq!(log.pairs(), [(Closed, ForcedOpen)]);
}

#[test]
fn opens_on_failure_rate() {
    let (b, _, log) = build(
        CircuitBreaker::builder()
            .failure_rate(0.5)
            .count_window(10)
            .minimum_calls(10)
            .without_consecutive_failures(),
    );
    // 4 failures out of 10: 40 %.
    for i in 0..10 {
        call(&b, if i % 5 < 2 { Outcome::Failure } else { Outcome::Success });
    }
    assert_eq!(b.state(), Closed);
    // The window slides: the next two failures replace the first two calls, failures too.
    calls(&b, Outcome::Failure, 2);
    assert_eq!(b.state(), Closed, "still 4 of the last 10");
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), Open, "5 of the last 10");
    assert_eq!(log.pairs(), [(Closed, Open)]);
}

#[test]
fn opens_on_consecutive_failures() {
    let (b, _, _) = build(
        CircuitBreaker::builder()
            .failure_rate(1.0)
            .count_window(100)
            .minimum_calls(100)
            .consecutive_failures(3),
    );
    calls(&b, Outcome::Failure, 2);
    call(&b, Outcome::Success); // breaks the run
    calls(&b, Outcome::Failure, 2);
    assert_eq!(b.state(), Closed);
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), Open);
}

#[test]
fn opens_on_slow_call_rate() {
    let (b, clock, _) = build(
        CircuitBreaker::builder()
            .count_window(4)
            .minimum_calls(4)
            .without_consecutive_failures()
            .slow_calls(SEC, 0.5),
    );
    let timed = |took: Duration| {
        let permit = b.try_acquire().unwrap();
        clock.advance(took);
        permit.record(Outcome::Success);
    };
    timed(Duration::from_millis(999));
    timed(SEC); // slow: the threshold is inclusive
    timed(Duration::from_millis(10));
    assert_eq!(b.state(), Closed);
    timed(5 * SEC);
    assert_eq!(b.state(), Open, "2 slow calls of 4, all of them successes");
}

#[test]
fn minimum_calls_respected() {
    let (b, _, _) = build(
        CircuitBreaker::builder()
            .failure_rate(0.5)
            .count_window(10)
            .minimum_calls(5)
            .without_consecutive_failures(),
    );
    calls(&b, Outcome::Failure, 4);
    assert_eq!(b.state(), Closed, "100 % failures, but only 4 calls");
    call(&b, Outcome::Success);
    assert_eq!(b.state(), Open, "the fifth call, a success, makes 4 of 5 judged");
}

#[test]
fn minimum_calls_above_a_count_window_is_the_window() {
    let (b, _, _) =
        build(CircuitBreaker::builder().count_window(3).minimum_calls(50).without_consecutive_failures());
    calls(&b, Outcome::Failure, 3);
    assert_eq!(b.state(), Open);
}

#[test]
fn open_to_half_open_after_the_wait() {
    let (b, clock, log) = hair_trigger();
    call(&b, Outcome::Failure);
    clock.advance(10 * SEC - Duration::from_millis(1));
    assert_eq!(b.state(), Open);
    clock.advance(Duration::from_millis(1));
    assert_eq!(b.state(), HalfOpen);
    assert_eq!(log.pairs(), [(Closed, Open), (Open, HalfOpen)]);
}

#[test]
fn an_expired_wait_half_opens_on_acquire() {
    let (b, clock, log) = hair_trigger();
    call(&b, Outcome::Failure);
    clock.advance(10 * SEC);
    let probe = b.try_acquire().expect("the first call after the wait is a probe");
    assert!(probe.is_probe());
    assert_eq!(log.pairs(), [(Closed, Open), (Open, HalfOpen)]);
    probe.record(Outcome::Success);
    assert_eq!(b.state(), Closed);
}

#[test]
fn half_open_permits_exhausted() {
    let (b, clock, _) = build(
        CircuitBreaker::builder()
            .consecutive_failures(1)
            .open_for(SEC)
            .half_open_permits(2)
            .half_open_successes(3),
    );
    call(&b, Outcome::Failure);
    clock.advance(SEC);
    let first = b.try_acquire().unwrap();
    let second = b.try_acquire().unwrap();
    let refused = b.try_acquire().unwrap_err();
    assert_eq!(refused.state(), HalfOpen);
    assert_eq!(refused.half_open_in(), None);
    // A finished probe makes room for another.
    first.record(Outcome::Success);
    let third = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err());
    second.record(Outcome::Success);
    assert_eq!(b.state(), HalfOpen, "2 successes of 3");
    third.record(Outcome::Success);
    assert_eq!(b.state(), Closed);
}

#[test]
fn half_open_to_open_on_a_failed_probe() {
    let (b, clock, log) = build(
        CircuitBreaker::builder()
            .consecutive_failures(1)
            .open_for(SEC)
            .open_for_growth(1.0, SEC)
            .half_open_permits(3)
            .half_open_successes(3),
    );
    call(&b, Outcome::Failure);
    clock.advance(SEC);
    call(&b, Outcome::Success);
    let late = b.try_acquire().unwrap();
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), Open);
    // A probe of the period that is over counts for nothing.
    late.record(Outcome::Success);
    assert_eq!(b.state(), Open);
    assert_eq!(log.pairs(), [(Closed, Open), (Open, HalfOpen), (HalfOpen, Open)]);
    assert_eq!(b.try_acquire().unwrap_err().half_open_in(), Some(SEC));
}

#[test]
fn a_slow_probe_counts_as_failed() {
    let (b, clock, _) = build(
        CircuitBreaker::builder()
            .consecutive_failures(1)
            .open_for(SEC)
            .slow_calls(SEC, 1.0)
            .half_open_successes(1),
    );
    call(&b, Outcome::Failure);
    clock.advance(SEC);
    let probe = b.try_acquire().unwrap();
    clock.advance(2 * SEC);
    probe.record(Outcome::Success);
    assert_eq!(b.state(), Open);
}

#[test]
fn half_open_to_closed_with_an_empty_window() {
    let (b, clock, log) = build(
        CircuitBreaker::builder()
            .failure_rate(0.5)
            .count_window(4)
            .minimum_calls(4)
            .without_consecutive_failures()
            .open_for(SEC)
            .half_open_successes(2),
    );
    calls(&b, Outcome::Failure, 4);
    assert_eq!(b.state(), Open);
    clock.advance(SEC);
    calls(&b, Outcome::Success, 2);
    assert_eq!(b.state(), Closed);
    // The failures that tripped the breaker are gone: 3 failures of 4 would trip, 1 of 1 does not.
    call(&b, Outcome::Failure);
    calls(&b, Outcome::Success, 2);
    assert_eq!(b.state(), Closed);
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), Open, "2 of 4");
    assert_eq!(log.pairs(), [(Closed, Open), (Open, HalfOpen), (HalfOpen, Closed), (Closed, Open)]);
}

#[test]
fn open_for_grows_on_repeated_trips_and_is_capped() {
    let (b, clock, log) = build(
        CircuitBreaker::builder()
            .consecutive_failures(1)
            .open_for(10 * SEC)
            .open_for_growth(2.0, 25 * SEC)
            .half_open_permits(1)
            .half_open_successes(1),
    );
    call(&b, Outcome::Failure);
    for wait in [10, 20, 25, 25] {
        assert_eq!(b.try_acquire().unwrap_err().half_open_in(), Some(wait * SEC));
        clock.advance(wait * SEC - Duration::from_millis(1));
        assert_eq!(b.state(), Open);
        clock.advance(Duration::from_millis(1));
        call(&b, Outcome::Failure); // the probe fails: a repeated trip
    }
    clock.advance(25 * SEC);
    call(&b, Outcome::Success);
    assert_eq!(b.state(), Closed);
    // Closing forgets the trips.
    call(&b, Outcome::Failure);
    assert_eq!(b.try_acquire().unwrap_err().half_open_in(), Some(10 * SEC));
    let secs: Vec<u64> = log.open_fors().iter().map(Duration::as_secs).collect();
    assert_eq!(secs, [10, 20, 25, 25, 25, 10]);
}

#[test]
fn reset_closes_from_any_state_with_an_empty_window() {
    let (b, clock, log) = build(
        CircuitBreaker::builder()
            .count_window(4)
            .minimum_calls(4)
            .consecutive_failures(3)
            .open_for(SEC)
            .open_for_growth(2.0, 8 * SEC)
            .half_open_successes(1),
    );
    calls(&b, Outcome::Failure, 2);
    b.reset();
    calls(&b, Outcome::Failure, 2);
    assert_eq!(b.state(), Closed, "the run of failures was forgotten");
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), Open);
    clock.advance(SEC);
    call(&b, Outcome::Failure); // repeated trip: the next wait is 2 s
    b.reset();
    assert_eq!(b.state(), Closed);
    calls(&b, Outcome::Failure, 3);
    assert_eq!(b.try_acquire().unwrap_err().half_open_in(), Some(SEC), "reset forgot the trips");
    b.force_open();
    b.reset();
    assert_eq!(b.state(), Closed);
    assert_eq!(
        log.pairs(),
        [
            (Closed, Open),
            (Open, HalfOpen),
            (HalfOpen, Open),
            (Open, Closed),
            (Closed, Open),
            (Open, ForcedOpen),
            (ForcedOpen, Closed)
        ]
    );
}

#[test]
fn disable_lets_everything_through_and_records_nothing() {
    let (b, _, log) = hair_trigger();
    b.disable();
    assert_eq!(b.state(), Disabled);
    calls(&b, Outcome::Failure, 100);
    assert_eq!(b.state(), Disabled);
    b.reset();
    call(&b, Outcome::Success);
    assert_eq!(b.state(), Closed, "nothing recorded while disabled");
    b.force_open();
    b.disable();
    assert!(b.try_acquire().is_ok());
    assert_eq!(
        log.pairs(),
        [(Closed, Disabled), (Disabled, Closed), (Closed, ForcedOpen), (ForcedOpen, Disabled)]
    );
}

#[test]
fn force_open_from_half_open_and_back() {
    let (b, clock, log) = hair_trigger();
    call(&b, Outcome::Failure);
    clock.advance(10 * SEC);
    let probe = b.try_acquire().unwrap();
    b.force_open();
    probe.record(Outcome::Success); // its period is over
    assert_eq!(b.state(), ForcedOpen);
    b.force_open(); // already forced: no new transition
    b.reset();
    call(&b, Outcome::Success);
    assert_eq!(log.pairs(), [(Closed, Open), (Open, HalfOpen), (HalfOpen, ForcedOpen), (ForcedOpen, Closed)]);
}

#[test]
fn ignored_outcomes_neither_count_nor_leak_a_permit() {
    let (b, clock, _) = build(
        CircuitBreaker::builder()
            .count_window(4)
            .minimum_calls(4)
            .consecutive_failures(2)
            .open_for(SEC)
            .half_open_permits(1)
            .half_open_successes(2),
    );
    call(&b, Outcome::Failure);
    calls(&b, Outcome::Ignored, 50);
    // Ignored calls neither broke the run of failures nor filled the window.
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), Open);
    clock.advance(SEC);
    // The single probe slot is released by every ignored probe.
    calls(&b, Outcome::Ignored, 5);
    call(&b, Outcome::Success);
    assert_eq!(b.state(), HalfOpen, "ignored probes are not successes");
    call(&b, Outcome::Success);
    assert_eq!(b.state(), Closed);
}

#[test]
fn a_dropped_probe_permit_is_released() {
    let (b, clock, _) = hair_trigger();
    call(&b, Outcome::Failure);
    clock.advance(10 * SEC);
    let probe = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err(), "one probe at a time");
    drop(probe); // a cancelled attempt
    assert_eq!(b.state(), HalfOpen);
    call(&b, Outcome::Success);
    assert_eq!(b.state(), Closed);
}

#[test]
fn an_outcome_from_before_a_transition_is_not_counted() {
    let (b, _, _) = hair_trigger();
    let old = b.try_acquire().unwrap();
    b.force_open();
    b.reset();
    old.record(Outcome::Failure);
    assert_eq!(b.state(), Closed);
}

#[test]
fn time_window_forgets_old_calls() {
    let (b, clock, _) = build(
        CircuitBreaker::builder()
            .failure_rate(0.5)
            .time_window(10 * SEC, 10)
            .minimum_calls(5)
            .without_consecutive_failures(),
    );
    calls(&b, Outcome::Failure, 4);
    clock.advance(11 * SEC);
    calls(&b, Outcome::Success, 5);
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), Closed, "1 failure of 6: the first four have left the window");
    // Within the window they count: 4 more failures make 5 of 10.
    clock.advance(5 * SEC);
    calls(&b, Outcome::Failure, 3);
    assert_eq!(b.state(), Closed);
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), Open);
}

#[test]
fn time_window_slides_bucket_by_bucket() {
    let (b, clock, _) = build(
        CircuitBreaker::builder()
            .failure_rate(0.6)
            .time_window(4 * SEC, 4)
            .minimum_calls(4)
            .without_consecutive_failures(),
    );
    for outcome in [Outcome::Failure, Outcome::Success, Outcome::Failure, Outcome::Success] {
        call(&b, outcome);
        clock.advance(SEC);
    }
    assert_eq!(b.state(), Closed, "2 failures of 4");
    // At 4 s the window is 1 s..5 s: the failure at 0 s has left. With it, this would be 3 of 5.
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), Closed, "2 failures of 4");
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), Open, "3 failures of 5");
}

#[test]
fn listeners_see_each_transition_once() {
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    let (b, clock, log) = build(
        CircuitBreaker::builder().consecutive_failures(1).open_for(SEC).half_open_successes(1).on_transition(
            move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
            },
        ),
    );
    call(&b, Outcome::Failure);
    assert!(b.try_acquire().is_err());
    assert!(b.try_acquire().is_err());
    clock.advance(SEC);
    for _ in 0..3 {
        assert_eq!(b.state(), HalfOpen);
    }
    call(&b, Outcome::Success);
    call(&b, Outcome::Success);
    let t = log.0.lock().unwrap().clone();
    assert_eq!(log.pairs(), [(Closed, Open), (Open, HalfOpen), (HalfOpen, Closed)]);
    assert_eq!(count.load(Ordering::SeqCst), 3, "every listener hears every transition");
    assert_eq!(t[0].open_for, Some(SEC));
    assert_eq!(t[1].open_for, None);
    assert_eq!(t[0].to_string(), "circuit breaker closed -> open for 1s");
}

#[test]
fn a_trip_is_reported_once_when_threads_race() {
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    let b = CircuitBreaker::builder()
        .consecutive_failures(1)
        .clock(ManualClock::new())
        .on_transition(move |t| {
            assert_eq!((t.from, t.to), (Closed, Open));
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let permits: Vec<_> = (0..8).map(|_| b.try_acquire().unwrap()).collect();
    std::thread::scope(|s| {
        for permit in permits {
            s.spawn(move || permit.record(Outcome::Failure));
        }
    });
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[test]
fn many_threads_leave_the_breaker_consistent() {
    const PERMITS: u32 = 3;
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder()
        .count_window(20)
        .minimum_calls(10)
        .consecutive_failures(5)
        .open_for(Duration::from_millis(1))
        .half_open_permits(PERMITS)
        .half_open_successes(4)
        .clock(clock.clone())
        .build()
        .unwrap();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (b, clock) = (&b, &clock);
            s.spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ t;
                for _ in 0..20_000 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if x.is_multiple_of(50) {
                        clock.advance(Duration::from_micros(300));
                    }
                    let Ok(permit) = b.try_acquire() else { continue };
                    match x % 10 {
                        0 => drop(permit), // cancelled
                        1..=3 => permit.record(Outcome::Failure),
                        4 => permit.record(Outcome::Ignored),
                        _ => permit.record(Outcome::Success),
                    }
                }
            });
        }
    });
    // No permit is held now, so a half-open breaker must have all its probe slots free.
    if b.state() != HalfOpen {
        b.reset();
        calls(&b, Outcome::Failure, 5);
        clock.advance(SEC);
    }
    let probes: Vec<_> = (0..PERMITS).map(|_| b.try_acquire().expect("a free probe slot")).collect();
    assert!(b.try_acquire().is_err());
    drop(probes);
    calls(&b, Outcome::Success, 4);
    assert_eq!(b.state(), Closed);
}

#[tokio::test(start_paused = true)]
async fn follows_tokios_paused_clock_by_default() {
    let b = CircuitBreaker::builder()
        .consecutive_failures(1)
        .open_for(5 * SEC)
        .half_open_successes(1)
        .build()
        .unwrap();
    call(&b, Outcome::Failure);
    tokio::time::advance(5 * SEC - Duration::from_millis(1)).await;
    assert_eq!(b.state(), Open);
    tokio::time::advance(Duration::from_millis(1)).await;
    let probe = b.try_acquire().unwrap();
    // A permit is held across an await.
    let handle = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
    });
    handle.await.unwrap();
    probe.record(Outcome::Success);
    assert_eq!(b.state(), Closed);
}

#[tokio::test(start_paused = true)]
async fn a_permit_can_be_held_across_an_await_in_a_spawned_task() {
    static B: LazyLock<CircuitBreaker> = LazyLock::new(CircuitBreaker::new);
    let task = tokio::spawn(async {
        let permit = B.try_acquire().unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        permit.record(Outcome::Success);
    });
    task.await.unwrap();
}

#[test]
fn circuit_open_is_a_permanent_error() {
    let open = CircuitOpen::new();
    assert_eq!(open.to_string(), "circuit breaker is open");
    assert_eq!(open.class(), ErrorClass::Permanent);
    assert_eq!(open.kind(), Open);
    assert_eq!(open.retry_after(), None);
    let source: &dyn std::error::Error = &open;
    assert!(source.source().is_none());
    assert_eq!(Outcome::from(ErrorClass::Transient), Outcome::Failure);
    assert_eq!(Outcome::from(ErrorClass::Permanent), Outcome::Ignored);
}

#[test]
fn bad_config_gives_a_typed_error() {
    use BreakerConfigError as E;
    let err = |b: CircuitBreakerBuilder| b.build().unwrap_err();
    let b = CircuitBreaker::builder;
    assert_eq!(err(b().failure_rate(0.0)), E::FailureRate(0.0));
    assert_eq!(err(b().failure_rate(1.5)), E::FailureRate(1.5));
    assert!(matches!(err(b().failure_rate(f64::NAN)), E::FailureRate(r) if r.is_nan()));
    assert_eq!(err(b().count_window(0)), E::EmptyWindow);
    assert_eq!(err(b().count_window(1 << 20)), E::WindowTooLarge(1 << 20));
    assert_eq!(err(b().time_window(Duration::ZERO, 10)), E::EmptyWindow);
    assert_eq!(err(b().time_window(SEC, 0)), E::Buckets(0));
    assert_eq!(err(b().time_window(SEC, 5000)), E::Buckets(5000));
    assert!(matches!(err(b().time_window(Duration::from_millis(5), 10)), E::BucketTooShort(_)));
    assert_eq!(err(b().minimum_calls(0)), E::ZeroMinimumCalls);
    assert_eq!(err(b().consecutive_failures(0)), E::ZeroConsecutiveFailures);
    assert_eq!(err(b().slow_calls(Duration::ZERO, 0.5)), E::ZeroSlowCallDuration);
    assert_eq!(err(b().slow_calls(SEC, -0.1)), E::SlowCallRate(-0.1));
    assert_eq!(err(b().open_for(Duration::ZERO)), E::ZeroOpenFor);
    assert!(matches!(err(b().open_for(400 * 24 * 3600 * SEC)), E::OpenForTooLong(_)));
    assert_eq!(err(b().open_for_growth(0.5, 60 * SEC)), E::GrowthFactor(0.5));
    assert!(matches!(err(b().open_for_growth(f64::INFINITY, 60 * SEC)), E::GrowthFactor(_)));
    assert_eq!(
        err(b().open_for(60 * SEC).open_for_growth(2.0, SEC)),
        E::MaxOpenForBelowOpenFor { open_for: 60 * SEC, max: SEC }
    );
    assert_eq!(err(b().half_open_permits(0)), E::HalfOpen(0));
    assert_eq!(err(b().half_open_successes(0)), E::HalfOpen(0));

    let message = err(b().failure_rate(2.0)).to_string();
    assert_eq!(message, "failure rate must be in (0, 1], got 2");
    for e in [
        err(b().count_window(0)),
        err(b().time_window(SEC, 0)),
        err(b().consecutive_failures(0)),
        err(b().open_for_growth(0.5, SEC)),
        err(b().half_open_successes(0)),
    ] {
        let message = e.to_string();
        assert!(message.starts_with(char::is_lowercase), "{message}");
        assert!(!message.ends_with('.'), "{message}");
    }
    let _: &dyn std::error::Error = &E::ZeroOpenFor;
}

#[test]
fn permits_and_breakers_debug_print() {
    let (b, _, _) = hair_trigger();
    let permit = b.try_acquire().unwrap();
    assert!(format!("{permit:?}").starts_with("Permit"));
    permit.record(Outcome::Success);
    assert!(format!("{b:?}").contains("state: Closed"));
    assert!(format!("{:?}", CircuitBreaker::builder()).starts_with("CircuitBreakerBuilder"));
}
