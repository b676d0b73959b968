//! The circuit breaker: stop calling a service that keeps failing, give it time, then probe it.
//!
//! [`CircuitBreaker`] is the breaker, configured with [`CircuitBreakerBuilder`]; each call asks it
//! for a [`Permit`] and reports an [`Outcome`]; a refusal is a [`CircuitOpen`] error. Listeners
//! hear of each [`Transition`] between [`BreakerState`]s.
//!
//! Files, one concept each: `config` (builder, defaults, validation), `window` (sliding windows),
//! `state` (the packed state machine words and the public states), `permit` (permits, outcomes,
//! refusals), `circuit` (the breaker and its transitions), `sync` (std or loom atomics).

mod circuit;
mod config;
mod permit;
mod state;
mod sync;
mod window;

pub use circuit::CircuitBreaker;
pub use config::{BreakerConfigError, CircuitBreakerBuilder};
pub use permit::{CircuitOpen, Outcome, Permit};
pub use state::{BreakerState, Transition};
