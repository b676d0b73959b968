//! A Dagger adapter that survives a flaky engine, and the simulated engine that makes it flaky.
//!
//! The adapter speaks the Dagger session protocol: GraphQL as JSON over `POST
//! http://127.0.0.1:$DAGGER_SESSION_PORT/query`, with basic auth whose user name is
//! `$DAGGER_SESSION_TOKEN` (and an empty password). Its query method carries `#[retryable]`: transient
//! errors are retried with backoff and jitter, a `429`'s `Retry-After` is waited out, a shared
//! circuit breaker stops the requests while the engine keeps failing, and each attempt is bounded
//! in time and each response in size. Which failure is transient is decided, and documented, in
//! [`error`].
//!
//! Without a session in the environment, [`SimulatedEngine`] runs one in-process: the testkit's
//! fault server (dropped connections, hangs, `429` with `Retry-After`, `5xx`, broken bodies) in
//! front of a handler that answers the adapter's queries deterministically.
//!
//! ```no_run
//! use std::sync::Arc;
//! use retry_runtime::testkit::{FaultMix, FaultPlan};
//! use retry_workspace::dagger::{DaggerAdapter, SimulatedEngine, WorkflowSpec, run_workflow};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mix: FaultMix = "drop=0.05,503=0.1".parse()?;
//! let engine = SimulatedEngine::start(FaultPlan::mix(mix, 7)?).await?;
//! let adapter = Arc::new(DaggerAdapter::builder(engine.endpoint()).build()?);
//! let report = run_workflow(adapter.clone(), &WorkflowSpec::default(), |_| {}).await;
//! println!("{} of {} pipelines ok", report.succeeded(), report.pipelines.len());
//! # Ok(())
//! # }
//! ```
//!
//! Files, one concept each: `error` (the error type and its classes), `adapter` (the client),
//! `counters` (what the adapter counts), `engine` (the simulated engine), `workflow` (pipelines of
//! steps), `summary` (the table and the JSON).

#![warn(missing_docs)]

mod adapter;
mod counters;
mod engine;
pub mod error;
mod summary;
mod workflow;

pub use adapter::{DaggerAdapter, DaggerAdapterBuilder, EXEC_QUERY, Endpoint};
pub use counters::{Counters, CountersSnapshot};
pub use engine::{SIMULATED_TOKEN, SimulatedEngine, handler};
pub use error::{DaggerError, DaggerErrorKind, SetupError};
pub use summary::Summary;
pub use workflow::{PipelineResult, Progress, StepError, WorkflowReport, WorkflowSpec, run_workflow};
