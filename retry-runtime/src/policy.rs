//! The retry policy: how many retries, how long to wait between them, and for how long in all.

use std::fmt;
use std::time::Duration;

use rand::Rng;

/// How randomness spreads the delays of many callers retrying at once.
///
/// The formulas are those of Marc Brooker's "Exponential Backoff And Jitter", where `d` is the
/// exponential delay `min(max_delay, backoff * multiplier^(n-1))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Jitter {
    /// No randomness: the delay is `d`.
    #[default]
    None,
    /// `U(0, d)`: does the least work under contention.
    Full,
    /// `d/2 + U(0, d/2)`: never waits less than half of `d`.
    Equal,
    /// `min(max_delay, U(backoff, previous * 3))`: grows from the previous delay, not from the retry
    /// number, so `multiplier` is not used.
    Decorrelated,
}

/// A policy value failed validation; the message names the setting and what is allowed.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyError {
    /// A number of seconds was negative.
    Negative {
        /// The setting, such as `"backoff"`.
        setting: &'static str,
        /// The value given.
        value: f64,
    },
    /// A number was NaN or infinite.
    NotFinite {
        /// The setting, such as `"multiplier"`.
        setting: &'static str,
        /// The value given.
        value: f64,
    },
    /// `multiplier` was below 1, which would shrink delays.
    MultiplierBelowOne(f64),
    /// `max_delay` was below `backoff`.
    MaxDelayBelowBackoff {
        /// The base delay.
        backoff: Duration,
        /// The cap that was lower than it.
        max_delay: Duration,
    },
    /// A deadline or attempt timeout of zero leaves no time for any attempt.
    ZeroDuration {
        /// `"deadline"` or `"attempt_timeout"`.
        setting: &'static str,
    },
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::Negative { setting, value } => {
                write!(f, "`{setting}` must not be negative, got {value}")
            }
            PolicyError::NotFinite { setting, value } => {
                write!(f, "`{setting}` must be a finite number, got {value}")
            }
            PolicyError::MultiplierBelowOne(m) => {
                write!(f, "`multiplier` must be at least 1, got {m}")
            }
            PolicyError::MaxDelayBelowBackoff { backoff, max_delay } => {
                write!(f, "`max_delay` ({max_delay:?}) must be at least `backoff` ({backoff:?})")
            }
            PolicyError::ZeroDuration { setting } => {
                write!(f, "`{setting}` must be greater than zero")
            }
        }
    }
}

impl std::error::Error for PolicyError {}

