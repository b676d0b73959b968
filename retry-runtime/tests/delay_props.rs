//! Properties of the delay math (`RetryPolicy::backoff_delay`, `RetryPolicy::jittered_delay`), of
//! the policy builder, and of deadlines over random policies.

use std::cell::RefCell;
use std::time::Duration;

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use retry_runtime::{AttemptTimeout, Classify, ErrorClass, Jitter, RetryPolicy};

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal), Just(Jitter::Decorrelated)]
}

/// Durations from zero to `Duration::MAX`, weighted towards the ones policies use.
fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        3 => (0u64..=60_000_000_000).prop_map(Duration::from_nanos),
        1 => Just(Duration::ZERO),
        1 => any::<u64>().prop_map(Duration::from_nanos),
        1 => (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        1 => Just(Duration::MAX),
    ]
}

/// Multipliers from 1 up, including huge ones.
fn multiplier() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => 1.0..4.0f64,
        1 => Just(1.0),
        1 => 1.0..f64::MAX,
    ]
}

/// Any valid policy, with durations anywhere in `Duration`'s range.
fn policy() -> impl Strategy<Value = RetryPolicy> {
    (any::<u32>(), duration(), duration(), multiplier(), jitter()).prop_map(
        |(max, a, b, multiplier, jitter)| {
            RetryPolicy::builder()
                .max_retries(max)
                .backoff(a.min(b))
                .max_delay(a.max(b))
                .multiplier(multiplier)
                .jitter(jitter)
                .build()
                .expect("a valid policy")
        },
    )
}

/// Retry numbers: small ones, where delays grow, and any at all.
fn retry() -> impl Strategy<Value = u32> {
    prop_oneof![3 => 0u32..100, 1 => any::<u32>()]
}

/// Any `f64`, with the special values well represented.
fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        2 => any::<f64>(),
        2 => -10.0..100.0f64,
        1 => prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(-0.0),
            Just(0.0),
            Just(f64::MIN_POSITIVE),
            Just(f64::MAX),
            Just(f64::MIN),
            Just(f64::EPSILON),
            Just(1e-10),
            Just(u64::MAX as f64),
            Just(1e20),
        ],
    ]
}

