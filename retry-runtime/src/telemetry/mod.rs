//! Telemetry: how often each `#[retryable]` function is retried and how often retrying works.
//!
//! Every annotated function has a record, keyed by its name, that counts calls, attempts,
//! first-try successes, successes after retry, permanent failures, exhausted retries, breaker and
//! budget rejections, retries by error kind, Retry-After waits, and a histogram of delays.
//! Recording is relaxed atomic adds; the success path makes one, to a counter striped by thread so
//! that it needs no locked instruction.
//!
//! Read it with [`snapshot`], or as Prometheus text with [`prometheus`]. With the `metrics`
//! feature every count is also fed to the [`metrics`](https://docs.rs/metrics) facade, so any of its
//! exporters works. Each retry and give-up is also a `tracing` event (see the `retryable` docs).
//!
//! ```
//! use retry_runtime::{retryable, telemetry};
//!
//! #[retryable(max = 2, backoff = 0, name = "docs.fetch")]
//! fn fetch() -> std::io::Result<u8> { Ok(1) }
//!
//! fetch().unwrap();
//! let record = telemetry::snapshot().into_iter().find(|r| r.name == "docs.fetch").unwrap();
//! assert_eq!(record.calls, 1);
//! assert_eq!(record.first_try_successes, 1);
//! assert!(telemetry::prometheus().contains("retry_calls_total{function=\"docs.fetch\"} 1"));
//! ```

mod histogram;
pub(crate) mod kinds;
#[cfg(feature = "metrics")]
mod metrics_feed;
mod prometheus;
mod record;
mod striped;

pub use histogram::{DELAY_BUCKETS_MS, DelayHistogram};
pub use prometheus::{prometheus, write_prometheus};
pub use record::{FnSnapshot, FnStats, snapshot};
