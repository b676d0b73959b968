//! A live dashboard of retry telemetry: one HTML page, updated every second over Server-Sent Events.
//!
//! Enabled by the `dashboard` feature. A [`Dashboard`] is a small HTTP/1.1 server on the current
//! tokio runtime, by default at `http://127.0.0.1:9870/`. It samples [`telemetry::snapshot`](crate::telemetry::snapshot)
//! every interval (one second by default), keeps two minutes of samples, and serves:
//!
//! | path | what |
//! |---|---|
//! | `GET /` | one self-contained HTML page (inline CSS and JavaScript, no external assets) |
//! | `GET /events` | a `text/event-stream`: the latest frame at once, then one per interval |
//! | `GET /metrics` | [`telemetry::prometheus`](crate::telemetry::prometheus), the Prometheus text format |
//!
//! The page shows one card per retried function: calls and retries per second, the share of
//! failed calls, a two-minute sparkline of retries per second (120 one-second points), the
//! outcomes of calls (first try, after retry, exhausted, permanent, rejected) with how often
//! retrying recovered a call, the breaker's state, and the histogram of delays slept before
//! retries.
//!
//! ```
//! use retry_runtime::dashboard::Dashboard;
//! use retry_runtime::retryable;
//! use std::time::Duration;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use tokio::net::TcpStream;
//!
//! #[retryable(max = 2, backoff = 0, name = "docs.dashboard")]
//! async fn fetch() -> std::io::Result<u8> { Ok(1) }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! fetch().await?;
//! // Port 0 picks a free port; the default is 127.0.0.1:9870.
//! let dashboard = Dashboard::builder()
//!     .addr(([127, 0, 0, 1], 0))
//!     .interval(Duration::from_millis(200))
//!     .start()
//!     .await?;
//! println!("dashboard at {}", dashboard.url());
//!
//! // One frame of the event stream.
//! let mut stream = TcpStream::connect(dashboard.addr()).await?;
//! stream.write_all(b"GET /events?frames=1 HTTP/1.1\r\nHost: x\r\n\r\n").await?;
//! let mut reply = String::new();
//! stream.read_to_string(&mut reply).await?;
//! assert!(reply.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream"));
//! assert!(reply.contains(r#""name":"docs.dashboard""#));
//!
//! dashboard.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Health
//!
//! Each card is coloured by the share of failed calls in the rate window (ten seconds by
//! default, see [`DashboardBuilder::window`]), as Hystrix's dashboard did. Failed calls are
//! permanent failures + exhausted retries + breaker rejections + budget rejections; the share is
//! their delta over the delta of calls in the window.
//!
//! | colour | when |
//! |---|---|
//! | green | less than 1 % of calls failed |
//! | yellow | 1 % to less than 10 % failed, or the breaker is half-open |
//! | red | 10 % or more failed, or the breaker is open (or forced open) |
//! | grey (idle) | no call ended in the window |
//!
//! # Rates and the sparkline
//!
//! Rates are deltas between the latest sample and the first one inside the window, over the
//! time between them (a little less than the window, and less until the dashboard has run that
//! long). Counts from
//! before the dashboard started are a baseline, not a burst. Sparkline point `i` is the number of
//! retries in the one-second slot ending `119 - i` seconds ago, read from the samples (so its
//! resolution is the sampling interval).
//!
//! # Frames
//!
//! Each event is one line of JSON: `seq` (1, 2, ..), `uptime_ms`, `interval_ms`, `window_ms`,
//! `spark_step_ms`, `delay_buckets_ms` (the bounds of [`telemetry::DELAY_BUCKETS_MS`](crate::telemetry::DELAY_BUCKETS_MS)),
//! `thresholds` (`yellow`, `red`) and `functions`, one object per function with every field of
//! [`FnSnapshot`](crate::telemetry::FnSnapshot) (`delays` as `counts` and `sum_ms`, `breaker` as its
//! name or `null`, `retries_by_kind` as `{kind, count}` objects), `failed`, `window`
//! (`seconds`, `calls`, `retries`, `failed`, `calls_per_sec`, `retries_per_sec`, `error_rate`
//! or `null`), `health` (`green`, `yellow`, `red`, `idle`) and `sparkline` (120 counts). A slow
//! client skips frames rather than queueing them. `GET /events?frames=N` ends the stream after
//! `N` frames; the page's `/?frames=N` stops after `N` updates (for headless screenshots). When
//! the dashboard shuts down, each stream gets an `event: shutdown` and ends.
//!
//! # The page's hooks
//!
//! For tests and scrapers the page keeps its figures in stable attributes:
//! `[data-testid="updates"]` (frames received), `[data-testid="status"]` (`connecting`, `live`,
//! `reconnecting`, `done`, `stopped`), `[data-testid="seq"]`, `[data-testid="functions"]`, and on
//! each card `article[data-fn="NAME"]` the attributes `data-calls`, `data-retries`,
//! `data-first-calls`, `data-first-retries` (at the card's first update), `data-updates`,
//! `data-observed-calls` (the last 60 values of `calls`, comma-separated),
//! `data-successes-after-retry`, `data-exhausted`, `data-health`, `data-breaker`,
//! `data-calls-per-sec` and `data-retries-per-sec`.
//!
//! # The HTTP it speaks
//!
//! One request per connection (`Connection: close`), `GET` and `HEAD` only. The request head is
//! bounded (8 KiB, 64 header lines, ten seconds to arrive); requests with a body get `413`, other
//! methods `405`, other versions `505`, malformed heads `400`. At most 64 connections are open at
//! once (see [`DashboardBuilder::max_connections`]). It listens on loopback only unless
//! [`DashboardBuilder::allow_non_loopback`] is set: it has no authentication.

mod conn;
mod error;
mod history;
mod http;
mod server;

pub use error::DashboardError;
pub use server::{Dashboard, DashboardBuilder};

/// The page, served at `/`.
const PAGE: &str = include_str!("page.html");
