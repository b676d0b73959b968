//! Faults and fault plans: what the server does to each request.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// What the fault server does to one request.
///
/// Every fault except [`Fault::Success`] and [`Fault::Slow`] bypasses the request handler. The faults that
/// answer with a proper response keep a keep-alive connection open; the others close it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// The handler answers.
    Success,
    /// The handler answers after the delay.
    Slow(Duration),
    /// The connection is closed without a response.
    Drop,
    /// The connection is held open without a response until the server shuts down, the client goes away or
    /// the server's hang time (see [`FaultServerBuilder::hang_for`](super::FaultServerBuilder::hang_for))
    /// passes; then it is closed.
    Hang,
    /// `429 Too Many Requests` with `Retry-After: <seconds>`, the delay rounded up to whole seconds.
    RateLimited {
        /// The delay the client is asked to wait.
        retry_after: Duration,
    },
    /// `503 Service Unavailable`.
    Unavailable,
    /// `500 Internal Server Error`.
    Internal,
    /// `400 Bad Request`: a permanent error a client must not retry.
    BadRequest,
    /// Random bytes that are not HTTP, then the connection is closed.
    Garbage,
    /// `200 OK` whose `Content-Length` promises more than the body sent, then the connection is closed.
    Truncated,
    /// `200 OK` with a `text/html` body instead of JSON.
    WrongContentType,
    /// `200 OK` with `Content-Type: application/json` and a body that is not JSON.
    InvalidJson,
    /// `200 OK` with a very large JSON body (8 MiB unless
    /// [`FaultServerBuilder::huge_body`](super::FaultServerBuilder::huge_body) says otherwise).
    Huge,
}

impl Fault {
    /// The delay a [`Fault::RateLimited`] asks for unless told otherwise: one second.
    pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

    /// The delay of a slow success drawn from a [`FaultMix`] unless told otherwise: two seconds.
    pub const DEFAULT_SLOW: Duration = Duration::from_secs(2);

    /// `429 Too Many Requests` with the default `Retry-After: 1`.
    pub const RATE_LIMITED: Fault = Fault::RateLimited { retry_after: Fault::DEFAULT_RETRY_AFTER };

    /// The fieldless kind of this fault, as counted in [`Stats`](super::Stats).
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::Success => FaultKind::Success,
            Fault::Slow(_) => FaultKind::Slow,
            Fault::Drop => FaultKind::Drop,
            Fault::Hang => FaultKind::Hang,
            Fault::RateLimited { .. } => FaultKind::RateLimited,
            Fault::Unavailable => FaultKind::Unavailable,
            Fault::Internal => FaultKind::Internal,
            Fault::BadRequest => FaultKind::BadRequest,
            Fault::Garbage => FaultKind::Garbage,
            Fault::Truncated => FaultKind::Truncated,
            Fault::WrongContentType => FaultKind::WrongContentType,
            Fault::InvalidJson => FaultKind::InvalidJson,
            Fault::Huge => FaultKind::Huge,
        }
    }
}

/// The kind of a [`Fault`], without its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FaultKind {
    /// [`Fault::Success`].
    Success,
    /// [`Fault::Slow`].
    Slow,
    /// [`Fault::Drop`].
    Drop,
    /// [`Fault::Hang`].
    Hang,
    /// [`Fault::RateLimited`].
    RateLimited,
    /// [`Fault::Unavailable`].
    Unavailable,
    /// [`Fault::Internal`].
    Internal,
    /// [`Fault::BadRequest`].
    BadRequest,
    /// [`Fault::Garbage`].
    Garbage,
    /// [`Fault::Truncated`].
    Truncated,
    /// [`Fault::WrongContentType`].
    WrongContentType,
    /// [`Fault::InvalidJson`].
    InvalidJson,
    /// [`Fault::Huge`].
    Huge,
}

impl FaultKind {
    /// Every kind, in declaration order.
    pub const ALL: [FaultKind; 13] = [
        FaultKind::Success,
        FaultKind::Slow,
        FaultKind::Drop,
        FaultKind::Hang,
        FaultKind::RateLimited,
        FaultKind::Unavailable,
        FaultKind::Internal,
        FaultKind::BadRequest,
        FaultKind::Garbage,
        FaultKind::Truncated,
        FaultKind::WrongContentType,
        FaultKind::InvalidJson,
        FaultKind::Huge,
    ];

