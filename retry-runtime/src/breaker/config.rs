//! The breaker's settings: the builder, the defaults and their reasons, and validation.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use super::CircuitBreaker;
use super::state::{MAX_PROBES, Transition};
use super::window::{MAX_BUCKETS, MAX_WINDOW_CALLS};
use crate::clock::Clock;

/// The longest `open_for` (and growth cap) accepted: a year.
const MAX_OPEN_FOR: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// How the sliding window of recent calls is measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum WindowSpec {
    /// The last `n` calls.
    Count(u32),
    /// The calls of the last `length`, in `buckets` buckets of `length / buckets` each.
    Time { length: Duration, buckets: u32 },
}

/// The validated settings of a breaker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Config {
    pub(crate) failure_rate: f64,
    /// `None`: no consecutive-failure rule.
    pub(crate) consecutive_failures: Option<u32>,
    pub(crate) window: WindowSpec,
    pub(crate) minimum_calls: u32,
    pub(crate) slow_call: Option<(Duration, f64)>,
    pub(crate) open_for: Duration,
    pub(crate) growth: f64,
    pub(crate) max_open_for: Duration,
    pub(crate) half_open_permits: u32,
    pub(crate) half_open_successes: u32,
}

impl Config {
    /// The defaults; see [`CircuitBreakerBuilder`] for the reasons.
    pub(crate) const DEFAULT: Config = Config {
        failure_rate: 0.5,
        consecutive_failures: Some(10),
        window: WindowSpec::Count(100),
        minimum_calls: 20,
        slow_call: None,
        open_for: Duration::from_secs(30),
        growth: 2.0,
        max_open_for: Duration::from_secs(120),
        half_open_permits: 3,
        half_open_successes: 3,
    };

    /// The calls the window must hold before its rates are judged.
    pub(crate) const fn effective_minimum_calls(&self) -> u32 {
        match self.window {
            WindowSpec::Count(n) if n < self.minimum_calls => n,
            _ => self.minimum_calls,
        }
    }

    /// How long the breaker stays open after `trips` failed probes in a row (0 for a trip from
    /// closed): `open_for * growth^trips`, capped at `max_open_for`.
    pub(crate) fn open_for(&self, trips: u64) -> Duration {
        if trips == 0 || self.growth == 1.0 {
            return self.open_for.min(self.max_open_for);
        }
        let secs = self.open_for.as_secs_f64() * self.growth.powi(trips.min(1024) as i32);
        if secs.is_finite() && secs < self.max_open_for.as_secs_f64() {
            Duration::from_secs_f64(secs)
        } else {
            self.max_open_for
        }
    }

    fn validate(&self) -> Result<(), BreakerConfigError> {
        use BreakerConfigError as E;
        if !(self.failure_rate > 0.0 && self.failure_rate <= 1.0) {
            return Err(E::FailureRate(self.failure_rate));
        }
        match self.window {
            WindowSpec::Count(0) => return Err(E::EmptyWindow),
            WindowSpec::Count(n) if n > MAX_WINDOW_CALLS => return Err(E::WindowTooLarge(n)),
            WindowSpec::Count(_) => {}
            WindowSpec::Time { length, .. } if length.is_zero() => return Err(E::EmptyWindow),
            WindowSpec::Time { buckets, .. } if buckets == 0 || buckets > MAX_BUCKETS => {
                return Err(E::Buckets(buckets));
            }
            WindowSpec::Time { length, buckets } => {
                if length / buckets < Duration::from_millis(1) {
                    return Err(E::BucketTooShort(length / buckets));
                }
            }
        }
        if self.consecutive_failures == Some(0) {
            return Err(E::ZeroConsecutiveFailures);
        }
        if self.minimum_calls == 0 {
            return Err(E::ZeroMinimumCalls);
        }
        if let Some((duration, rate)) = self.slow_call {
            if duration.is_zero() {
                return Err(E::ZeroSlowCallDuration);
            }
            if !(rate > 0.0 && rate <= 1.0) {
                return Err(E::SlowCallRate(rate));
            }
        }
        if self.open_for.is_zero() {
            return Err(E::ZeroOpenFor);
        }
        if self.open_for > MAX_OPEN_FOR || self.max_open_for > MAX_OPEN_FOR {
            return Err(E::OpenForTooLong(self.open_for.max(self.max_open_for)));
        }
        if !(self.growth.is_finite() && self.growth >= 1.0) {
            return Err(E::GrowthFactor(self.growth));
        }
        if self.max_open_for < self.open_for {
            return Err(E::MaxOpenForBelowOpenFor { open_for: self.open_for, max: self.max_open_for });
        }
        for n in [self.half_open_permits, self.half_open_successes] {
            if n == 0 || n > MAX_PROBES {
                return Err(E::HalfOpen(n));
            }
        }
        Ok(())
    }
}

