//! The Dagger adapter against the simulated engine, on real loopback sockets: success rates against
//! the analytical figure, permanent errors sent once, Retry-After honoured, the circuit breaker
//! through an outage, and cancelled calls leaving nothing behind.
//!
//! Every test runs on tokio's paused clock. Loopback I/O is ready at once, so the clock stands
//! still while requests travel and moves only when every task waits on a timer (a backoff, an
//! attempt timeout, an open breaker). Should it ever jump while a socket is slow, time could only
//! run ahead, so the assertions are lower bounds on gaps, or intervals read from the clock the
//! breaker itself uses. A test that must catch a call at a precise point spins on `yield_now`,
//! which keeps the runtime busy (the clock cannot move) while sockets and tasks make progress.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use retry_runtime::testkit::{Fault, FaultMix, FaultPlan};
use retry_runtime::{BreakerState, CircuitBreaker, Classify, ErrorClass, Jitter, RetryPolicy, Transition};
use retry_workspace::dagger::{DaggerAdapter, DaggerError, Endpoint, SimulatedEngine};
use tokio::time::Instant;

fn policy(max: u32, backoff: Duration) -> RetryPolicy {
    RetryPolicy::builder()
        .max_retries(max)
        .backoff(backoff)
        .max_delay(Duration::from_secs(10))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

fn adapter(endpoint: Endpoint, policy: RetryPolicy) -> DaggerAdapter {
    DaggerAdapter::builder(endpoint).policy(policy).breaker(None).build().unwrap()
}

async fn echo(adapter: &DaggerAdapter) -> Result<String, DaggerError> {
    adapter.exec("alpine:3.20", &["echo", "hello"]).await
}

/// Yields until `cond` holds: the runtime stays busy, so the paused clock does not move, while
/// sockets and other tasks make progress.
async fn spin_until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..200_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("never happened: {what}");
}