    /// The kind's name in snake case, such as `"rate_limited"`.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Success => "success",
            FaultKind::Slow => "slow",
            FaultKind::Drop => "drop",
            FaultKind::Hang => "hang",
            FaultKind::RateLimited => "rate_limited",
            FaultKind::Unavailable => "unavailable",
            FaultKind::Internal => "internal",
            FaultKind::BadRequest => "bad_request",
            FaultKind::Garbage => "garbage",
            FaultKind::Truncated => "truncated",
            FaultKind::WrongContentType => "wrong_content_type",
            FaultKind::InvalidJson => "invalid_json",
            FaultKind::Huge => "huge",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Rates of the faults a seeded random plan draws; whatever the rates leave over is success.
///
/// Each rate is a probability in `[0, 1]` and together they are at most 1; [`FaultMix::validate`],
/// [`FaultPlan::mix`] and parsing check this. The default mix is all zeros: every request succeeds.
///
/// A mix parses from and displays as a comma-separated list of `key=rate` pairs, the form a `--faults`
/// command-line flag takes. The keys are `drop`, `hang`, `slow`, `429` (or `rate_limit`), `503` (or
/// `unavailable`), `500` (or `internal`) and `400` (or `bad_request`); a key left out has rate 0, spaces
/// around keys and rates are ignored, and an empty string is the all-success mix.
///
/// ```
/// use retry_runtime::testkit::FaultMix;
///
/// let mix: FaultMix = "drop=0.05, hang=0.02, 429=0.05, 503=0.1, slow=0.03".parse()?;
/// assert_eq!(mix.unavailable, 0.1);
/// assert!((mix.success_rate() - 0.75).abs() < 1e-9);
///
/// let err = "drop=0.1,teapot=0.2".parse::<FaultMix>().unwrap_err();
/// assert_eq!(err.to_string(), "unknown fault `teapot` (expected one of: drop, hang, 429, 503, 500, 400, slow)");
/// # Ok::<(), retry_runtime::testkit::FaultMixError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FaultMix {
    /// Rate of [`Fault::Drop`].
    pub drop: f64,
    /// Rate of [`Fault::Hang`].
    pub hang: f64,
    /// Rate of [`Fault::RateLimited`] (429).
    pub rate_limit: f64,
    /// Rate of [`Fault::Unavailable`] (503).
    pub unavailable: f64,
    /// Rate of [`Fault::Internal`] (500).
    pub internal: f64,
    /// Rate of [`Fault::BadRequest`] (400).
    pub bad_request: f64,
    /// Rate of [`Fault::Slow`].
    pub slow: f64,
}

/// A [`FaultMix`] field, as a function that borrows it.
type RateField = fn(&mut FaultMix) -> &mut f64;

/// The keys of the mix syntax, canonical name first, each with the field it sets.
const MIX_KEYS: [(&str, &str, RateField); 7] = [
    ("drop", "drop", |m| &mut m.drop),
    ("hang", "hang", |m| &mut m.hang),
    ("429", "rate_limit", |m| &mut m.rate_limit),
    ("503", "unavailable", |m| &mut m.unavailable),
    ("500", "internal", |m| &mut m.internal),
    ("400", "bad_request", |m| &mut m.bad_request),
    ("slow", "slow", |m| &mut m.slow),
];

impl FaultMix {
    /// The rates with their canonical keys, in the order a draw tries them.
    fn rates(&self) -> [(&'static str, f64); 7] {
        [
            ("drop", self.drop),
            ("hang", self.hang),
            ("429", self.rate_limit),
            ("503", self.unavailable),
            ("500", self.internal),
            ("400", self.bad_request),
            ("slow", self.slow),
        ]
    }

    /// Checks that every rate is in `[0, 1]` and that they sum to at most 1.
    pub fn validate(&self) -> Result<(), FaultMixError> {
        for (key, rate) in self.rates() {
            if !(0.0..=1.0).contains(&rate) {
                return Err(FaultMixError::OutOfRange { key, rate });
            }
        }
        let sum: f64 = self.rates().iter().map(|(_, rate)| rate).sum();
        // Allow for rounding in sums of decimal fractions such as 0.1 + 0.2 + 0.7.
        if sum > 1.0 + 1e-9 {
            return Err(FaultMixError::SumAboveOne { sum });
        }
        Ok(())
    }

    /// The rate of success: one minus the sum of the fault rates.
    pub fn success_rate(&self) -> f64 {
        (1.0 - self.rates().iter().map(|(_, rate)| rate).sum::<f64>()).max(0.0)
    }

    /// Maps a uniform draw `u` in `[0, 1)` to a fault.
    fn pick(&self, u: f64, retry_after: Duration, slow: Duration) -> Fault {
        let faults = [
            Fault::Drop,
            Fault::Hang,
            Fault::RateLimited { retry_after },
            Fault::Unavailable,
            Fault::Internal,
            Fault::BadRequest,
            Fault::Slow(slow),
        ];
        let mut bound = 0.0;
        for ((_, rate), fault) in self.rates().into_iter().zip(faults) {
            bound += rate;
            if u < bound {
                return fault;
            }
        }
        Fault::Success
    }
}

impl FromStr for FaultMix {
    type Err = FaultMixError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut mix = FaultMix::default();
        let mut seen = [false; MIX_KEYS.len()];
        for item in s.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let Some((key, value)) = item.split_once('=') else {
                return Err(FaultMixError::MissingRate { key: item.to_owned() });
            };
            let (key, value) = (key.trim(), value.trim());
            let Some(slot) = MIX_KEYS.iter().position(|(short, long, _)| {
                key.eq_ignore_ascii_case(short) || key.eq_ignore_ascii_case(long)
            }) else {
                return Err(FaultMixError::UnknownKey { key: key.to_owned() });
            };
            if std::mem::replace(&mut seen[slot], true) {
                return Err(FaultMixError::DuplicateKey { key: key.to_owned() });
            }
            let rate = value
                .parse::<f64>()
                .map_err(|_| FaultMixError::InvalidRate { key: key.to_owned(), value: value.to_owned() })?;
            *(MIX_KEYS[slot].2)(&mut mix) = rate;
        }
        mix.validate()?;
        Ok(mix)
    }
}