type Listener = Box<dyn Fn(Transition) + Send + Sync + 'static>;

/// Settings for a [`CircuitBreaker`]; made by [`CircuitBreaker::builder`], finished by
/// [`build`](CircuitBreakerBuilder::build).
///
/// ```
/// use retry_runtime::{BreakerState, CircuitBreaker};
/// use std::sync::LazyLock;
/// use std::time::Duration;
///
/// static BREAKER: LazyLock<CircuitBreaker> = LazyLock::new(|| {
///     CircuitBreaker::builder()
///         .failure_rate(0.25)
///         .count_window(50)
///         .minimum_calls(10)
///         .slow_calls(Duration::from_secs(2), 0.5)
///         .open_for(Duration::from_secs(10))
///         .open_for_growth(2.0, Duration::from_secs(60))
///         .on_transition(|t| eprintln!("{t}"))
///         .build()
///         .expect("valid breaker settings")
/// });
///
/// assert_eq!(BREAKER.state(), BreakerState::Closed);
/// ```
///
/// # Defaults, and why
///
/// | setting | default | reason |
/// |---|---|---|
/// | [`failure_rate`](Self::failure_rate) | 0.5 | resilience4j, recloser and Hystrix all trip at 50 %: a service failing half its calls is down for practical purposes, and the bar is high enough that ordinary noise does not reach it |
/// | [`count_window`](Self::count_window) | last 100 calls | resilience4j's and recloser's default; large enough for a rate to mean something, small enough to react within seconds on a busy path; count-based, so the hot path never reads the clock |
/// | [`minimum_calls`](Self::minimum_calls) | 20 | resilience4j waits for a full window (100), which a little-used function may never fill; over 20 calls a 50 % threshold is still about two standard errors away from a 30 % error rate. Each attempt counts, retries included |
/// | [`consecutive_failures`](Self::consecutive_failures) | 10 | failsafe trips on 5; with the retry loop's default of 3 retries, one failed call is 4 failed attempts, so 10 lets two calls exhaust their retries and trips during the third. It also covers paths too quiet to reach `minimum_calls` soon |
/// | [`slow_calls`](Self::slow_calls) | off | what "slow" means depends on the call; measuring it reads the clock twice per call |
/// | [`open_for`](Self::open_for) | 30 s | recloser's value; resilience4j waits 60 s, but here the wait grows on repeated trips, so the first one can be short |
/// | [`open_for_growth`](Self::open_for_growth) | ×2 per failed probe, capped at 120 s | after failsafe's backoff: a brief outage costs 30 s, a long one is probed every two minutes instead of hammered every 30 s |
/// | [`half_open_permits`](Self::half_open_permits) | 3 in flight | resilience4j and recloser let 10 calls probe, which against a still-broken service means 10 failed calls; 3 is enough to learn and cheap to lose |
/// | [`half_open_successes`](Self::half_open_successes) | 3 | one lucky call should not close the breaker; three in a row rarely happen by chance, and a healthy service with 1 % errors still passes 97 % of the time. One failed probe reopens |
///
/// The clock defaults to [`TokioClock`](crate::TokioClock), which follows tokio's paused clock in
/// tests; outside a tokio runtime it reads the system's monotonic clock.
///
/// Every setting is checked by [`build`](Self::build), which returns a
/// [`BreakerConfigError`] instead of panicking.
#[must_use = "a builder does nothing until `build` is called"]
pub struct CircuitBreakerBuilder {
    pub(crate) config: Config,
    pub(crate) clock: Option<Box<dyn Clock>>,
    pub(crate) listeners: Vec<Listener>,
}

impl Default for CircuitBreakerBuilder {
    fn default() -> Self {
        CircuitBreakerBuilder { config: Config::DEFAULT, clock: None, listeners: Vec::new() }
    }
}

