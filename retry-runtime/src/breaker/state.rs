//! The breaker's states, the transition event its listeners receive, and the packed words that
//! hold the state machine.
//!
//! The whole state lives in one `AtomicU64` (see [`Word`]): the state code, a generation that
//! every transition bumps, the number of repeated trips, and the instant an open breaker may
//! half-open. Every transition is one `compare_exchange` from the exact word its author saw, so
//! two threads racing to make the same transition cannot both win: a trip happens exactly once
//! and each listener hears of it once.

use std::fmt;
use std::time::Duration;

/// The state of a [`CircuitBreaker`](crate::CircuitBreaker).
///
/// ```text
///            failure rate, slow-call rate or consecutive failures over threshold
///   Closed ─────────────────────────────────────────────────────────────────▶ Open
///     ▲                                                                   │    ▲
///     │ enough probes succeed                        open_for has elapsed │    │ a probe fails
///     └───────────────────────────── HalfOpen ◀───────────────────────────┘    │
///                                       └──────────────────────────────────────┘
/// ```
///
/// [`ForcedOpen`](BreakerState::ForcedOpen) and [`Disabled`](BreakerState::Disabled) are set by
/// hand and left only by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls flow; their outcomes are recorded in the sliding window.
    Closed,
    /// Calls are refused until the wait ends; then the breaker half-opens.
    Open,
    /// A bounded number of probe calls go through; they decide between closed and open.
    HalfOpen,
    /// Set by [`CircuitBreaker::force_open`](crate::CircuitBreaker::force_open): every call is
    /// refused until [`reset`](crate::CircuitBreaker::reset) or
    /// [`disable`](crate::CircuitBreaker::disable).
    ForcedOpen,
    /// Set by [`CircuitBreaker::disable`](crate::CircuitBreaker::disable): every call goes
    /// through and nothing is recorded, until [`reset`](crate::CircuitBreaker::reset) or
    /// [`force_open`](crate::CircuitBreaker::force_open).
    Disabled,
}

impl BreakerState {
    /// The state's name in lower case: `"closed"`, `"open"`, `"half-open"`, `"forced-open"`,
    /// `"disabled"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
            BreakerState::ForcedOpen => "forced-open",
            BreakerState::Disabled => "disabled",
        }
    }

    /// Whether calls are refused in this state (`Open` or `ForcedOpen`); a half-open breaker lets
    /// some calls through.
    pub const fn is_open(self) -> bool {
        matches!(self, BreakerState::Open | BreakerState::ForcedOpen)
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change of a breaker's state, as told to the listeners registered with
/// [`CircuitBreakerBuilder::on_transition`](crate::CircuitBreakerBuilder::on_transition).
///
/// Each transition is reported exactly once, by the thread that made it, right after making it.
/// Listeners run on that thread, inside the call that caused the transition, so they should be
/// quick (log, bump a metric, send on a channel). When transitions happen in quick succession on
/// different threads, their reports may arrive out of order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transition {
    /// The state left.
    pub from: BreakerState,
    /// The state entered.
    pub to: BreakerState,
    /// When entering [`BreakerState::Open`]: how long the breaker stays open before it half-opens
    /// (grown if this is a repeated trip). `None` for every other transition.
    pub open_for: Option<Duration>,
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit breaker {} -> {}", self.from, self.to)?;
        if let Some(d) = self.open_for {
            write!(f, " for {d:?}")?;
        }
        Ok(())
    }
}

/// State codes stored in the low bits of the state word.
pub(crate) mod code {
    pub(crate) const CLOSED: u64 = 0;
    pub(crate) const OPEN: u64 = 1;
    pub(crate) const HALF_OPEN: u64 = 2;
    pub(crate) const FORCED_OPEN: u64 = 3;
    pub(crate) const DISABLED: u64 = 4;
    /// Entering `Closed`: the window is being emptied. Calls are let through as in `Closed`, but
    /// their outcomes are not recorded (they belong to no window). Reported as `Closed`.
    pub(crate) const CLEARING: u64 = 5;
}