impl fmt::Display for FaultMix {
    /// Writes the mix in the syntax [`FromStr`] reads, leaving out zero rates.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (key, rate) in self.rates() {
            if rate != 0.0 {
                if !first {
                    f.write_str(",")?;
                }
                write!(f, "{key}={rate}")?;
                first = false;
            }
        }
        Ok(())
    }
}

/// Why a [`FaultMix`] could not be parsed or is not a valid set of rates.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum FaultMixError {
    /// A key that names no fault.
    UnknownKey {
        /// The key as written.
        key: String,
    },
    /// An item without `=rate`.
    MissingRate {
        /// The item as written.
        key: String,
    },
    /// A rate that is not a number.
    InvalidRate {
        /// The key of the rate.
        key: String,
        /// The rate as written.
        value: String,
    },
    /// A fault named twice.
    DuplicateKey {
        /// The key as written the second time.
        key: String,
    },
    /// A rate outside `[0, 1]`, or NaN.
    OutOfRange {
        /// The canonical key of the rate, such as `"429"`.
        key: &'static str,
        /// The rate.
        rate: f64,
    },
    /// Rates that add up to more than 1.
    SumAboveOne {
        /// Their sum.
        sum: f64,
    },
}

impl fmt::Display for FaultMixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultMixError::UnknownKey { key } => {
                write!(f, "unknown fault `{key}` (expected one of: drop, hang, 429, 503, 500, 400, slow)")
            }
            FaultMixError::MissingRate { key } => {
                write!(f, "fault `{key}` has no rate (write `{key}=0.1`)")
            }
            FaultMixError::InvalidRate { key, value } => {
                write!(f, "rate of fault `{key}` is not a number: `{value}`")
            }
            FaultMixError::DuplicateKey { key } => write!(f, "fault `{key}` is given twice"),
            FaultMixError::OutOfRange { key, rate } => {
                write!(f, "rate of fault `{key}` must be between 0 and 1, got {rate}")
            }
            FaultMixError::SumAboveOne { sum } => {
                write!(f, "fault rates add up to {sum}, more than 1")
            }
        }
    }
}

impl std::error::Error for FaultMixError {}

/// Which fault each request gets: a script, or a seeded random mix.
///
/// A script gives its faults to requests in arrival order, one each, and then its fallback (success unless
/// [`FaultPlan::fallback`] says otherwise) to every later request. A mix draws each request's fault from
/// [`SmallRng`] seeded with the plan's seed, in arrival order, so the n-th request gets the same fault in
/// every run that sends requests one after another.
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::testkit::{Fault, FaultMix, FaultPlan};
///
/// // Two 503s, then success.
/// let flaky = FaultPlan::script([Fault::Unavailable, Fault::Unavailable]);
/// // A total outage.
/// let outage = FaultPlan::always(Fault::Unavailable);
/// // 30% faults, drawn from seed 7; rate-limited requests are told to wait 2 s.
/// let mix: FaultMix = "503=0.2,429=0.1".parse()?;
/// let noisy = FaultPlan::mix(mix, 7)?.retry_after(Duration::from_secs(2));
/// # let _ = (flaky, outage, noisy);
/// # Ok::<(), retry_runtime::testkit::FaultMixError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct FaultPlan {
    source: Source,
}

#[derive(Clone, Debug, PartialEq)]
enum Source {
    Script { faults: Vec<Fault>, fallback: Fault },
    Mix { mix: FaultMix, seed: u64, retry_after: Duration, slow: Duration },
}