impl fmt::Debug for CircuitBreakerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerBuilder")
            .field("config", &self.config)
            .field("custom_clock", &self.clock.is_some())
            .field("listeners", &self.listeners.len())
            .finish()
    }
}

impl CircuitBreakerBuilder {
    /// A builder with the default settings; the same as [`CircuitBreaker::builder`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Trip when at least this fraction of the calls in the window failed. In `(0, 1]`; default
    /// 0.5.
    pub fn failure_rate(mut self, rate: f64) -> Self {
        self.config.failure_rate = rate;
        self
    }

    /// Trip after this many failures in a row, whatever the window says. At least 1; default 10.
    pub fn consecutive_failures(mut self, failures: u32) -> Self {
        self.config.consecutive_failures = Some(failures);
        self
    }

    /// Trip on the failure and slow-call rates only: no consecutive-failure rule.
    pub fn without_consecutive_failures(mut self) -> Self {
        self.config.consecutive_failures = None;
        self
    }

    /// Judge the rates over the last `calls` calls (count-based window). Between 1 and 65,536;
    /// default 100.
    ///
    /// The count-based window costs no clock reads.
    pub fn count_window(mut self, calls: u32) -> Self {
        self.config.window = WindowSpec::Count(calls);
        self
    }

    /// Judge the rates over the calls of the last `length` (time-based window), kept in `buckets`
    /// buckets of `length / buckets` each: a call leaves the window when its whole bucket is older
    /// than `length`. `buckets` is between 1 and 1,024, and each bucket lasts at least 1 ms.
    ///
    /// Recording a call in a time-based window reads the clock, and its rates are judged when a
    /// failure or a slow call is recorded (a count-based window is judged on every change). A bucket counts up to about a
    /// million calls; beyond that its further calls are not counted, so the rates stay those of
    /// its first million calls.
    pub fn time_window(mut self, length: Duration, buckets: u32) -> Self {
        self.config.window = WindowSpec::Time { length, buckets };
        self
    }

    /// Judge the rates only once the window holds at least this many calls. At least 1; default
    /// 20. With a count-based window smaller than this, the window's size is used instead.
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.config.minimum_calls = calls;
        self
    }

    /// Count a call as slow when it takes `duration` or longer (from
    /// [`try_acquire`](CircuitBreaker::try_acquire) to [`record`](super::Permit::record)), and trip
    /// when at least `rate` of the calls in the window were slow, failed or not. `duration` is
    /// non-zero, `rate` in `(0, 1]`. Off by default. A slow probe in half-open counts as a failed
    /// probe.
    ///
    /// With this set, each call reads the clock twice.
    pub fn slow_calls(mut self, duration: Duration, rate: f64) -> Self {
        self.config.slow_call = Some((duration, rate));
        self
    }

    /// Stay open this long after a trip, then half-open. Non-zero, at most a year; default 30 s.
    ///
    /// The wait is kept with millisecond resolution, rounded up.
    pub fn open_for(mut self, duration: Duration) -> Self {
        self.config.open_for = duration;
        self
    }

    /// Grow the wait by `factor` each time a half-open probe fails (a repeated trip), up to `max`:
    /// the n-th trip in a row waits `min(max, open_for * factor^(n-1))`. The breaker forgets its
    /// trips when it closes. `factor` is finite and at least 1 (1 turns growth off); `max` is at
    /// least `open_for` and at most a year. Default: factor 2, max 120 s.
    pub fn open_for_growth(mut self, factor: f64, max: Duration) -> Self {
        self.config.growth = factor;
        self.config.max_open_for = max;
        self
    }

    /// Let at most this many probe calls be in flight at once in half-open; other calls are
    /// refused. A probe that ends, or whose permit is dropped without a result, makes room for
    /// another. At least 1; default 3.
    pub fn half_open_permits(mut self, permits: u32) -> Self {
        self.config.half_open_permits = permits;
        self
    }

    /// Close after this many successful probes; one failed probe reopens. At least 1; default 3.
    pub fn half_open_successes(mut self, successes: u32) -> Self {
        self.config.half_open_successes = successes;
        self
    }

    /// Read the time from `clock` instead of [`TokioClock`](crate::TokioClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Box::new(clock));
        self
    }

    /// Call `listener` on every change of state, once per change; see [`Transition`]. May be
    /// called several times to add several listeners.
    pub fn on_transition(mut self, listener: impl Fn(Transition) + Send + Sync + 'static) -> Self {
        self.listeners.push(Box::new(listener));
        self
    }

    /// Checks the settings and makes the breaker, closed.
    pub fn build(self) -> Result<CircuitBreaker, BreakerConfigError> {
        self.config.validate()?;
        Ok(CircuitBreaker::from_builder(self))
    }
}