const CODE_BITS: u32 = 3;
const TRIPS_SHIFT: u32 = CODE_BITS;
const TRIPS_BITS: u32 = 6;
const GEN_SHIFT: u32 = TRIPS_SHIFT + TRIPS_BITS;
pub(crate) const GEN_BITS: u32 = 17;
const DEADLINE_SHIFT: u32 = GEN_SHIFT + GEN_BITS;
const DEADLINE_BITS: u32 = 64 - DEADLINE_SHIFT;

const fn mask(bits: u32) -> u64 {
    (1 << bits) - 1
}

/// Generations wrap around after `2^GEN_BITS` transitions; comparisons are modular.
pub(crate) const GEN_MASK: u64 = mask(GEN_BITS);
/// Milliseconds since the breaker's origin wrap around after `2^38` ms (8.7 years); comparisons
/// are modular, which is sound while no wait exceeds half of that.
pub(crate) const DEADLINE_MASK: u64 = mask(DEADLINE_BITS);
/// Repeated trips saturate here; the growth of `open_for` is capped long before.
pub(crate) const MAX_TRIPS: u64 = mask(TRIPS_BITS);

/// The breaker's state word: `code:3 | trips:6 | generation:17 | deadline_ms:38`.
///
/// `deadline_ms` is meaningful in `Open` only: the millisecond (since the breaker's origin,
/// rounded up) at which it may half-open. `trips` counts trips since the breaker last closed,
/// for the growth of `open_for`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Word(pub(crate) u64);

impl Word {
    #[inline(always)]
    pub(crate) const fn new(code: u64, trips: u64, generation: u64, deadline_ms: u64) -> Word {
        Word(
            code | (trips & MAX_TRIPS) << TRIPS_SHIFT
                | (generation & GEN_MASK) << GEN_SHIFT
                | (deadline_ms & DEADLINE_MASK) << DEADLINE_SHIFT,
        )
    }

    #[inline(always)]
    pub(crate) const fn code(self) -> u64 {
        self.0 & mask(CODE_BITS)
    }

    #[inline(always)]
    pub(crate) const fn trips(self) -> u64 {
        (self.0 >> TRIPS_SHIFT) & MAX_TRIPS
    }

    #[inline(always)]
    pub(crate) const fn generation(self) -> u64 {
        (self.0 >> GEN_SHIFT) & GEN_MASK
    }

    #[inline(always)]
    pub(crate) const fn deadline_ms(self) -> u64 {
        self.0 >> DEADLINE_SHIFT
    }

    /// The code and generation, ignoring trips and deadline: what a permit remembers.
    #[inline(always)]
    pub(crate) const fn epoch(self) -> u64 {
        self.0 & mask(GEN_SHIFT + GEN_BITS) & !(MAX_TRIPS << TRIPS_SHIFT)
    }

    /// The word of the next generation, in state `code`.
    #[inline]
    pub(crate) const fn next(self, code: u64, trips: u64, deadline_ms: u64) -> Word {
        Word::new(code, trips, self.generation().wrapping_add(1), deadline_ms)
    }

    /// The state as users see it.
    pub(crate) const fn public(self) -> BreakerState {
        match self.code() {
            code::OPEN => BreakerState::Open,
            code::HALF_OPEN => BreakerState::HalfOpen,
            code::FORCED_OPEN => BreakerState::ForcedOpen,
            code::DISABLED => BreakerState::Disabled,
            _ => BreakerState::Closed,
        }
    }
}

/// Whether the modular millisecond `now` has reached `deadline`.
#[inline]
pub(crate) const fn reached(now_ms: u64, deadline_ms: u64) -> bool {
    now_ms.wrapping_sub(deadline_ms) & DEADLINE_MASK < 1 << (DEADLINE_BITS - 1)
}