/// How a call is retried: the number of retries, the delays between them, jitter, a deadline for
/// the whole call and a time limit for each attempt.
///
/// Build one with [`RetryPolicy::builder`] (validated) or start from [`RetryPolicy::DEFAULT`]. A
/// policy is a small `Copy` value; keep it in a `const` or `static` to make the success path free.
///
/// ```
/// use retry_runtime::{Jitter, RetryPolicy};
/// use std::time::Duration;
///
/// let policy = RetryPolicy::builder()
///     .max_retries(5)
///     .backoff(Duration::from_millis(100))
///     .max_delay(Duration::from_secs(5))
///     .jitter(Jitter::Full)
///     .deadline(Duration::from_secs(20))
///     .build()?;
/// assert_eq!(policy.backoff_delay(3), Duration::from_millis(400));
/// # Ok::<(), retry_runtime::PolicyError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) backoff: Duration,
    pub(crate) multiplier: f64,
    pub(crate) max_delay: Duration,
    pub(crate) jitter: Jitter,
    pub(crate) deadline: Option<Duration>,
    pub(crate) attempt_timeout: Option<Duration>,
    pub(crate) seed: Option<u64>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl RetryPolicy {
    /// The defaults of `#[retryable]`: 3 retries, 0.5 s base delay doubling up to 30 s, no jitter,
    /// no deadline, no attempt timeout.
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        max_retries: 3,
        backoff: Duration::from_millis(500),
        multiplier: 2.0,
        max_delay: Duration::from_secs(30),
        jitter: Jitter::None,
        deadline: None,
        attempt_timeout: None,
        seed: None,
    };

    /// Starts a builder from [`RetryPolicy::DEFAULT`].
    pub const fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder { policy: Self::DEFAULT, error: None }
    }

    /// Starts a builder from this policy, to change some settings of a shared policy.
    pub const fn to_builder(self) -> RetryPolicyBuilder {
        RetryPolicyBuilder { policy: self, error: None }
    }

    /// Retries after the first attempt; a call makes at most `max_retries() + 1` attempts.
    pub const fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The base delay, before the first retry.
    pub const fn backoff(&self) -> Duration {
        self.backoff
    }

    /// The growth factor of the delay from one retry to the next.
    pub const fn multiplier(&self) -> f64 {
        self.multiplier
    }

    /// The cap on any one delay, jitter and Retry-After included.
    pub const fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The jitter kind.
    pub const fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The time budget of a whole call, from its start.
    pub const fn deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// The time limit of each attempt (async only).
    pub const fn attempt_timeout(&self) -> Option<Duration> {
        self.attempt_timeout
    }

    /// The jitter seed, if the policy was given one.
    pub const fn seed(&self) -> Option<u64> {
        self.seed
    }

    /// The delay before retry `retry` (1-based) without jitter:
    /// `min(max_delay, backoff * multiplier^(retry-1))`, saturating at `max_delay`; zero for `retry == 0`.
    ///
    /// ```
    /// # use retry_runtime::RetryPolicy;
    /// # use std::time::Duration;
    /// let p = RetryPolicy::builder().multiplier(10.0).build()?;
    /// assert_eq!(p.backoff_delay(10_000), p.max_delay());
    /// # Ok::<(), retry_runtime::PolicyError>(())
    /// ```
    pub fn backoff_delay(&self, retry: u32) -> Duration {
        if retry == 0 || self.backoff.is_zero() {
            return Duration::ZERO;
        }
        let exponent = i32::try_from(retry - 1).unwrap_or(i32::MAX);
        let secs = self.backoff.as_secs_f64() * self.multiplier.powi(exponent);
        // NaN and infinity saturate too.
        if secs.is_nan() || secs >= self.max_delay.as_secs_f64() {
            return self.max_delay;
        }
        Duration::try_from_secs_f64(secs).map_or(self.max_delay, |d| d.min(self.max_delay))
    }

    /// The delay before retry `retry` (1-based) with the policy's jitter applied, never above
    /// `max_delay`.
    ///
    /// `previous` is the delay before the previous retry (the base delay before the first one); only
    /// [`Jitter::Decorrelated`] uses it. `rng` supplies the randomness.
    pub fn jittered_delay<R: Rng + ?Sized>(&self, retry: u32, previous: Duration, rng: &mut R) -> Duration {
        match self.jitter {
            Jitter::None => self.backoff_delay(retry),
            Jitter::Full => uniform(rng, Duration::ZERO, self.backoff_delay(retry)),
            Jitter::Equal => {
                let d = self.backoff_delay(retry);
                let half = d / 2;
                half + uniform(rng, Duration::ZERO, d - half)
            }
            Jitter::Decorrelated => {
                let upper = previous.max(self.backoff).saturating_mul(3);
                uniform(rng, self.backoff, upper).min(self.max_delay)
            }
        }
    }
}