impl FaultPlan {
    /// Every request succeeds.
    pub fn healthy() -> Self {
        Self::always(Fault::Success)
    }

    /// Every request gets `fault`: with [`Fault::Unavailable`], a total outage.
    pub fn always(fault: Fault) -> Self {
        FaultPlan { source: Source::Script { faults: Vec::new(), fallback: fault } }
    }

    /// The n-th request gets the n-th fault; requests after the script succeed.
    pub fn script(faults: impl IntoIterator<Item = Fault>) -> Self {
        FaultPlan {
            source: Source::Script { faults: faults.into_iter().collect(), fallback: Fault::Success },
        }
    }

    /// Each request's fault is drawn at random with the mix's rates, from a generator seeded with `seed`.
    ///
    /// Rate-limited requests are told to wait [`Fault::DEFAULT_RETRY_AFTER`] and slow ones are delayed by
    /// [`Fault::DEFAULT_SLOW`]; [`FaultPlan::retry_after`] and [`FaultPlan::slow_delay`] change these.
    pub fn mix(mix: FaultMix, seed: u64) -> Result<Self, FaultMixError> {
        mix.validate()?;
        Ok(FaultPlan {
            source: Source::Mix {
                mix,
                seed,
                retry_after: Fault::DEFAULT_RETRY_AFTER,
                slow: Fault::DEFAULT_SLOW,
            },
        })
    }

    /// Sets the fault of requests after a script's end; a mix has no end, so this does not change it.
    #[must_use]
    pub fn fallback(mut self, fault: Fault) -> Self {
        if let Source::Script { fallback, .. } = &mut self.source {
            *fallback = fault;
        }
        self
    }

    /// Sets the `Retry-After` delay of the 429s a mix draws; a script's faults carry their own.
    #[must_use]
    pub fn retry_after(mut self, delay: Duration) -> Self {
        if let Source::Mix { retry_after, .. } = &mut self.source {
            *retry_after = delay;
        }
        self
    }

    /// Sets the delay of the slow successes a mix draws; a script's faults carry their own.
    #[must_use]
    pub fn slow_delay(mut self, delay: Duration) -> Self {
        if let Source::Mix { slow, .. } = &mut self.source {
            *slow = delay;
        }
        self
    }
}

impl Default for FaultPlan {
    /// [`FaultPlan::healthy`].
    fn default() -> Self {
        FaultPlan::healthy()
    }
}

/// A plan in progress: the position in a script, or the state of a mix's generator.
#[derive(Debug)]
pub(crate) struct PlanCursor {
    plan: FaultPlan,
    next: usize,
    rng: SmallRng,
}

impl PlanCursor {
    pub(crate) fn new(plan: FaultPlan) -> Self {
        let seed = match plan.source {
            Source::Mix { seed, .. } => seed,
            Source::Script { .. } => 0,
        };
        PlanCursor { plan, next: 0, rng: SmallRng::seed_from_u64(seed) }
    }

    /// The fault of the next request.
    pub(crate) fn draw(&mut self) -> Fault {
        match &self.plan.source {
            Source::Script { faults, fallback } => {
                let fault = faults.get(self.next).unwrap_or(fallback).clone();
                self.next = self.next.saturating_add(1);
                fault
            }
            Source::Mix { mix, retry_after, slow, .. } => {
                mix.pick(self.rng.random::<f64>(), *retry_after, *slow)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_round_trips_through_its_string_form() {
        let mix: FaultMix =
            "drop=0.05,hang=0.02,429=0.05,503=0.1,500=0.05,400=0.0,slow=0.03".parse().unwrap();
        assert_eq!(mix.to_string().parse::<FaultMix>().unwrap(), mix);
        assert_eq!(mix.to_string(), "drop=0.05,hang=0.02,429=0.05,503=0.1,500=0.05,slow=0.03");
    }

    #[test]
    fn a_script_then_its_fallback() {
        let mut cursor =
            PlanCursor::new(FaultPlan::script([Fault::Drop, Fault::Hang]).fallback(Fault::Internal));
        let drawn: Vec<_> = (0..4).map(|_| cursor.draw()).collect();
        assert_eq!(drawn, [Fault::Drop, Fault::Hang, Fault::Internal, Fault::Internal]);
    }

    #[test]
    fn a_full_mix_never_succeeds() {
        let mix = FaultMix { unavailable: 0.5, internal: 0.5, ..FaultMix::default() };
        let mut cursor = PlanCursor::new(FaultPlan::mix(mix, 1).unwrap());
        assert!((0..1000).all(|_| cursor.draw() != Fault::Success));
    }
}
