//! The circuit breaker itself: asking, recording, and the transitions between states.

use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::config::{CircuitBreakerBuilder, Config, WindowSpec};
use super::permit::{CircuitOpen, Outcome, Permit, PermitKind};
use super::state::{self, BreakerState, MAX_TRIPS, Probes, Transition, Word, code};
use super::sync::{AtomicU32, AtomicU64, Ordering, Padded, const_unless_loom};
use super::window::{CountWindow, Counts, FAILED, RECORDED, SLOW, TimeWindow, Window};
use crate::clock::{Clock, TokioClock};

type Listener = Box<dyn Fn(Transition) + Send + Sync + 'static>;

/// Where the breaker reads the time.
enum ClockSource {
    Tokio,
    Custom(Box<dyn Clock>),
}

impl ClockSource {
    #[inline]
    fn now(&self) -> Instant {
        match self {
            ClockSource::Tokio => TokioClock.now(),
            ClockSource::Custom(clock) => clock.now(),
        }
    }
}

/// The words every call reads: the state, and the run of consecutive failures.
struct Hot {
    state: AtomicU64,
    consecutive: AtomicU32,
}

/// Settings worked out once from the [`Config`], in the form the hot path wants.
struct Derived {
    /// Rates in millionths, compared in integers so that `0.3` of 10 calls is exactly 3.
    failure_ppm: u64,
    slow_ppm: u64,
    slow_nanos: u64,
    minimum_calls: u64,
    /// `u32::MAX + 1` when the rule is off.
    consecutive_limit: u64,
    /// Whether recording a closed-state call reads the clock (slow calls or a time-based window).
    clock_on_record: bool,
    /// Whether calls are timed, for the slow-call rule.
    measure_slow: bool,
}

impl Derived {
    const fn of(config: &Config) -> Derived {
        let (slow_nanos, slow_ppm) = match config.slow_call {
            Some((duration, rate)) => (saturating_nanos(duration), ppm(rate)),
            None => (u64::MAX, u64::MAX),
        };
        Derived {
            failure_ppm: ppm(config.failure_rate),
            slow_ppm,
            slow_nanos,
            minimum_calls: config.effective_minimum_calls() as u64,
            consecutive_limit: match config.consecutive_failures {
                Some(n) => n as u64,
                None => u32::MAX as u64 + 1,
            },
            clock_on_record: config.slow_call.is_some() || matches!(config.window, WindowSpec::Time { .. }),
            measure_slow: config.slow_call.is_some(),
        }
    }
}

const fn ppm(rate: f64) -> u64 {
    (rate * 1_000_000.0 + 0.5) as u64
}

const fn saturating_nanos(d: Duration) -> u64 {
    let n = d.as_nanos();
    if n > u64::MAX as u128 { u64::MAX } else { n as u64 }
}

/// A circuit breaker: stops calling a service that keeps failing, gives it time, then probes it.
///
/// Ask [`try_acquire`](Self::try_acquire) before each call (each attempt, for a retry loop); make
/// the call only with the [`Permit`] it returns, and [`record`](Permit::record) the call's
/// [`Outcome`]. While the breaker is open, `try_acquire` refuses at once with [`CircuitOpen`].
///
/// ```
/// use retry_runtime::{CircuitBreaker, Outcome};
///
/// static BREAKER: CircuitBreaker = CircuitBreaker::new();
///
/// fn fetch() -> Result<String, std::io::Error> {
///     Ok("data".into())
/// }
///
/// match BREAKER.try_acquire() {
///     Ok(permit) => match fetch() {
///         Ok(_) => permit.record(Outcome::Success),
///         Err(_) => permit.record(Outcome::Failure),
///     },
///     Err(open) => eprintln!("not calling: {open}"),
/// }
/// ```
///
/// # States
///
/// - **Closed**: calls flow and their outcomes go into a sliding window (the last N calls, or the
///   calls of the last T). Once the window holds `minimum_calls`, the breaker trips when the
///   failure rate or the slow-call rate reaches its threshold; independently, it trips after
///   `consecutive_failures` failures in a row.
/// - **Open**: every call is refused for `open_for`, which grows by a factor on each repeated trip
///   (a failed probe), up to a cap.
/// - **Half-open**: once the wait is over, the next call half-opens the breaker. Up to
///   `half_open_permits` probe calls may be in flight at once; `half_open_successes` successful
///   probes close the breaker (with an empty window), one failed or slow probe reopens it.
/// - **Forced open** and **disabled** are set by hand ([`force_open`](Self::force_open),
///   [`disable`](Self::disable)) and left by hand ([`reset`](Self::reset) closes).
///
/// An open breaker notices that its wait is over when it is next asked, by
/// [`try_acquire`](Self::try_acquire) or [`state`](Self::state); there is no timer. Listeners
/// registered with [`CircuitBreakerBuilder::on_transition`] hear of every change once.
///
/// # Cost
///
/// The breaker is lock-free. In the closed state with a count-based window and no slow-call
/// threshold, asking and recording a success take a few loads and no clock read; once the window
/// is full of successes, recording one writes no shared memory at all, so many threads can share
/// a healthy breaker without contending. Failures, slow calls, a time-based window and the other
/// states take a few atomic read-modify-writes. Listeners run only on transitions.
pub struct CircuitBreaker {
    hot: Padded<Hot>,
    window: Window,
    probes: Padded<AtomicU64>,
    config: Config,
    derived: Derived,
    clock: ClockSource,
    /// The instant all the breaker's times are measured from: its first reading of the clock.
    origin: OnceLock<Instant>,
    listeners: Vec<Listener>,
}

