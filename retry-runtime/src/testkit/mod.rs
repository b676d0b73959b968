//! A fault-injecting HTTP/1.1 server on loopback, for testing retry policies end to end.
//!
//! Enabled by the `testkit` feature. A [`FaultServer`] listens on `127.0.0.1` (never beyond loopback) and
//! answers each request according to a [`FaultPlan`]: either a script, one [`Fault`] per request in arrival
//! order, or a seeded random [`FaultMix`]. Requests that get [`Fault::Success`] are answered by your handler,
//! a plain `Fn(&Request) -> Response`; the others are dropped, hung, answered 429 with `Retry-After`, 503,
//! 500 or 400, slowed down, or answered with broken responses (garbage bytes, a truncated body, the wrong
//! content type, invalid JSON, a huge body). The server counts what it did ([`Stats`]), with the arrival
//! time of every request on tokio's clock, so a test under `#[tokio::test(start_paused = true)]` can check
//! the exact delays a client slept between attempts.
//!
//! ```
//! use retry_runtime::testkit::{Fault, FaultKind, FaultPlan, FaultServer};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use tokio::net::TcpStream;
//!
//! async fn get(server: &FaultServer) -> std::io::Result<String> {
//!     let mut stream = TcpStream::connect(server.addr()).await?;
//!     stream.write_all(b"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").await?;
//!     let mut reply = String::new();
//!     stream.read_to_string(&mut reply).await?;
//!     Ok(reply)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The first request gets 503, every later one the handler's answer.
//! let server = FaultServer::start(FaultPlan::script([Fault::Unavailable])).await?;
//!
//! assert!(get(&server).await?.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
//! let reply = get(&server).await?;
//! assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(reply.ends_with(r#"{"ok":true}"#));
//!
//! let stats = server.stats();
//! assert_eq!(stats.requests, 2);
//! assert_eq!(stats.faults(), [FaultKind::Unavailable, FaultKind::Success]);
//!
//! // From now on, a total outage.
//! server.set_plan(FaultPlan::always(Fault::Unavailable));
//! assert!(get(&server).await?.starts_with("HTTP/1.1 503 "));
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # The HTTP it speaks
//!
//! HTTP/1.1 (and 1.0) with `Content-Length` bodies, keep-alive by default, `Connection: close` honoured,
//! pipelining and `Expect: 100-continue` supported. The parser is strict and bounded, and answers before
//! closing the connection: a malformed request gets `400`, a head over 16 KiB or with more than 100 header
//! lines `431`, a body over the limit (1 MiB by default) `413`, a chunked (`Transfer-Encoding`) request
//! `501`, another HTTP version `505`. Such requests do not reach the plan; [`Stats::rejected`] counts them.
//! Connections beyond the limit (256 by default) are closed as soon as they are accepted.
//!
//! # Faults and keep-alive
//!
//! Faults that answer with a complete response (`429`, `503`, `500`, `400`, the wrong content type,
//! invalid JSON, a huge body, success) leave a keep-alive connection open. [`Fault::Drop`],
//! [`Fault::Hang`], [`Fault::Garbage`] and [`Fault::Truncated`] close it.
//!
//! # Determinism
//!
//! A plan's faults go to requests in the order their last byte arrived, drawn under one lock; a client
//! sending one request at a time therefore sees the same faults in the same order in every run. Nothing in
//! the server reads the wall clock: delays use tokio's timer and timestamps tokio's clock.

mod conn;
mod error;
mod fault;
mod http;
mod server;
mod stats;

pub use error::TestkitError;
pub use fault::{Fault, FaultKind, FaultMix, FaultMixError, FaultPlan};
pub use http::{Request, Response};
pub use server::{FaultServer, FaultServerBuilder};
pub use stats::{RequestRecord, Stats};
