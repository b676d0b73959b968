//! Clocks: where the runtime reads the time.

use std::time::Instant;

/// A source of the current time.
///
/// The runtime reads the time through this trait so that tests can control it. Async code uses
/// [`TokioClock`], which follows tokio's paused clock under `#[tokio::test(start_paused = true)]`;
/// blocking code uses [`SystemClock`].
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// Tokio's clock: `tokio::time::Instant::now()`, which stands still and jumps when tokio's time is paused.
///
/// Outside a runtime with paused time it reads the system's monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    #[inline]
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

/// The system's monotonic clock, `std::time::Instant::now()`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Instant {
        Instant::now()
    }
}
