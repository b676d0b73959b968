//! Retry engine: exponential backoff with jitter, error classification, Retry-After, deadlines,
//! per-attempt timeouts, a circuit breaker and retry budgets.
//!
//! Most users write `#[retryable]` on a function and `#[derive(Classify)]` on its error type; see the
//! crate README. Everything the macros generate is also available by hand through [`RetryPolicy`].

#![warn(missing_docs)]

pub mod adaptive;
mod breaker;
mod budget;
mod classify;
mod clock;
#[cfg(any(feature = "testkit", feature = "dashboard"))]
mod loopback;
mod name;
mod policy;
mod retry;
mod state;
pub mod telemetry;
mod timeout;

#[cfg(feature = "testkit")]
pub mod testkit;

#[cfg(feature = "dashboard")]
pub mod dashboard;

#[doc(hidden)]
pub mod __private;

pub use adaptive::Adaptive;
pub use breaker::*;
pub use budget::{BudgetError, RetryBudget};
pub use classify::{Classify, ErrorClass};
pub use clock::{Clock, SystemClock, TokioClock};
pub use name::CallName;
pub use policy::{Jitter, PolicyError, RetryPolicy, RetryPolicyBuilder};
pub use retry::{ByClass, Classifier, Guard, NoBreaker, NoHook, OnRetry, Retry, RetryEvent, When};
pub use timeout::AttemptTimeout;

/// Derives [`Classify`] for an error type and generates its kind enum.
///
/// See the crate documentation for the markers: `#[transient]`, `#[permanent]`,
/// `#[transient(retry_after = field)]`, `#[classify(with = path)]`, `#[classify(source)]`,
/// `#[classify(default = transient)]` and `#[classify(crate = path)]`.
pub use retry_macros::Classify;

#[doc = include_str!("../docs/retryable.md")]
pub use retry_macros::retryable;
