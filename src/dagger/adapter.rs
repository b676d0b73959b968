//! The adapter: GraphQL over HTTP to a Dagger engine, with retries, a circuit breaker and bounded
//! responses.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use retry_runtime::{BreakerState, CircuitBreaker, CircuitBreakerBuilder, Jitter, RetryPolicy, retryable};
use serde_json::{Value, json};

use super::counters::{CallLog, Counters};
use super::error::{DaggerError, SetupError};

/// The query one pipeline step sends: start from an image, run a command, read its stdout.
pub const EXEC_QUERY: &str = "query Exec($address: String!, $args: [String!]!) \
     { container { from(address: $address) { withExec(args: $args) { stdout } } } }";

/// Where a Dagger session listens and the token that opens it.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    base_url: String,
    token: String,
}

impl Endpoint {
    /// An engine at `base_url` (such as `http://127.0.0.1:40123`, without `/query`), opened with
    /// `token`.
    pub fn new(base_url: impl Into<String>, token: impl Into<String>) -> Endpoint {
        let mut base_url = base_url.into();
        while base_url.ends_with('/') {
            base_url.pop();
        }
        Endpoint { base_url, token: token.into() }
    }

    /// The session of the environment, as `dagger run` sets it up: `http://127.0.0.1:$DAGGER_SESSION_PORT`
    /// with `$DAGGER_SESSION_TOKEN`. `Ok(None)` unless both variables are set.
    pub fn from_env() -> Result<Option<Endpoint>, SetupError> {
        let (Ok(port), Ok(token)) =
            (std::env::var("DAGGER_SESSION_PORT"), std::env::var("DAGGER_SESSION_TOKEN"))
        else {
            return Ok(None);
        };
        let port: u16 = port.trim().parse().map_err(|_| SetupError::BadPort(port.clone()))?;
        Ok(Some(Endpoint::new(format!("http://127.0.0.1:{port}"), token)))
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The GraphQL endpoint: the base URL followed by `/query`.
    pub fn query_url(&self) -> String {
        format!("{}/query", self.base_url)
    }

    /// The session token, sent as the basic-auth user name.
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl fmt::Debug for Endpoint {
    /// Leaves the token out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

/// A client of one Dagger engine session that retries what is worth retrying.
///
/// Each query is one call of a `#[retryable]` method: transient failures (see
/// [`DaggerError`]) are retried with the adapter's [`RetryPolicy`], a `429`'s `Retry-After` is
/// waited out, and the adapter's own [`CircuitBreaker`] is asked before every attempt, so a failing
/// engine stops getting requests for a while. Every attempt is bounded by the policy's attempt
/// timeout, and every response body by a size limit.
///
/// The adapter is `Send + Sync`; share it between tasks in an `Arc`.
///
/// ```no_run
/// use retry_workspace::dagger::{DaggerAdapter, Endpoint};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let adapter = DaggerAdapter::builder(Endpoint::new("http://127.0.0.1:8080", "token")).build()?;
/// let out = adapter.exec("alpine:3.20", &["echo", "hello"]).await?;
/// assert_eq!(out, "hello\n");
/// # Ok(())
/// # }
/// ```
pub struct DaggerAdapter {
    client: reqwest::Client,
    endpoint: Endpoint,
    query_url: String,
    policy: RetryPolicy,
    breaker: CircuitBreaker,
    max_response_bytes: usize,
    counters: Arc<Counters>,
}

impl DaggerAdapter {
    /// The largest response body accepted unless told otherwise: 4 MiB.
    pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

    /// Settings for an adapter of `endpoint`, starting from the defaults.
    pub fn builder(endpoint: Endpoint) -> DaggerAdapterBuilder {
        DaggerAdapterBuilder {
            endpoint,
            policy: DaggerAdapter::default_policy(),
            breaker: Some(DaggerAdapter::default_breaker()),
            max_response_bytes: DaggerAdapter::DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// The retry policy unless told otherwise: 10 retries, 100 ms doubling up to 2 s with full
    /// jitter, a 30 s deadline per call, and no attempt timeout (a real engine may take minutes
    /// to run a command; set one for an engine known to answer fast).
    ///
    /// Ten retries, because a workflow makes hundreds of calls: with a third of attempts failing,
    /// six retries lose a call with probability `0.33^7 = 0.04 %`, one run of 400 calls in eight;
    /// ten bring that to `0.33^11 = 5e-6`, one run in 500. The cap of 2 s keeps a
    /// `Retry-After: 1` honoured.
    pub fn default_policy() -> RetryPolicy {
        RetryPolicy::builder()
            .max_retries(10)
            .backoff(Duration::from_millis(100))
            .multiplier(2.0)
            .max_delay(Duration::from_secs(2))
            .jitter(Jitter::Full)
            .deadline(Duration::from_secs(30))
            .build()
            .expect("the default policy is valid")
    }

    /// The circuit breaker unless told otherwise: trips when 60 % of the last 100 attempts (at
    /// least 50) failed transiently, or on 20 failures in a row; stays open 2 s, doubling up to
    /// 16 s while probes fail; 3 probes, all successful, close it.
    ///
    /// The bar is set for an engine that fails 30 % of attempts and is still worth calling: over
    /// 50 attempts a 60 % failure rate is more than four standard deviations above 30 %, so noise
    /// does not trip it, while an outage (every attempt failing) trips it within 20 attempts. With
    /// the breaker's own defaults (50 % once 20 are in), a 30 % fault rate trips it in about one
    /// run in fifteen.
    pub fn default_breaker() -> CircuitBreakerBuilder {
        CircuitBreaker::builder()
            .failure_rate(0.6)
            .count_window(100)
            .minimum_calls(50)
            .consecutive_failures(20)
            .open_for(Duration::from_secs(2))
            .open_for_growth(2.0, Duration::from_secs(16))
            .half_open_permits(3)
            .half_open_successes(3)
    }

    /// The engine this adapter talks to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The retry policy of every query.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The circuit breaker in front of the engine (disabled if the builder was given `None`).
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// What the adapter has counted so far.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Runs `args` in a container started from the image `address` and returns its stdout.
    pub async fn exec(&self, address: &str, args: &[impl AsRef<str>]) -> Result<String, DaggerError> {
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        let data = self.query(EXEC_QUERY, json!({ "address": address, "args": args })).await?;
        match data.pointer("/container/from/withExec/stdout") {
            Some(Value::String(stdout)) => Ok(stdout.clone()),
            _ => Err(DaggerError::UnexpectedResponse("no `stdout` in the response data".into())),
        }
    }

    /// Sends a GraphQL query with its variables and returns the response's `data`.
    ///
    /// Retries transient failures; returns the first permanent error, the last error once the
    /// retries or the deadline run out, or [`DaggerError::CircuitOpen`] when the breaker refuses.
    pub async fn query(&self, query: &str, variables: Value) -> Result<Value, DaggerError> {
        let body = json!({ "query": query, "variables": variables }).to_string().into_bytes();
        let mut call = CallLog::start(&self.counters);
        let result = self.send(&self.policy, &self.breaker, &mut call, &body).await;
        call.finish(&result);
        result
    }

    /// One call: every attempt posts `body` once. `policy` and `breaker` are parameters so that
    /// the attribute, which takes paths, can name this adapter's own.
    #[retryable(policy = policy, breaker = breaker, name = "DaggerAdapter::query")]
    async fn send(
        &self,
        policy: &RetryPolicy,
        breaker: &CircuitBreaker,
        call: &mut CallLog<'_>,
        body: &[u8],
    ) -> Result<Value, DaggerError> {
        call.attempt();
        // What a bare `attempt_timeout` key generates, done here so that a timed-out attempt is
        // counted with the attempt's other failures.
        let result = match policy.attempt_timeout() {
            Some(limit) => match tokio::time::timeout(limit, self.post(body)).await {
                Ok(result) => result,
                Err(_) => Err(retry_runtime::AttemptTimeout.into()),
            },
            None => self.post(body).await,
        };
        if let Err(error) = &result {
            call.failed(error);
        }
        result
    }

    /// One attempt: POST, then judge the status, the headers and the body.
    async fn post(&self, body: &[u8]) -> Result<Value, DaggerError> {
        let request = self
            .client
            .post(&self.query_url)
            .basic_auth(&self.endpoint.token, Some(""))
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        let mut response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(DaggerError::RateLimited { wait: retry_after(response.headers()) });
        }
        let content_type =
            response.headers().get(CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        if !status.is_success() {
            // The body only explains the status; a huge or broken one does not change the verdict.
            let body = read_body(&mut response, MAX_ERROR_BODY).await.unwrap_or_default();
            return Err(status_error(status.as_u16(), &body));
        }
        if let Some(content_type) = content_type.filter(|t| !is_json(t)) {
            return Err(DaggerError::WrongContentType { content_type });
        }
        let body = read_body(&mut response, self.max_response_bytes).await?;
        let value: Value = serde_json::from_slice(&body).map_err(DaggerError::MalformedJson)?;
        graphql_data(value)
    }
}

impl fmt::Debug for DaggerAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DaggerAdapter")
            .field("endpoint", &self.endpoint)
            .field("policy", &self.policy)
            .field("breaker", &self.breaker.state())
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

/// Settings of a [`DaggerAdapter`]; from [`DaggerAdapter::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct DaggerAdapterBuilder {
    endpoint: Endpoint,
    policy: RetryPolicy,
    breaker: Option<CircuitBreakerBuilder>,
    max_response_bytes: usize,
}

impl DaggerAdapterBuilder {
    /// The retry policy of every query, attempt timeout included (default
    /// [`DaggerAdapter::default_policy`]).
    pub fn policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The circuit breaker's settings (default [`DaggerAdapter::default_breaker`]); `None` for no
    /// breaker (a disabled one, which lets everything through).
    pub fn breaker(mut self, breaker: Option<CircuitBreakerBuilder>) -> Self {
        self.breaker = breaker;
        self
    }

    /// The largest response body accepted (default 4 MiB); larger ones are
    /// [`DaggerError::ResponseTooLarge`].
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Builds the HTTP client and the breaker.
    pub fn build(self) -> Result<DaggerAdapter, SetupError> {
        let client = reqwest::Client::builder()
            // A POST must not turn into a GET somewhere else: a redirect is an answer, not a detour.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(SetupError::Client)?;
        let counters = Arc::new(Counters::new());
        let breaker = match self.breaker {
            Some(builder) => {
                let trips = counters.clone();
                builder
                    .on_transition(move |t| {
                        if t.to == BreakerState::Open {
                            trips.breaker_tripped();
                        }
                    })
                    .build()
                    .map_err(SetupError::Breaker)?
            }
            None => {
                let breaker = CircuitBreaker::new();
                breaker.disable();
                breaker
            }
        };
        Ok(DaggerAdapter {
            client,
            query_url: self.endpoint.query_url(),
            endpoint: self.endpoint,
            policy: self.policy,
            breaker,
            max_response_bytes: self.max_response_bytes,
            counters,
        })
    }
}

impl fmt::Debug for DaggerAdapterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DaggerAdapterBuilder")
            .field("endpoint", &self.endpoint)
            .field("policy", &self.policy)
            .field("breaker", &self.breaker.is_some())
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }
}

/// How much of an error response's body is read for its message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// How much of a body goes into an error message.
const MESSAGE_CHARS: usize = 200;

/// A failure of `send` itself: the request never got a complete response head.
fn transport_error(error: reqwest::Error) -> DaggerError {
    if error.is_timeout() {
        DaggerError::Timeout(retry_runtime::AttemptTimeout)
    } else {
        DaggerError::Connection(error)
    }
}

/// `Retry-After` as delta-seconds; an HTTP date (which the engine never sends) or anything else
/// gives no hint, and the policy's own backoff applies.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// `application/json`, or GraphQL's own `application/graphql-response+json`, with any parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence.eq_ignore_ascii_case("application/graphql-response+json")
}

/// Reads the body in chunks and stops as soon as it passes `limit`, whatever `Content-Length`
/// says (a lying length cannot make us read more).
async fn read_body(response: &mut reqwest::Response, limit: usize) -> Result<Vec<u8>, DaggerError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(DaggerError::ResponseTooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > limit {
            return Err(DaggerError::ResponseTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The error for a status other than `2xx` and `429`, with the body's GraphQL errors if it has
/// any.
fn status_error(status: u16, body: &[u8]) -> DaggerError {
    let message: String = String::from_utf8_lossy(body).chars().take(MESSAGE_CHARS).collect();
    if (500..600).contains(&status) {
        return DaggerError::Server { status, message };
    }
    match serde_json::from_slice::<Value>(body).ok().as_ref().and_then(graphql_errors) {
        Some(messages) => DaggerError::GraphQl { messages },
        None => DaggerError::Http { status, message },
    }
}

/// The messages of a GraphQL response's non-empty `errors` list.
fn graphql_errors(value: &Value) -> Option<Vec<String>> {
    let errors = value.get("errors")?.as_array()?;
    if errors.is_empty() {
        return None;
    }
    Some(
        errors
            .iter()
            .map(|e| match e.get("message") {
                Some(Value::String(m)) => m.clone(),
                _ => e.to_string(),
            })
            .collect(),
    )
}

/// The `data` of a GraphQL response, or its errors.
fn graphql_data(mut value: Value) -> Result<Value, DaggerError> {
    if !value.is_object() {
        return Err(DaggerError::UnexpectedResponse("the response is not a JSON object".into()));
    }
    if let Some(messages) = graphql_errors(&value) {
        return Err(DaggerError::GraphQl { messages });
    }
    match value.get_mut("data").map(Value::take) {
        Some(data @ Value::Object(_)) => Ok(data),
        _ => Err(DaggerError::UnexpectedResponse("the response has no `data` object".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use retry_runtime::{Classify, ErrorClass};

    #[test]
    fn statuses_and_bodies_are_classified() {
        assert_eq!(status_error(503, b"down").class(), ErrorClass::Transient);
        assert_eq!(status_error(500, br#"{"errors":[{"message":"x"}]}"#).class(), ErrorClass::Transient);
        assert_eq!(status_error(400, b"bad").class(), ErrorClass::Permanent);
        assert_eq!(status_error(408, b"").class(), ErrorClass::Transient);
        let graphql = status_error(422, br#"{"errors":[{"message":"Cannot query field"}]}"#);
        assert!(
            matches!(graphql, DaggerError::GraphQl { ref messages } if messages == &["Cannot query field"])
        );
    }

    #[test]
    fn graphql_responses() {
        assert_eq!(graphql_data(json!({"data": {"a": 1}})).unwrap(), json!({"a": 1}));
        assert!(matches!(
            graphql_data(json!({"errors": [{"message": "m"}]})),
            Err(DaggerError::GraphQl { .. })
        ));
        assert!(matches!(graphql_data(json!([1])), Err(DaggerError::UnexpectedResponse(_))));
        assert!(matches!(graphql_data(json!({"data": null})), Err(DaggerError::UnexpectedResponse(_))));
    }

    #[test]
    fn content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/graphql-response+json"));
        assert!(!is_json("text/html; charset=utf-8"));
    }

    #[test]
    fn the_token_stays_out_of_debug_output() {
        let endpoint = Endpoint::new("http://127.0.0.1:1/", "secret");
        assert_eq!(endpoint.query_url(), "http://127.0.0.1:1/query");
        assert!(!format!("{endpoint:?}").contains("secret"));
    }
}