/// A uniformly drawn duration in `[low, high]` (nanosecond resolution).
fn uniform<R: Rng + ?Sized>(rng: &mut R, low: Duration, high: Duration) -> Duration {
    let low_ns = nanos(low);
    let high_ns = nanos(high);
    if high_ns <= low_ns {
        return low;
    }
    Duration::from_nanos(rng.random_range(low_ns..=high_ns))
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Builds a validated [`RetryPolicy`]; see [`RetryPolicy::builder`].
///
/// Setters taking seconds as `f64` (for values read from configuration) check for negative, NaN and
/// infinite values; the first bad value is reported by [`build`](RetryPolicyBuilder::build).
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RetryPolicyBuilder {
    policy: RetryPolicy,
    error: Option<PolicyError>,
}

impl RetryPolicyBuilder {
    /// Retries after the first attempt (default 3).
    pub const fn max_retries(mut self, max_retries: u32) -> Self {
        self.policy.max_retries = max_retries;
        self
    }

    /// The base delay (default 500 ms).
    pub const fn backoff(mut self, backoff: Duration) -> Self {
        self.policy.backoff = backoff;
        self
    }

    /// The base delay in seconds.
    pub fn backoff_secs(mut self, secs: f64) -> Self {
        if let Some(d) = self.secs("backoff", secs) {
            self.policy.backoff = d;
        }
        self
    }

    /// The growth factor, at least 1 (default 2).
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        if !multiplier.is_finite() {
            self.fail(PolicyError::NotFinite { setting: "multiplier", value: multiplier });
        } else if multiplier < 1.0 {
            self.fail(PolicyError::MultiplierBelowOne(multiplier));
        } else {
            self.policy.multiplier = multiplier;
        }
        self
    }

    /// The cap on any one delay (default 30 s); must be at least `backoff`.
    pub const fn max_delay(mut self, max_delay: Duration) -> Self {
        self.policy.max_delay = max_delay;
        self
    }

    /// The cap on any one delay, in seconds.
    pub fn max_delay_secs(mut self, secs: f64) -> Self {
        if let Some(d) = self.secs("max_delay", secs) {
            self.policy.max_delay = d;
        }
        self
    }

    /// The jitter kind (default none).
    pub const fn jitter(mut self, jitter: Jitter) -> Self {
        self.policy.jitter = jitter;
        self
    }

    /// The time budget of the whole call (default none): the call gives up rather than sleep past it.
    pub const fn deadline(mut self, deadline: Duration) -> Self {
        self.policy.deadline = Some(deadline);
        self
    }

    /// The time budget of the whole call, in seconds.
    pub fn deadline_secs(mut self, secs: f64) -> Self {
        if let Some(d) = self.secs("deadline", secs) {
            self.policy.deadline = Some(d);
        }
        self
    }

    /// A time limit for each attempt (async only; default none).
    pub const fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.policy.attempt_timeout = Some(timeout);
        self
    }

    /// A time limit for each attempt, in seconds.
    pub fn attempt_timeout_secs(mut self, secs: f64) -> Self {
        if let Some(d) = self.secs("attempt_timeout", secs) {
            self.policy.attempt_timeout = Some(d);
        }
        self
    }

    /// Seeds the jitter, making every call draw the same sequence of delays: for tests and
    /// simulations. Without a seed (the default) each call draws a fresh seed, so calls never share a
    /// jitter sequence.
    pub const fn seed(mut self, seed: u64) -> Self {
        self.policy.seed = Some(seed);
        self
    }

    /// Validates the settings and returns the policy, or the first problem found.
    pub fn build(self) -> Result<RetryPolicy, PolicyError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let p = self.policy;
        if p.max_delay < p.backoff {
            return Err(PolicyError::MaxDelayBelowBackoff { backoff: p.backoff, max_delay: p.max_delay });
        }
        if p.deadline == Some(Duration::ZERO) {
            return Err(PolicyError::ZeroDuration { setting: "deadline" });
        }
        if p.attempt_timeout == Some(Duration::ZERO) {
            return Err(PolicyError::ZeroDuration { setting: "attempt_timeout" });
        }
        Ok(p)
    }

    fn secs(&mut self, setting: &'static str, value: f64) -> Option<Duration> {
        if !value.is_finite() {
            self.fail(PolicyError::NotFinite { setting, value });
            return None;
        }
        if value < 0.0 {
            self.fail(PolicyError::Negative { setting, value });
            return None;
        }
        match Duration::try_from_secs_f64(value) {
            Ok(d) => Some(d),
            Err(_) => {
                self.fail(PolicyError::NotFinite { setting, value });
                None
            }
        }
    }

    fn fail(&mut self, error: PolicyError) {
        self.error.get_or_insert(error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_give_typed_errors() {
        let e = RetryPolicy::builder().backoff_secs(-1.0).build().unwrap_err();
        assert_eq!(e, PolicyError::Negative { setting: "backoff", value: -1.0 });
        assert_eq!(e.to_string(), "`backoff` must not be negative, got -1");
        let e = RetryPolicy::builder().multiplier(f64::NAN).build().unwrap_err();
        assert!(matches!(e, PolicyError::NotFinite { setting: "multiplier", .. }));
        let e = RetryPolicy::builder().max_delay_secs(f64::INFINITY).build().unwrap_err();
        assert!(matches!(e, PolicyError::NotFinite { setting: "max_delay", .. }));
        assert_eq!(
            RetryPolicy::builder().multiplier(0.5).build().unwrap_err(),
            PolicyError::MultiplierBelowOne(0.5)
        );
        let e =
            RetryPolicy::builder().backoff(Duration::from_secs(2)).max_delay(Duration::from_secs(1)).build();
        assert!(matches!(e, Err(PolicyError::MaxDelayBelowBackoff { .. })));
        let e = RetryPolicy::builder().deadline_secs(0.0).build().unwrap_err();
        assert_eq!(e, PolicyError::ZeroDuration { setting: "deadline" });
        // The first problem is the one reported.
        let e = RetryPolicy::builder().backoff_secs(-1.0).multiplier(0.0).build().unwrap_err();
        assert!(matches!(e, PolicyError::Negative { .. }));
    }

    #[test]
    fn delays_grow_and_saturate() {
        let p = RetryPolicy::DEFAULT;
        assert_eq!(p.backoff_delay(0), Duration::ZERO);
        assert_eq!(p.backoff_delay(1), Duration::from_millis(500));
        assert_eq!(p.backoff_delay(2), Duration::from_secs(1));
        assert_eq!(p.backoff_delay(4), Duration::from_secs(4));
        assert_eq!(p.backoff_delay(7), Duration::from_secs(30));
        assert_eq!(p.backoff_delay(u32::MAX), Duration::from_secs(30));
        let p = RetryPolicy::builder().multiplier(10.0).build().unwrap();
        assert_eq!(p.backoff_delay(10_000), p.max_delay());
        let zero = RetryPolicy::builder().backoff(Duration::ZERO).build().unwrap();
        assert_eq!(zero.backoff_delay(u32::MAX), Duration::ZERO);
    }
}
