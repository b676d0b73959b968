//! What can go wrong talking to a Dagger engine, and which of it is worth retrying.
//!
//! Every failure of one attempt is a [`DaggerError`]; its class (from `#[derive(Classify)]`) is
//! what the retry loop and the circuit breaker go by. The rule: an error is **transient** when the
//! same request, sent again a moment later, may well succeed because the failure was in the
//! connection or in the engine's momentary state; it is **permanent** when the engine (or whatever
//! answered in its place) understood the request and will answer it the same way again.
//!
//! | what happened | variant | class |
//! |---|---|---|
//! | connection refused, reset, or closed before the response (a dropped request) | [`Connection`](DaggerError::Connection) | transient |
//! | bytes that are not HTTP where the response should be (garbage on the wire) | [`Connection`](DaggerError::Connection) | transient |
//! | a body shorter than its `Content-Length` (the connection closed mid-body) | [`Connection`](DaggerError::Connection) | transient |
//! | the attempt ran past the adapter's attempt timeout (a hung engine) | [`Timeout`](DaggerError::Timeout) | transient |
//! | `429 Too Many Requests`, with its `Retry-After` (delta-seconds) as the wait | [`RateLimited`](DaggerError::RateLimited) | transient, waits at least `Retry-After` |
//! | any `5xx` | [`Server`](DaggerError::Server) | transient |
//! | `408 Request Timeout`, `425 Too Early` | [`Http`](DaggerError::Http) | transient |
//! | any other non-`2xx` status (`400`, `401`, `404`, `422`, redirects, ...) without GraphQL errors | [`Http`](DaggerError::Http) | permanent |
//! | GraphQL `errors` in the response body (a failed `withExec`, a bad query), whatever the status | [`GraphQl`](DaggerError::GraphQl) | permanent |
//! | `200` whose body is not valid JSON although it says it is (cut or damaged in transit) | [`MalformedJson`](DaggerError::MalformedJson) | transient |
//! | `200` with a content type other than JSON (an HTML page from a proxy or web server) | [`WrongContentType`](DaggerError::WrongContentType) | permanent |
//! | valid JSON that is not a GraphQL response, or lacks the field the query selected | [`UnexpectedResponse`](DaggerError::UnexpectedResponse) | permanent |
//! | a body larger than the adapter's limit (announced or counted while reading) | [`ResponseTooLarge`](DaggerError::ResponseTooLarge) | permanent |
//! | the circuit breaker refused the attempt | [`CircuitOpen`](DaggerError::CircuitOpen) | permanent (ends the retrying) |
//!
//! Why the two judgement calls go the way they go:
//!
//! - **Invalid JSON is transient.** The engine only ever writes JSON, so a body that claims to be
//!   JSON and does not parse was damaged between the engine and us (a connection cut inside a body
//!   with no length, a proxy that gave up); the request is a query and safe to repeat. If it keeps
//!   happening the retries run out and the breaker counts the failures, which is what a broken
//!   engine deserves.
//! - **A wrong content type is permanent.** A `200` with `text/html` means something other than the
//!   engine answered (a web server on the session port, a login page of a proxy): it understood the
//!   request and will answer the same way next time.
//!
//! A body too large is permanent because its size is a property of the request (a command that
//! prints gigabytes), not of the moment. Nothing here panics on any input: every byte sequence the
//! engine (or anything else) sends back ends in one of these variants.

use std::time::Duration;

use retry_runtime::testkit::TestkitError;
use retry_runtime::{AttemptTimeout, CircuitOpen, Classify, ErrorClass};

/// The error of one call to a Dagger engine, classified for the retry loop.
///
/// See the [module docs](self) for which failure becomes which variant, and why.
#[derive(Debug, Classify, thiserror::Error)]
pub enum DaggerError {
    /// The connection failed before a complete response arrived: refused, reset, closed without
    /// a response, garbage instead of HTTP, or a body cut short.
    #[transient]
    #[error("connection to the engine failed")]
    Connection(#[source] reqwest::Error),

    /// The attempt took longer than the adapter's attempt timeout and was abandoned.
    #[transient]
    #[error("the engine did not answer in time")]
    Timeout(#[from] AttemptTimeout),

    /// `429 Too Many Requests`: the engine asks us to slow down, for `wait` if it said how long.
    #[transient(retry_after = wait)]
    #[error("rate limited by the engine{}", wait.map(|w| format!(" (retry after {w:?})")).unwrap_or_default())]
    RateLimited {
        /// The `Retry-After` delay, when the header held a number of seconds.
        wait: Option<Duration>,
    },

    /// A `5xx` status: the engine is failing or overloaded right now.
    #[transient]
    #[error("engine error {status}: {message}")]
    Server {
        /// The status code.
        status: u16,
        /// The start of the response body, for the log.
        message: String,
    },

    /// Another status that is not a success: `408` and `425` are transient, the rest permanent.
    #[classify(with = http_class)]
    #[error("engine answered {status}: {message}")]
    Http {
        /// The status code.
        status: u16,
        /// The start of the response body, for the log.
        message: String,
    },

    /// The engine reported GraphQL errors: a failed command, an invalid query.
    #[permanent]
    #[error("engine reported {}", messages.join("; "))]
    GraphQl {
        /// The `message` of each error, in order.
        messages: Vec<String>,
    },

    /// A `200` whose body claims to be JSON and is not.
    #[transient]
    #[error("response body is not valid JSON")]
    MalformedJson(#[source] serde_json::Error),

    /// A `200` with a content type other than JSON: something other than the engine answered.
    #[permanent]
    #[error("response has content type `{content_type}`, not JSON")]
    WrongContentType {
        /// The `Content-Type` header as received.
        content_type: String,
    },

    /// Valid JSON that is not the GraphQL response the query asked for.
    #[permanent]
    #[error("unexpected response: {0}")]
    UnexpectedResponse(String),

    /// The response body is larger than the adapter accepts.
    #[permanent]
    #[error("response body exceeds {limit} bytes")]
    ResponseTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },

    /// The adapter's circuit breaker refused the attempt: the engine has been failing.
    #[error(transparent)]
    CircuitOpen(#[from] CircuitOpen),
}

/// `408 Request Timeout` and `425 Too Early` invite a retry; every other client-side status is
/// final.
fn http_class(error: &DaggerError) -> ErrorClass {
    match error {
        DaggerError::Http { status: 408 | 425, .. } => ErrorClass::Transient,
        _ => ErrorClass::Permanent,
    }
}

/// Why a [`DaggerAdapter`](super::DaggerAdapter) or a simulated engine could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// `DAGGER_SESSION_PORT` is not a port number.
    #[error("DAGGER_SESSION_PORT is not a port number: `{0}`")]
    BadPort(String),
    /// The HTTP client could not be built.
    #[error("could not build the HTTP client")]
    Client(#[source] reqwest::Error),
    /// The circuit breaker's settings are invalid.
    #[error("invalid circuit breaker settings")]
    Breaker(#[source] retry_runtime::BreakerConfigError),
    /// The simulated engine could not start.
    #[error("could not start the simulated engine")]
    Engine(#[source] TestkitError),
}
