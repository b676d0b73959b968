//! Adaptive retry: fewer retries and longer backoff while a function's recent calls keep failing.
//!
//! # The algorithm
//!
//! Each function keeps its *health* `h`, an exponentially weighted moving average of its calls'
//! outcomes: 1 for a call that succeeded (at once or after retrying), 0 for one that gave up on a
//! retryable error (retries, deadline or budget exhausted, or refused by the breaker). Errors that
//! are not retried (permanent ones) say nothing about the service and are not counted. Each outcome
//! moves the average by [`ALPHA`]: `h = h + ALPHA * (outcome - h)`; `h` starts at 1.
//!
//! When a call's first attempt fails, it takes the scale `s = clamp((h - FLOOR) / (CEILING - FLOOR), 0, 1)`:
//!
//! - retries: `ceil(max * s)`: all of them while `h >= CEILING`, none once `h <= FLOOR`;
//! - backoff: each delay is multiplied by `1 + (MAX_STRETCH - 1) * (1 - s)`, up to
//!   [`MAX_STRETCH`] times longer, and still capped at `max_delay`.
//!
//! With the constants below, a function whose calls all fail (an outage) stops retrying after
//! about six failed calls, so each call costs one request instead of `max + 1`. First attempts keep
//! probing: as soon as they succeed again, `h` climbs back and the configured values return after a
//! handful of successes. A 30 % rate of transient faults with 3 retries leaves 99 % of calls
//! successful, so `h` stays near 1 and the policy is unchanged.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// Weight of the newest outcome in the moving average.
pub const ALPHA: f64 = 0.2;
/// Health at or below which no retries are made.
pub const FLOOR: f64 = 0.25;
/// Health at or above which the configured retries are made.
pub const CEILING: f64 = 0.75;
/// The most backoff is lengthened, as a factor.
pub const MAX_STRETCH: f64 = 4.0;

/// Fixed-point scale of the stored health.
const ONE: u32 = 1_000_000;

/// The recent health of one function, shared by its calls (`#[retryable(adaptive)]` keeps one in a
/// `static`; by hand, pass one to [`Retry::adaptive`](crate::Retry::adaptive)). See the module
/// documentation for the algorithm.
#[derive(Debug)]
pub struct Adaptive {
    health: AtomicU32,
}

impl Default for Adaptive {
    fn default() -> Self {
        Self::new()
    }
}

impl Adaptive {
    /// Full health.
    pub const fn new() -> Self {
        Adaptive { health: AtomicU32::new(ONE) }
    }

    /// The current health, from 0 (every recent call gave up) to 1 (every one succeeded).
    pub fn health(&self) -> f64 {
        f64::from(self.health.load(Relaxed)) / f64::from(ONE)
    }

    /// Records a call's outcome. At full health a success costs one load.
    #[inline]
    pub fn record(&self, success: bool) {
        if success && self.health.load(Relaxed) == ONE {
            return;
        }
        let target = if success { f64::from(ONE) } else { 0.0 };
        let _ = self.health.fetch_update(Relaxed, Relaxed, |h| {
            let h = f64::from(h);
            let next = (h + ALPHA * (target - h)).round() as u32;
            // Rounding would stall just short of full health; snap to it.
            Some(if success && next + 1_000 >= ONE { ONE } else { next })
        });
    }

    /// The retries and backoff factor a call starts with, given the configured retries.
    pub fn adjust(&self, max_retries: u32) -> (u32, f64) {
        let scale = ((self.health() - FLOOR) / (CEILING - FLOOR)).clamp(0.0, 1.0);
        let retries = (f64::from(max_retries) * scale).ceil() as u32;
        (retries.min(max_retries), 1.0 + (MAX_STRETCH - 1.0) * (1.0 - scale))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_cuts_retries_and_health_restores_them() {
        let a = Adaptive::new();
        assert_eq!(a.adjust(3), (3, 1.0));
        let mut failures = 0;
        while a.adjust(3).0 > 0 {
            a.record(false);
            failures += 1;
        }
        assert!(failures <= 7, "retries cut after {failures} failed calls");
        let (_, stretch) = a.adjust(3);
        assert_eq!(stretch, MAX_STRETCH);
        let mut successes = 0;
        while a.adjust(3) != (3, 1.0) {
            a.record(true);
            successes += 1;
        }
        assert!(successes <= 10, "restored after {successes} successes");
        assert!(a.health() >= CEILING);
    }

    #[test]
    fn thirty_percent_faults_keep_full_retries() {
        let a = Adaptive::new();
        // 1 - 0.3^4: one call in 123 gives up.
        for i in 0..1000 {
            a.record(i % 123 != 0);
            assert_eq!(a.adjust(3).0, 3);
        }
    }
}