impl CircuitBreaker {
    const_unless_loom! {
        /// A breaker with the default settings (see [`CircuitBreakerBuilder`]): trips at a 50 %
        /// failure rate over the last 100 calls once 20 are in, or on 10 failures in a row; stays
        /// open 30 s, doubling up to 120 s on repeated trips; closes after 3 successful probes.
        ///
        /// A `const fn`, so a breaker can be a plain `static`; its window is allocated on first
        /// need.
        pub fn new() -> CircuitBreaker {
            CircuitBreaker::assemble(
                Config::DEFAULT,
                Window::Count(CountWindow::lazy(100)),
                ClockSource::Tokio,
                Vec::new(),
            )
        }
    }

    const_unless_loom! {
        fn assemble(
            config: Config,
            window: Window,
            clock: ClockSource,
            listeners: Vec<Listener>,
        ) -> CircuitBreaker {
            CircuitBreaker {
                hot: Padded(Hot {
                    state: AtomicU64::new(Word::new(code::CLOSED, 0, 0, 0).0),
                    consecutive: AtomicU32::new(0),
                }),
                window,
                probes: Padded(AtomicU64::new(0)),
                derived: Derived::of(&config),
                config,
                clock,
                origin: OnceLock::new(),
                listeners,
            }
        }
    }

