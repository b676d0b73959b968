//! What the breaker hands out: a [`Permit`] to make one call, or a [`CircuitOpen`] refusal; and
//! the [`Outcome`] a permit reports.

use std::error::Error;
use std::fmt;
use std::mem::ManuallyDrop;
use std::time::{Duration, Instant};

use super::CircuitBreaker;
use super::state::BreakerState;
use crate::classify::{Classify, ErrorClass};

/// How a call went, as far as the breaker is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The call succeeded.
    Success,
    /// The call failed in a way that says the service is in trouble: a transient error.
    Failure,
    /// The call failed in a way that says nothing about the service's health (a permanent error:
    /// a bad request, a missing resource). It counts as neither success nor failure; the permit
    /// is released.
    Ignored,
}

impl From<ErrorClass> for Outcome {
    /// Transient errors are failures; permanent errors are ignored.
    fn from(class: ErrorClass) -> Outcome {
        match class {
            ErrorClass::Transient => Outcome::Failure,
            ErrorClass::Permanent => Outcome::Ignored,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PermitKind {
    /// A call in the closed state: its outcome goes into the window.
    Closed,
    /// A half-open probe: it holds one of the bounded probe slots until it ends.
    Probe,
    /// A call through a disabled breaker: nothing to record.
    Free,
}

/// Leave to make one call through a [`CircuitBreaker`], from
/// [`try_acquire`](CircuitBreaker::try_acquire).
///
/// Report how the call went with [`record`](Permit::record). A permit dropped without a result
/// (the call was cancelled, or its future dropped) counts as nothing; if it was a half-open probe,
/// its slot is released so that another probe can go.
///
/// A permit is `Send` and `Sync`: hold it across the `.await` of the call.
#[must_use = "a permit should be given the call's outcome with `record`; dropping it records nothing"]
pub struct Permit<'a> {
    pub(crate) breaker: &'a CircuitBreaker,
    /// The state word's code and generation when the permit was given.
    pub(crate) epoch: u64,
    pub(crate) kind: PermitKind,
    /// When the call started, if slow calls are measured.
    pub(crate) start: Option<Instant>,
}

impl Permit<'_> {
    /// Reports how the call went, and gives the permit back.
    ///
    /// An outcome reported after the breaker has changed state since the permit was given is not
    /// counted: it belongs to a window or a half-open period that is over.
    #[inline]
    pub fn record(self, outcome: Outcome) {
        let this = ManuallyDrop::new(self);
        match this.kind {
            PermitKind::Closed => this.breaker.record_closed(this.epoch, outcome, this.start),
            PermitKind::Probe => this.breaker.record_probe(this.epoch, outcome, this.start),
            PermitKind::Free => {}
        }
    }

    /// Whether this permit is one of the bounded half-open probes.
    pub fn is_probe(&self) -> bool {
        self.kind == PermitKind::Probe
    }
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.kind == PermitKind::Probe {
            self.breaker.release_probe(self.epoch);
        }
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").field("kind", &self.kind).field("start", &self.start).finish_non_exhaustive()
    }
}

/// The error of a call the circuit breaker refused: it is open, forced open, or half-open with all
/// its probe permits taken.
///
/// It is a permanent error (see [`Classify`]), so a retry loop stops at once instead of hammering
/// an open breaker; its [`kind`](Classify::kind) is the state that refused the call and its
/// [`retry_after`](Classify::retry_after) the time until the breaker half-opens, when known.
///
/// ```
/// use retry_runtime::{BreakerState, CircuitOpen, Classify, ErrorClass};
/// use std::time::Duration;
///
/// let open = CircuitOpen::new().with_half_open_in(Duration::from_secs(3));
/// assert_eq!(open.to_string(), "circuit breaker is open");
/// assert_eq!(open.class(), ErrorClass::Permanent);
/// assert_eq!(open.kind(), BreakerState::Open);
/// assert_eq!(open.half_open_in(), Some(Duration::from_secs(3)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CircuitOpen {
    state: BreakerState,
    half_open_in: Option<Duration>,
}

impl CircuitOpen {
    /// A refusal by an open breaker, with no known wait.
    pub const fn new() -> CircuitOpen {
        CircuitOpen { state: BreakerState::Open, half_open_in: None }
    }

    pub(crate) const fn refused_by(state: BreakerState) -> CircuitOpen {
        CircuitOpen { state, half_open_in: None }
    }

    /// The same refusal, saying the breaker half-opens after `wait`.
    pub const fn with_half_open_in(mut self, wait: Duration) -> CircuitOpen {
        self.half_open_in = Some(wait);
        self
    }

    /// How long until the breaker half-opens and lets a probe through, when known (an open breaker
    /// knows; a forced-open one, or a half-open one whose probes are all out, does not).
    pub const fn half_open_in(&self) -> Option<Duration> {
        self.half_open_in
    }

    /// The state that refused the call: [`Open`](BreakerState::Open),
    /// [`ForcedOpen`](BreakerState::ForcedOpen) or [`HalfOpen`](BreakerState::HalfOpen).
    pub const fn state(&self) -> BreakerState {
        self.state
    }
}

impl Default for CircuitOpen {
    fn default() -> CircuitOpen {
        CircuitOpen::new()
    }
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("circuit breaker is open")
    }
}

impl Error for CircuitOpen {}

/// A refused call as an `io::Error` of kind [`ResourceBusy`](std::io::ErrorKind::ResourceBusy),
/// which is permanent: retrying into an open breaker is what it exists to stop.
impl From<CircuitOpen> for std::io::Error {
    fn from(open: CircuitOpen) -> Self {
        std::io::Error::new(std::io::ErrorKind::ResourceBusy, open)
    }
}

impl Classify for CircuitOpen {
    type Kind = BreakerState;

    fn kind(&self) -> BreakerState {
        self.state
    }

    fn class(&self) -> ErrorClass {
        ErrorClass::Permanent
    }

    fn retry_after(&self) -> Option<Duration> {
        self.half_open_in
    }
}