#[tokio::test(start_paused = true)]
async fn success_rate_matches_one_minus_p_to_the_attempts() {
    const CALLS: usize = 400;
    const MAX: u32 = 2;
    // Only transient faults, 60 % of attempts: a call fails only if all MAX + 1 attempts do.
    let mix: FaultMix = "503=0.3,drop=0.3".parse().unwrap();
    let p = 1.0 - mix.success_rate();
    let engine = SimulatedEngine::start(FaultPlan::mix(mix, 2024).unwrap()).await.unwrap();
    let adapter = adapter(engine.endpoint(), policy(MAX, Duration::from_millis(50)));

    let mut ok = 0;
    for _ in 0..CALLS {
        match echo(&adapter).await {
            Ok(out) => {
                assert_eq!(out, "hello\n");
                ok += 1;
            }
            Err(e) => {
                assert!(
                    matches!(e, DaggerError::Server { status: 503, .. } | DaggerError::Connection(_)),
                    "{e:?}"
                )
            }
        }
    }

    let expected = 1.0 - p.powi(MAX as i32 + 1);
    let sigma = (expected * (1.0 - expected) / CALLS as f64).sqrt();
    let rate = ok as f64 / CALLS as f64;
    assert!(
        (rate - expected).abs() <= 4.0 * sigma,
        "success rate {rate:.3}, expected {expected:.3} ± {:.3} (4 sigma)",
        4.0 * sigma
    );
    // Every attempt reached the engine, and no call made more than MAX + 1.
    let counters = adapter.counters().snapshot();
    assert_eq!(engine.server().stats().requests, counters.attempts);
    assert_eq!(counters.calls, CALLS as u64);
    assert!(counters.attempts <= CALLS as u64 * (MAX as u64 + 1));
    assert_eq!(counters.retries(), counters.attempts - CALLS as u64);
    assert_eq!(counters.successes, ok as u64);
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_is_sent_once() {
    let engine = SimulatedEngine::start(FaultPlan::script([Fault::BadRequest])).await.unwrap();
    let adapter = adapter(engine.endpoint(), policy(5, Duration::from_millis(10)));

    let err = echo(&adapter).await.unwrap_err();
    assert!(matches!(err, DaggerError::Http { status: 400, .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert_eq!(engine.server().stats().requests, 1);

    // A command that fails is a GraphQL error in a 200: permanent too, sent once.
    let err = adapter.exec("alpine:3.20", &["false"]).await.unwrap_err();
    assert!(
        matches!(&err, DaggerError::GraphQl { messages } if messages[0].contains("exit code: 1")),
        "{err:?}"
    );
    assert_eq!(engine.server().stats().requests, 2);

    // A wrong session token: 401, sent once.
    let stranger = self::adapter(Endpoint::new(engine.server().url(), "wrong"), policy(5, Duration::ZERO));
    let err = echo(&stranger).await.unwrap_err();
    assert!(matches!(err, DaggerError::Http { status: 401, .. }), "{err:?}");
    assert_eq!(engine.server().stats().requests, 3);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured() {
    let wait = Duration::from_secs(3);
    let plan = FaultPlan::script([Fault::RateLimited { retry_after: wait }, Fault::Unavailable]);
    let engine = SimulatedEngine::start(plan).await.unwrap();
    // The backoff is far shorter than the server's Retry-After: the hint must win.
    let adapter = adapter(engine.endpoint(), policy(3, Duration::from_millis(10)));

    assert_eq!(echo(&adapter).await.unwrap(), "hello\n");

    let gaps = engine.server().stats().arrival_gaps();
    assert_eq!(gaps.len(), 2, "429, 503, then success");
    assert!(gaps[0] >= wait, "retried {:?} after a 429 asking for {wait:?}", gaps[0]);
    let counters = adapter.counters().snapshot();
    assert_eq!((counters.retry_after_waits, counters.retry_after_honoured), (1, 1));
    assert_eq!(counters.retries_by_kind.get("RateLimited"), Some(&1));
    assert_eq!(counters.retries_by_kind.get("Server"), Some(&1));
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_beyond_max_delay_gives_up_at_once() {
    let plan = FaultPlan::script([Fault::RateLimited { retry_after: Duration::from_secs(60) }]);
    let engine = SimulatedEngine::start(plan).await.unwrap();
    let adapter = adapter(engine.endpoint(), policy(3, Duration::from_millis(10)));

    let err = echo(&adapter).await.unwrap_err();
    assert!(
        matches!(err, DaggerError::RateLimited { wait: Some(w) } if w == Duration::from_secs(60)),
        "{err:?}"
    );
    assert_eq!(engine.server().stats().requests, 1);
}

/// Records when the breaker entered each state, on tokio's clock.
type Log = Arc<Mutex<Vec<(Instant, Transition)>>>;

fn outage_breaker(log: &Log, open_for: Duration) -> retry_runtime::CircuitBreakerBuilder {
    let log = log.clone();
    CircuitBreaker::builder()
        .consecutive_failures(4)
        .count_window(10)
        .minimum_calls(10)
        .open_for(open_for)
        .open_for_growth(1.0, open_for)
        .half_open_permits(1)
        .half_open_successes(2)
        .on_transition(move |t| log.lock().unwrap().push((Instant::now(), t)))
}

#[tokio::test(start_paused = true)]
async fn an_outage_opens_the_breaker_and_healing_closes_it() {
    let open_for = Duration::from_secs(30);
    let log: Log = Arc::default();
    let engine = SimulatedEngine::start(FaultPlan::always(Fault::Unavailable)).await.unwrap();
    let adapter = DaggerAdapter::builder(engine.endpoint())
        .policy(policy(2, Duration::from_millis(100)))
        .breaker(Some(outage_breaker(&log, open_for)))
        .build()
        .unwrap();
    let requests = || engine.server().stats().requests;

    // Three failed attempts, then the fourth trips the breaker and the retry loop stops there.
    assert!(matches!(echo(&adapter).await, Err(DaggerError::Server { status: 503, .. })));
    assert!(matches!(echo(&adapter).await, Err(DaggerError::CircuitOpen(_))));
    assert_eq!(adapter.breaker().state(), BreakerState::Open);
    assert_eq!(requests(), 4);

    // While open, calls end at once and the engine sees nothing.
    for _ in 0..3 {
        assert!(matches!(echo(&adapter).await, Err(DaggerError::CircuitOpen(_))));
        tokio::time::sleep(open_for / 4).await;
    }
    assert_eq!(requests(), 4);

    // Past open_for, one probe goes through; the engine is still down, so the breaker reopens.
    tokio::time::sleep(open_for).await;
    assert!(matches!(echo(&adapter).await, Err(DaggerError::CircuitOpen(_))));
    assert_eq!(requests(), 5, "exactly one probe");
    assert_eq!(adapter.breaker().state(), BreakerState::Open);

    // The engine heals; the breaker is still open until its wait is over.
    engine.server().set_plan(FaultPlan::healthy());
    assert!(matches!(echo(&adapter).await, Err(DaggerError::CircuitOpen(_))));
    assert_eq!(requests(), 5);
    tokio::time::sleep(open_for).await;
    assert_eq!(echo(&adapter).await.unwrap(), "hello\n");
    assert_eq!(adapter.breaker().state(), BreakerState::HalfOpen);
    assert_eq!(echo(&adapter).await.unwrap(), "hello\n");
    assert_eq!(adapter.breaker().state(), BreakerState::Closed);
    assert_eq!(requests(), 7);

    // No request arrived while the breaker was open: each open period, from the transition (made
    // by the failure of a request that arrived at that same instant) to `open_for` later, is free
    // of arrivals.
    let log = log.lock().unwrap().clone();
    let opened: Vec<Instant> =
        log.iter().filter(|(_, t)| t.to == BreakerState::Open).map(|(at, _)| *at).collect();
    assert_eq!(opened.len(), 2, "{log:?}");
    for record in &engine.server().stats().log {
        for &at in &opened {
            assert!(
                record.at <= at || record.at >= at + open_for,
                "request {} arrived {:?} into an open period",
                record.index,
                record.at - at
            );
        }
    }
    let counters = adapter.counters().snapshot();
    assert_eq!(counters.breaker_trips, 2);
    assert_eq!(counters.breaker_rejections, 6);
}

#[tokio::test(start_paused = true)]
async fn a_call_dropped_between_attempts_sends_nothing_more() {
    let engine = SimulatedEngine::start(FaultPlan::script([Fault::Unavailable])).await.unwrap();
    let adapter = Arc::new(adapter(engine.endpoint(), policy(3, Duration::from_secs(10))));

    let call = tokio::spawn({
        let adapter = adapter.clone();
        async move { echo(&adapter).await }
    });
    // The first attempt fails; once the body has returned its error, the loop goes to sleep.
    spin_until("the first attempt fails", || adapter.counters().snapshot().failed_attempts == 1).await;
    tokio::task::yield_now().await;
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());

    // Long past the backoff: the dropped call never sends its second attempt.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(engine.server().stats().requests, 1);
    assert_eq!(engine.server().in_flight(), 0);
    assert_eq!(adapter.counters().snapshot().attempts, 1);
}

#[tokio::test(start_paused = true)]
async fn a_call_dropped_mid_attempt_releases_its_request_and_its_probe_permit() {
    let log: Log = Arc::default();
    let open_for = Duration::from_secs(10);
    let plan = FaultPlan::script([
        Fault::Unavailable,
        Fault::Unavailable,
        Fault::Unavailable,
        Fault::Unavailable,
        Fault::Hang,
    ]);
    let engine = SimulatedEngine::start(plan).await.unwrap();
    let adapter = Arc::new(
        DaggerAdapter::builder(engine.endpoint())
            .policy(policy(0, Duration::from_millis(10)))
            .breaker(Some(outage_breaker(&log, open_for)))
            .build()
            .unwrap(),
    );
    for _ in 0..4 {
        assert!(matches!(echo(&adapter).await, Err(DaggerError::Server { .. })));
    }
    assert_eq!(adapter.breaker().state(), BreakerState::Open);
    tokio::time::sleep(open_for + Duration::from_secs(1)).await;

    // The next call is the one half-open probe, and the engine hangs on it.
    let call = tokio::spawn({
        let adapter = adapter.clone();
        async move { echo(&adapter).await }
    });
    spin_until("the probe reaches the engine", || engine.server().in_flight() == 1).await;
    assert_eq!(adapter.breaker().state(), BreakerState::HalfOpen);
    assert!(adapter.breaker().try_acquire().is_err(), "the probe holds the only permit");

    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());

    // The permit came back with the dropped future...
    let permit = adapter.breaker().try_acquire().expect("the dropped probe released its permit");
    drop(permit);
    // ...and the connection closed, so the engine stops hanging on the request.
    spin_until("the engine notices the client left", || engine.server().in_flight() == 0).await;
    assert_eq!(engine.server().stats().requests, 5);

    // A fresh call probes and succeeds.
    assert_eq!(echo(&adapter).await.unwrap(), "hello\n");
}

#[tokio::test(start_paused = true)]
async fn a_hung_attempt_times_out_and_is_retried() {
    let plan = FaultPlan::script([Fault::Hang]);
    let engine = SimulatedEngine::start(plan).await.unwrap();
    let policy = policy(2, Duration::from_millis(10))
        .to_builder()
        .attempt_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let adapter = adapter(engine.endpoint(), policy);

    assert_eq!(echo(&adapter).await.unwrap(), "hello\n");
    let stats = engine.server().stats();
    assert_eq!(stats.requests, 2);
    assert!(stats.arrival_gaps()[0] >= Duration::from_secs(2));
    assert_eq!(adapter.counters().snapshot().retries_by_kind.get("Timeout"), Some(&1));
    spin_until("the hung request is let go", || engine.server().in_flight() == 0).await;
}