/// Milliseconds from `now` to `deadline`, when not yet reached.
#[inline]
pub(crate) const fn ms_until(now_ms: u64, deadline_ms: u64) -> u64 {
    deadline_ms.wrapping_sub(now_ms) & DEADLINE_MASK
}

/// The half-open bookkeeping word: `generation:17 | in_flight:23 | successes:24`.
///
/// It belongs to the half-open period whose state word has the same generation. Nobody resets it
/// when the breaker half-opens: the first probe of a new generation finds an older generation
/// here and starts from zero, so no probe can slip in between a reset and its publication.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Probes(pub(crate) u64);

const IN_FLIGHT_SHIFT: u32 = GEN_BITS;
const IN_FLIGHT_BITS: u32 = 23;
const SUCCESS_SHIFT: u32 = IN_FLIGHT_SHIFT + IN_FLIGHT_BITS;
/// Upper bound of the half-open settings, so that the counters cannot overflow their fields.
pub(crate) const MAX_PROBES: u32 = 1 << 22;

impl Probes {
    #[inline(always)]
    pub(crate) const fn new(generation: u64, in_flight: u64, successes: u64) -> Probes {
        Probes(
            (generation & GEN_MASK)
                | (in_flight & mask(IN_FLIGHT_BITS)) << IN_FLIGHT_SHIFT
                | successes << SUCCESS_SHIFT,
        )
    }

    #[inline(always)]
    pub(crate) const fn generation(self) -> u64 {
        self.0 & GEN_MASK
    }

    #[inline(always)]
    pub(crate) const fn in_flight(self) -> u64 {
        (self.0 >> IN_FLIGHT_SHIFT) & mask(IN_FLIGHT_BITS)
    }

    #[inline(always)]
    pub(crate) const fn successes(self) -> u64 {
        self.0 >> SUCCESS_SHIFT
    }
}

/// Whether generation `a` is older than generation `b` (modular: within half the range).
#[inline]
pub(crate) const fn older(a: u64, b: u64) -> bool {
    let d = b.wrapping_sub(a) & GEN_MASK;
    d != 0 && d < 1 << (GEN_BITS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_fields_round_trip() {
        let w = Word::new(code::OPEN, 5, GEN_MASK, DEADLINE_MASK);
        assert_eq!(w.code(), code::OPEN);
        assert_eq!(w.trips(), 5);
        assert_eq!(w.generation(), GEN_MASK);
        assert_eq!(w.deadline_ms(), DEADLINE_MASK);
        let n = w.next(code::HALF_OPEN, 6, 0);
        assert_eq!(n.generation(), 0, "generations wrap");
        assert_eq!(n.code(), code::HALF_OPEN);
        assert_eq!(n.trips(), 6);
        assert_eq!(Word::new(code::CLOSED, 0, 7, 0).epoch(), Word::new(code::CLOSED, 9, 7, 99).epoch());
        assert_ne!(Word::new(code::CLOSED, 0, 7, 0).epoch(), Word::new(code::CLEARING, 0, 7, 0).epoch());
    }

    #[test]
    fn deadlines_compare_modulo_wraparound() {
        assert!(reached(10, 10));
        assert!(reached(11, 10));
        assert!(!reached(9, 10));
        assert_eq!(ms_until(9, 10), 1);
        // Across the wrap of the 38-bit millisecond counter.
        assert!(!reached(DEADLINE_MASK, 5));
        assert_eq!(ms_until(DEADLINE_MASK, 5), 6);
        assert!(reached(6, DEADLINE_MASK));
    }

    #[test]
    fn probes_fields_round_trip() {
        let p = Probes::new(3, 2, 1);
        assert_eq!((p.generation(), p.in_flight(), p.successes()), (3, 2, 1));
        assert!(older(2, 3));
        assert!(!older(3, 3));
        assert!(!older(4, 3));
        assert!(older(GEN_MASK, 0));
    }
}