    /// Settings for a new breaker, starting from the defaults.
    pub fn builder() -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::default()
    }

    pub(crate) fn from_builder(builder: CircuitBreakerBuilder) -> CircuitBreaker {
        let config = builder.config;
        let window = match config.window {
            WindowSpec::Count(n) => Window::Count(CountWindow::new(n)),
            WindowSpec::Time { length, buckets } => {
                Window::Time(TimeWindow::new(saturating_nanos(length / buckets), buckets))
            }
        };
        let clock = match builder.clock {
            Some(clock) => ClockSource::Custom(clock),
            None => ClockSource::Tokio,
        };
        CircuitBreaker::assemble(config, window, clock, builder.listeners)
    }

    /// Asks to make one call: a [`Permit`] if the breaker lets it through, or [`CircuitOpen`] if
    /// it is open, forced open, or half-open with every probe permit taken.
    ///
    /// An open breaker whose wait is over half-opens here, and this call becomes a probe.
    #[inline]
    pub fn try_acquire(&self) -> Result<Permit<'_>, CircuitOpen> {
        let word = Word(self.hot.state.load(Ordering::Acquire));
        if word.code() == code::CLOSED {
            return Ok(self.permit(word, PermitKind::Closed));
        }
        self.acquire_slow(word)
    }

    #[inline]
    fn permit(&self, word: Word, kind: PermitKind) -> Permit<'_> {
        let start =
            if self.derived.measure_slow && kind != PermitKind::Free { Some(self.clock.now()) } else { None };
        Permit { breaker: self, epoch: word.epoch(), kind, start }
    }

    #[cold]
    #[inline(never)]
    fn acquire_slow(&self, mut word: Word) -> Result<Permit<'_>, CircuitOpen> {
        loop {
            match word.code() {
                code::CLOSED => return Ok(self.permit(word, PermitKind::Closed)),
                // While the window is being emptied, calls flow uncounted.
                code::CLEARING | code::DISABLED => return Ok(self.permit(word, PermitKind::Free)),
                code::FORCED_OPEN => return Err(CircuitOpen::refused_by(BreakerState::ForcedOpen)),
                code::OPEN => {
                    let now = self.now_ms();
                    if !state::reached(now, word.deadline_ms()) {
                        let wait = Duration::from_millis(state::ms_until(now, word.deadline_ms()));
                        return Err(CircuitOpen::new().with_half_open_in(wait));
                    }
                    word = self.half_open(word);
                }
                _ => match self.take_probe(word) {
                    Probe::Taken => return Ok(self.permit(word, PermitKind::Probe)),
                    Probe::Full => return Err(CircuitOpen::refused_by(BreakerState::HalfOpen)),
                    // Unchanged but moved: only after 2^16 transitions during one call. Refuse.
                    Probe::Moved(now) if now == word => {
                        return Err(CircuitOpen::refused_by(BreakerState::HalfOpen));
                    }
                    Probe::Moved(now) => word = now,
                },
            }
        }
    }

    /// Takes one of the half-open probe slots of the period `word` belongs to.
    fn take_probe(&self, word: Word) -> Probe {
        let generation = word.generation();
        let limit = self.config.half_open_permits as u64;
        let mut seen = Probes(self.probes.load(Ordering::Acquire));
        loop {
            let (in_flight, successes) = if seen.generation() == generation {
                (seen.in_flight(), seen.successes())
            } else if state::older(seen.generation(), generation) {
                (0, 0) // the first probe of this period: start from zero
            } else {
                // A later period owns the slots: our view of the state is out of date.
                return Probe::Moved(Word(self.hot.state.load(Ordering::Acquire)));
            };
            if in_flight >= limit {
                return Probe::Full;
            }
            let new = Probes::new(generation, in_flight + 1, successes);
            match self.probes.compare_exchange_weak(seen.0, new.0, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(actual) => seen = Probes(actual),
            }
        }
        // The period may have ended while we took the slot: then give it back and look again.
        let now = Word(self.hot.state.load(Ordering::Acquire));
        if now.epoch() != word.epoch() {
            self.release_probe(word.epoch());
            return Probe::Moved(now);
        }
        Probe::Taken
    }

    /// Gives back a probe slot of the half-open period `epoch`; nothing if that period is over.
    pub(crate) fn release_probe(&self, epoch: u64) {
        let generation = Word(epoch).generation();
        let mut seen = Probes(self.probes.load(Ordering::Acquire));
        while seen.generation() == generation && seen.in_flight() > 0 {
            let new = Probes::new(generation, seen.in_flight() - 1, seen.successes());
            match self.probes.compare_exchange_weak(seen.0, new.0, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(actual) => seen = Probes(actual),
            }
        }
    }

    /// Records the outcome of a call let through in the closed state of `epoch`.
    #[inline]
    pub(crate) fn record_closed(&self, epoch: u64, outcome: Outcome, start: Option<Instant>) {
        // The hot path: a success into a count-based window full of successes changes nothing
        // (see `CountWindow::record`), whatever the state: one load, no write.
        if outcome == Outcome::Success
            && !self.derived.clock_on_record
            && matches!(&self.window, Window::Count(w) if w.is_full_of_successes())
        {
            return;
        }
        self.record_closed_slow(epoch, outcome, start);
    }

    #[inline(never)]
    fn record_closed_slow(&self, epoch: u64, outcome: Outcome, start: Option<Instant>) {
        let mut bits = match outcome {
            Outcome::Success => RECORDED,
            Outcome::Failure => RECORDED | FAILED,
            Outcome::Ignored => return,
        };
        let mut nanos = 0;
        if self.derived.clock_on_record {
            let (slow, since_origin) = self.timing(start);
            if slow {
                bits |= SLOW;
            }
            nanos = since_origin;
        }
        let word = Word(self.hot.state.load(Ordering::Acquire));
        if word.epoch() != epoch {
            return; // the breaker has moved on since the permit was given
        }
        // A failure lengthens the run before it enters the window; a success enters the window
        // before it ends the run. So whichever success pushes a run's last failure out of the
        // window sees that run, and ends it: a window full of successes never hides a run (which
        // the hot path above relies on to skip ending one).
        let failed = bits & FAILED != 0;
        let run_over = failed
            && self.hot.consecutive.fetch_add(1, Ordering::AcqRel) as u64 + 1
                >= self.derived.consecutive_limit;
        let counts = match &self.window {
            Window::Count(w) => w.record(bits),
            Window::Time(w) => w.record(nanos, bits),
        };
        if !failed && self.hot.consecutive.load(Ordering::Acquire) != 0 {
            self.hot.consecutive.store(0, Ordering::Release);
        }
        if run_over || counts.is_some_and(|counts| self.over_threshold(counts)) {
            self.trip(word);
        }
    }

    /// Whether the call that started at `start` was slow, and the time since the origin.
    #[cold]
    fn timing(&self, start: Option<Instant>) -> (bool, u64) {
        let now = self.clock.now();
        let slow = start.is_some_and(|start| {
            saturating_nanos(now.saturating_duration_since(start)) >= self.derived.slow_nanos
        });
        (slow, self.since_origin(now))
    }

    fn over_threshold(&self, c: Counts) -> bool {
        let d = &self.derived;
        c.total >= d.minimum_calls
            && c.total > 0
            && (c.failures * 1_000_000 >= d.failure_ppm * c.total
                || c.slow * 1_000_000 >= d.slow_ppm.saturating_mul(c.total))
    }

    /// Records the outcome of a half-open probe of period `epoch`.
    #[cold]
    pub(crate) fn record_probe(&self, epoch: u64, outcome: Outcome, start: Option<Instant>) {
        let slow = start.is_some_and(|start| {
            let took = self.clock.now().saturating_duration_since(start);
            saturating_nanos(took) >= self.derived.slow_nanos
        });
        match outcome {
            Outcome::Ignored => self.release_probe(epoch),
            Outcome::Success if !slow => self.probe_succeeded(epoch),
            Outcome::Success | Outcome::Failure => self.reopen(epoch),
        }
    }

    fn probe_succeeded(&self, epoch: u64) {
        let generation = Word(epoch).generation();
        let mut seen = Probes(self.probes.load(Ordering::Acquire));
        loop {
            if seen.generation() != generation {
                return;
            }
            let successes = seen.successes() + 1;
            let new = Probes::new(generation, seen.in_flight().saturating_sub(1), successes);
            match self.probes.compare_exchange_weak(seen.0, new.0, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) if successes >= self.config.half_open_successes as u64 => {
                    return self.close(epoch);
                }
                Ok(_) => return,
                Err(actual) => seen = Probes(actual),
            }
        }
    }

    /// Closed → Open, if the breaker is still in the closed period of `seen`.
    #[cold]
    #[inline(never)]
    fn trip(&self, seen: Word) {
        if seen.code() != code::CLOSED {
            return;
        }
        let open_for = self.config.open_for(0);
        let open = seen.next(code::OPEN, 0, self.deadline_after(open_for));
        if self.swap_state(seen, open) {
            self.notify(BreakerState::Closed, BreakerState::Open, Some(open_for));
        }
    }

    /// Half-open → Open after a failed probe of period `epoch`; the wait grows.
    fn reopen(&self, epoch: u64) {
        let seen = Word(self.hot.state.load(Ordering::Acquire));
        if seen.epoch() != epoch {
            return;
        }
        let trips = (seen.trips() + 1).min(MAX_TRIPS);
        let open_for = self.config.open_for(trips);
        let open = seen.next(code::OPEN, trips, self.deadline_after(open_for));
        if self.swap_state(seen, open) {
            self.notify(BreakerState::HalfOpen, BreakerState::Open, Some(open_for));
        }
    }

    /// Open → Half-open once the wait is over; returns the state word after the attempt.
    fn half_open(&self, seen: Word) -> Word {
        let half = seen.next(code::HALF_OPEN, seen.trips(), 0);
        match self.hot.state.compare_exchange(seen.0, half.0, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                self.notify(BreakerState::Open, BreakerState::HalfOpen, None);
                half
            }
            Err(actual) => Word(actual),
        }
    }

    /// Half-open → Closed after enough successful probes of period `epoch`.
    fn close(&self, epoch: u64) {
        let seen = Word(self.hot.state.load(Ordering::Acquire));
        if seen.epoch() != epoch {
            return;
        }
        let clearing = seen.next(code::CLEARING, 0, 0);
        if self.swap_state(seen, clearing) {
            self.notify(BreakerState::HalfOpen, BreakerState::Closed, None);
            self.finish_closing(clearing);
        }
    }

    /// Empties the window, then lets outcomes be recorded again. Until then (state `CLEARING`)
    /// calls flow but are not counted, so none of them can be judged against leftovers of the
    /// window that tripped the breaker.
    fn finish_closing(&self, clearing: Word) {
        self.window.clear();
        self.hot.consecutive.store(0, Ordering::Release);
        // Lost only to a concurrent reset, force_open or disable, which then has the last word.
        self.swap_state(clearing, clearing.next(code::CLOSED, 0, 0));
    }

    #[inline]
    fn swap_state(&self, seen: Word, new: Word) -> bool {
        self.hot.state.compare_exchange(seen.0, new.0, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// The current state.
    ///
    /// An open breaker whose wait is over half-opens here (and its listeners hear of it).
    pub fn state(&self) -> BreakerState {
        let word = Word(self.hot.state.load(Ordering::Acquire));
        if word.code() == code::OPEN && state::reached(self.now_ms(), word.deadline_ms()) {
            return self.half_open(word).public();
        }
        word.public()
    }

    /// Opens the breaker until [`reset`](Self::reset) or [`disable`](Self::disable): every call is
    /// refused.
    pub fn force_open(&self) {
        self.set_by_hand(code::FORCED_OPEN);
    }

    /// Lets every call through, recording nothing, until [`reset`](Self::reset) or
    /// [`force_open`](Self::force_open).
    pub fn disable(&self) {
        self.set_by_hand(code::DISABLED);
    }

    fn set_by_hand(&self, target: u64) {
        let mut seen = Word(self.hot.state.load(Ordering::Acquire));
        loop {
            if seen.code() == target {
                return;
            }
            let new = seen.next(target, 0, 0);
            match self.hot.state.compare_exchange(seen.0, new.0, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return self.notify(seen.public(), new.public(), None),
                Err(actual) => seen = Word(actual),
            }
        }
    }

    /// Closes the breaker with an empty window, from any state, and forgets its repeated trips.
    pub fn reset(&self) {
        let mut seen = Word(self.hot.state.load(Ordering::Acquire));
        let clearing = loop {
            let clearing = seen.next(code::CLEARING, 0, 0);
            match self.hot.state.compare_exchange(seen.0, clearing.0, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break clearing,
                Err(actual) => seen = Word(actual),
            }
        };
        self.notify(seen.public(), BreakerState::Closed, None);
        self.finish_closing(clearing);
    }

    fn notify(&self, from: BreakerState, to: BreakerState, open_for: Option<Duration>) {
        if from == to {
            return;
        }
        tracing::debug!(from = from.as_str(), to = to.as_str(), ?open_for, "circuit breaker transition");
        let transition = Transition { from, to, open_for };
        for listener in &self.listeners {
            listener(transition);
        }
    }

    /// Nanoseconds from the breaker's origin to `now`.
    #[inline]
    fn since_origin(&self, now: Instant) -> u64 {
        let origin = *self.origin.get_or_init(|| now);
        saturating_nanos(now.saturating_duration_since(origin))
    }

    /// Milliseconds since the origin, rounded down.
    fn now_ms(&self) -> u64 {
        self.since_origin(self.clock.now()) / 1_000_000
    }

    /// The millisecond (since the origin, rounded up) at which a wait of `wait` from now ends.
    fn deadline_after(&self, wait: Duration) -> u64 {
        let end = self.since_origin(self.clock.now()) as u128 + wait.as_nanos();
        end.div_ceil(1_000_000) as u64 & state::DEADLINE_MASK
    }
}

enum Probe {
    Taken,
    Full,
    Moved(Word),
}

impl Default for CircuitBreaker {
    fn default() -> CircuitBreaker {
        CircuitBreaker::new()
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = Word(self.hot.state.load(Ordering::Acquire));
        let counts = match &self.window {
            Window::Count(w) => Some(w.counts()),
            Window::Time(_) => None,
        };
        f.debug_struct("CircuitBreaker")
            .field("state", &word.public())
            .field("consecutive_failures", &self.hot.consecutive.load(Ordering::Relaxed))
            .field("window", &counts)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn breaker_and_permit_are_send_and_sync() {
        assert_send_sync::<CircuitBreaker>();
        assert_send_sync::<Permit<'static>>();
    }

    #[test]
    fn a_const_breaker_allocates_its_window_lazily() {
        static B: CircuitBreaker = CircuitBreaker::new();
        // The default consecutive-failure rule trips on the tenth failure.
        for _ in 0..10 {
            B.try_acquire().unwrap().record(Outcome::Failure);
        }
        assert_eq!(B.state(), BreakerState::Open);
    }

    #[test]
    fn rates_compare_exactly() {
        let b = CircuitBreaker::builder()
            .failure_rate(0.3)
            .count_window(10)
            .minimum_calls(10)
            .without_consecutive_failures()
            .build()
            .unwrap();
        for i in 0..10 {
            let outcome = if i < 3 { Outcome::Failure } else { Outcome::Success };
            b.try_acquire().unwrap().record(outcome);
        }
        assert_eq!(b.state(), BreakerState::Open, "3 failures of 10 is a rate of 0.3");
    }
}