/// Why [`CircuitBreakerBuilder::build`] refused its settings.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum BreakerConfigError {
    /// The failure rate is not in `(0, 1]`.
    FailureRate(f64),
    /// The slow-call rate is not in `(0, 1]`.
    SlowCallRate(f64),
    /// The slow-call duration is zero.
    ZeroSlowCallDuration,
    /// The consecutive-failure threshold is zero.
    ZeroConsecutiveFailures,
    /// The window holds no calls or lasts no time.
    EmptyWindow,
    /// The count-based window is larger than 65,536 calls.
    WindowTooLarge(u32),
    /// The time-based window has no buckets or more than 1,024.
    Buckets(u32),
    /// The time-based window's buckets last less than a millisecond.
    BucketTooShort(Duration),
    /// The minimum number of calls is zero.
    ZeroMinimumCalls,
    /// `open_for` is zero.
    ZeroOpenFor,
    /// `open_for` or the cap of its growth is longer than a year.
    OpenForTooLong(Duration),
    /// The growth factor of `open_for` is below 1, infinite or NaN.
    GrowthFactor(f64),
    /// The cap of `open_for`'s growth is below `open_for`.
    MaxOpenForBelowOpenFor {
        /// The base wait.
        open_for: Duration,
        /// The cap.
        max: Duration,
    },
    /// The half-open probe permits or successes are zero or above 4,194,304.
    HalfOpen(u32),
}

impl fmt::Display for BreakerConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use BreakerConfigError as E;
        match self {
            E::FailureRate(r) => write!(f, "failure rate must be in (0, 1], got {r}"),
            E::SlowCallRate(r) => write!(f, "slow-call rate must be in (0, 1], got {r}"),
            E::ZeroSlowCallDuration => f.write_str("slow-call duration must be non-zero"),
            E::ZeroConsecutiveFailures => f.write_str(
                "consecutive failures must be at least 1 (use `without_consecutive_failures` to turn the rule off)",
            ),
            E::EmptyWindow => f.write_str("sliding window must hold at least one call and last a non-zero time"),
            E::WindowTooLarge(n) => {
                write!(f, "count-based window must hold at most {MAX_WINDOW_CALLS} calls, got {n}")
            }
            E::Buckets(n) => write!(f, "time-based window needs 1 to {MAX_BUCKETS} buckets, got {n}"),
            E::BucketTooShort(d) => {
                write!(f, "time-based window buckets must last at least 1ms, got {d:?}")
            }
            E::ZeroMinimumCalls => f.write_str("minimum calls must be at least 1"),
            E::ZeroOpenFor => f.write_str("open_for must be non-zero"),
            E::OpenForTooLong(d) => write!(f, "open_for must be at most a year, got {d:?}"),
            E::GrowthFactor(g) => {
                write!(f, "open_for growth factor must be finite and at least 1, got {g}")
            }
            E::MaxOpenForBelowOpenFor { open_for, max } => {
                write!(f, "open_for growth cap ({max:?}) must be at least open_for ({open_for:?})")
            }
            E::HalfOpen(n) => {
                write!(f, "half-open permits and successes must be in 1..={MAX_PROBES}, got {n}")
            }
        }
    }
}

impl Error for BreakerConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Config::DEFAULT.validate(), Ok(()));
    }

    #[test]
    fn open_for_grows_and_caps() {
        let c = Config {
            open_for: Duration::from_secs(1),
            growth: 3.0,
            max_open_for: Duration::from_secs(20),
            ..Config::DEFAULT
        };
        assert_eq!(c.open_for(0), Duration::from_secs(1));
        assert_eq!(c.open_for(1), Duration::from_secs(3));
        assert_eq!(c.open_for(2), Duration::from_secs(9));
        assert_eq!(c.open_for(3), Duration::from_secs(20));
        assert_eq!(c.open_for(63), Duration::from_secs(20));
    }
}