proptest! {
    #[test]
    fn backoff_delay_never_exceeds_max_delay(policy in policy(), retry in retry()) {
        prop_assert!(policy.backoff_delay(retry) <= policy.max_delay());
    }

    /// The first delay is the base delay, to the nanosecond while the base delay fits an `f64`'s
    /// 52-bit mantissa in nanoseconds (52 days); beyond that the math in seconds may round by 1 ns.
    #[test]
    fn backoff_delay_starts_at_backoff(policy in policy(), nanos in 0u64..(1 << 52)) {
        prop_assert_eq!(policy.backoff_delay(0), Duration::ZERO);
        let backoff = Duration::from_nanos(nanos);
        let policy = policy.to_builder().backoff(backoff).max_delay(policy.max_delay().max(backoff)).build().unwrap();
        prop_assert_eq!(policy.backoff_delay(1), backoff);
    }

    #[test]
    fn backoff_delay_is_monotone_in_the_retry_number(policy in policy(), retry in retry()) {
        let retry = retry.min(u32::MAX - 1);
        prop_assert!(
            policy.backoff_delay(retry) <= policy.backoff_delay(retry + 1),
            "{:?} > {:?}", policy.backoff_delay(retry), policy.backoff_delay(retry + 1)
        );
    }

    #[test]
    fn jittered_delay_never_exceeds_max_delay(
        policy in policy(), retry in retry(), previous in duration(), seed in any::<u64>()
    ) {
        let mut rng = SmallRng::seed_from_u64(seed);
        prop_assert!(policy.jittered_delay(retry, previous, &mut rng) <= policy.max_delay());
    }

    #[test]
    fn jitter_stays_in_its_range(
        policy in policy(), retry in 1u32..200, previous in duration(), seed in any::<u64>()
    ) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let d = policy.backoff_delay(retry);
        let full = policy.to_builder().jitter(Jitter::Full).build().unwrap();
        let equal = policy.to_builder().jitter(Jitter::Equal).build().unwrap();
        let decorrelated = policy.to_builder().jitter(Jitter::Decorrelated).build().unwrap();
        let none = policy.to_builder().jitter(Jitter::None).build().unwrap();
        for _ in 0..8 {
            let delay = full.jittered_delay(retry, previous, &mut rng);
            prop_assert!(delay <= d, "full: {delay:?} > {d:?}");
            let delay = equal.jittered_delay(retry, previous, &mut rng);
            prop_assert!(delay >= d / 2 && delay <= d, "equal: {delay:?} outside [{:?}, {d:?}]", d / 2);
            let delay = decorrelated.jittered_delay(retry, previous, &mut rng);
            prop_assert!(
                delay >= policy.backoff() && delay <= policy.max_delay(),
                "decorrelated: {delay:?} outside [{:?}, {:?}]", policy.backoff(), policy.max_delay()
            );
            prop_assert!(
                delay <= previous.max(policy.backoff()).saturating_mul(3),
                "decorrelated: {delay:?} above 3 x previous {previous:?}"
            );
            prop_assert_eq!(none.jittered_delay(retry, previous, &mut rng), d);
        }
    }

    #[test]
    fn seeded_jitter_is_reproducible(policy in policy(), retry in retry(), previous in duration(), seed in any::<u64>()) {
        let a = policy.jittered_delay(retry, previous, &mut SmallRng::seed_from_u64(seed));
        let b = policy.jittered_delay(retry, previous, &mut SmallRng::seed_from_u64(seed));
        prop_assert_eq!(a, b);
    }

    /// Every `f64` setter accepts anything: `build` returns a policy or a typed error, never panics,
    /// and a policy it returns is consistent.
    #[test]
    fn builder_never_panics(
        backoff in any_f64(),
        max_delay in any_f64(),
        multiplier in any_f64(),
        deadline in any_f64(),
        attempt_timeout in any_f64(),
        max in any::<u32>(),
        jitter in jitter(),
        order in any::<bool>(),
        retry in retry(),
        seed in any::<u64>(),
    ) {
        let builder = RetryPolicy::builder().max_retries(max).jitter(jitter);
        let builder = if order {
            builder.backoff_secs(backoff).max_delay_secs(max_delay)
        } else {
            builder.max_delay_secs(max_delay).backoff_secs(backoff)
        };
        let built = builder
            .multiplier(multiplier)
            .deadline_secs(deadline)
            .attempt_timeout_secs(attempt_timeout)
            .build();
        match built {
            Ok(p) => {
                prop_assert!(p.max_delay() >= p.backoff());
                prop_assert!(p.multiplier().is_finite() && p.multiplier() >= 1.0);
                prop_assert!(p.deadline().is_none_or(|d| !d.is_zero()));
                prop_assert!(p.attempt_timeout().is_none_or(|d| !d.is_zero()));
                prop_assert!(p.backoff_delay(retry) <= p.max_delay());
                let mut rng = SmallRng::seed_from_u64(seed);
                prop_assert!(p.jittered_delay(retry, p.max_delay(), &mut rng) <= p.max_delay());
            }
            Err(e) => {
                // A typed error with a message naming the problem.
                prop_assert!(!e.to_string().is_empty());
                let bad = |v: f64| !v.is_finite() || v < 0.0;
                prop_assert!(
                    bad(backoff) || bad(max_delay) || bad(multiplier) || multiplier < 1.0 || bad(deadline)
                        || bad(attempt_timeout) || max_delay < backoff || deadline < 1e-9 || attempt_timeout < 1e-9
                        || backoff > 1e18 || max_delay > 1e18 || deadline > 1e18 || attempt_timeout > 1e18,
                    "rejected good values: {e}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Deadlines over random policies

#[derive(Debug, Clone)]
struct Failure {
    retry_after: Option<Duration>,
}

impl Classify for Failure {
    type Kind = ();
    fn kind(&self) {}
    fn class(&self) -> ErrorClass {
        ErrorClass::Transient
    }
    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl From<AttemptTimeout> for Failure {
    fn from(_: AttemptTimeout) -> Self {
        Failure { retry_after: None }
    }
}

/// `d` rounded up to a whole millisecond, as tokio's timer rounds every sleep.
fn ceil_ms(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap())
}

/// One attempt of the fake: how long it takes, and the Retry-After hint of its error.
fn attempt() -> impl Strategy<Value = (Duration, Option<Duration>)> {
    let took = prop_oneof![
        1 => Just(Duration::ZERO),
        3 => (0u64..3_000_000_000).prop_map(Duration::from_nanos),
    ];
    let hint = prop_oneof![
        3 => Just(None),
        1 => (0u64..5_000_000_000).prop_map(|n| Some(Duration::from_nanos(n))),
    ];
    (took, hint)
}

/// Policies with a deadline and delays of the order of the attempts.
fn deadline_policy() -> impl Strategy<Value = RetryPolicy> {
    let backoff = prop_oneof![
        1 => Just(Duration::ZERO),
        3 => (0u64..2_000_000_000).prop_map(Duration::from_nanos),
    ];
    (
        0u32..20,
        backoff,
        (0u64..5_000_000_000).prop_map(Duration::from_nanos),
        1.0..4.0f64,
        jitter(),
        (1u64..20_000_000_000).prop_map(Duration::from_nanos),
        any::<u64>(),
    )
        .prop_map(|(max, backoff, extra, multiplier, jitter, deadline, seed)| {
            RetryPolicy::builder()
                .max_retries(max)
                .backoff(backoff)
                .max_delay(backoff + extra)
                .multiplier(multiplier)
                .jitter(jitter)
                .deadline(deadline)
                .seed(seed)
                .build()
                .expect("a valid policy")
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The deadline does not interrupt a running attempt; it only refuses to sleep past it, and to
    /// start an attempt once it has passed. So every attempt starts by the deadline (rounded up to
    /// tokio's millisecond tick, which the last sleep may overshoot by less than 1 ms), and the
    /// call ends by the deadline plus the last attempt's duration.
    #[test]
    fn deadline_is_never_exceeded(policy in deadline_policy(), attempts in prop::collection::vec(attempt(), 1..8)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        let deadline = policy.deadline().unwrap();
        let starts = RefCell::new(Vec::new());
        let (elapsed, result) = rt.block_on(async {
            let origin = tokio::time::Instant::now();
            let result = policy
                .retry(|| {
                    let n = starts.borrow().len();
                    starts.borrow_mut().push(origin.elapsed());
                    let (took, retry_after) = attempts[n % attempts.len()];
                    async move {
                        if !took.is_zero() {
                            tokio::time::sleep(took).await;
                        }
                        Err::<(), _>(Failure { retry_after })
                    }
                })
                .run()
                .await;
            (origin.elapsed(), result)
        });
        prop_assert!(result.is_err());
        let starts = starts.into_inner();
        prop_assert!(starts.len() as u64 <= u64::from(policy.max_retries()) + 1);
        prop_assert_eq!(starts[0], Duration::ZERO);
        for (i, start) in starts.iter().enumerate() {
            prop_assert!(*start <= ceil_ms(deadline), "attempt {} started at {start:?}, after the deadline {deadline:?}", i + 1);
        }
        let last = attempts[(starts.len() - 1) % attempts.len()].0;
        prop_assert!(
            elapsed <= ceil_ms(deadline) + ceil_ms(last),
            "elapsed {elapsed:?} > deadline {deadline:?} + last attempt {last:?}"
        );
    }
}
