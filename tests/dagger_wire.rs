//! Bad bytes on the wire: each broken response becomes the `DaggerError` that `error.rs` documents,
//! with the class it documents, and no byte sequence makes the adapter panic.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use retry_runtime::testkit::{Fault, FaultPlan, FaultServer};
use retry_runtime::{Classify, ErrorClass, Jitter, RetryPolicy};
use retry_workspace::dagger::{DaggerAdapter, DaggerError, Endpoint, SimulatedEngine};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const MAX_BODY: usize = 64 * 1024;

fn adapter(endpoint: Endpoint, retries: u32) -> DaggerAdapter {
    let policy = RetryPolicy::builder()
        .max_retries(retries)
        .backoff(Duration::from_millis(1))
        .jitter(Jitter::None)
        // Bounds every case: nothing below may make the adapter wait forever.
        .attempt_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    DaggerAdapter::builder(endpoint)
        .policy(policy)
        .breaker(None)
        .max_response_bytes(MAX_BODY)
        .build()
        .unwrap()
}

async fn echo(adapter: &DaggerAdapter) -> Result<String, DaggerError> {
    adapter.exec("alpine:3.20", &["echo", "hello"]).await
}

/// Serves `fault` to the first request: without retries the adapter returns that error, and with
/// retries it is sent once (permanent) or retried into a success (transient).
async fn one_fault(fault: Fault) -> (DaggerError, u64) {
    let engine = SimulatedEngine::start_with(
        FaultServer::builder().plan(FaultPlan::script([fault.clone()])).huge_body(1 << 20),
    )
    .await
    .unwrap();
    let err = echo(&adapter(engine.endpoint(), 0)).await.unwrap_err();
    assert_eq!(engine.server().stats().requests, 1);

    // Again, with retries, from the start of the script.
    engine.server().set_plan(FaultPlan::script([fault]));
    engine.server().reset_stats();
    let with_retries = echo(&adapter(engine.endpoint(), 3)).await;
    let sent = engine.server().stats().requests;
    match err.class() {
        ErrorClass::Transient => assert_eq!(with_retries.unwrap(), "hello\n"),
        ErrorClass::Permanent => assert!(with_retries.is_err()),
    }
    (err, sent)
}

#[tokio::test]
async fn garbage_bytes_are_a_transient_connection_error() {
    let (err, sent) = one_fault(Fault::Garbage).await;
    assert!(matches!(err, DaggerError::Connection(_)), "{err:?}");
    assert_eq!((err.class(), sent), (ErrorClass::Transient, 2));
}

#[tokio::test]
async fn a_truncated_body_is_a_transient_connection_error() {
    let (err, sent) = one_fault(Fault::Truncated).await;
    assert!(matches!(err, DaggerError::Connection(_)), "{err:?}");
    assert_eq!((err.class(), sent), (ErrorClass::Transient, 2));
}

#[tokio::test]
async fn a_dropped_connection_is_a_transient_connection_error() {
    let (err, sent) = one_fault(Fault::Drop).await;
    assert!(matches!(err, DaggerError::Connection(_)), "{err:?}");
    assert_eq!((err.class(), sent), (ErrorClass::Transient, 2));
}

#[tokio::test]
async fn a_wrong_content_type_is_permanent() {
    let (err, sent) = one_fault(Fault::WrongContentType).await;
    assert!(
        matches!(&err, DaggerError::WrongContentType { content_type } if content_type.starts_with("text/html")),
        "{err:?}"
    );
    assert_eq!((err.class(), sent), (ErrorClass::Permanent, 1));
}

#[tokio::test]
async fn invalid_json_in_a_200_is_transient() {
    let (err, sent) = one_fault(Fault::InvalidJson).await;
    assert!(matches!(err, DaggerError::MalformedJson(_)), "{err:?}");
    assert_eq!((err.class(), sent), (ErrorClass::Transient, 2));
}

#[tokio::test]
async fn a_huge_body_is_permanent_and_not_read() {
    let (err, sent) = one_fault(Fault::Huge).await;
    assert!(matches!(err, DaggerError::ResponseTooLarge { limit: MAX_BODY }), "{err:?}");
    assert_eq!((err.class(), sent), (ErrorClass::Permanent, 1));
}

/// A raw HTTP responder: answers each request, on its own connection, with the next canned bytes,
/// then closes.
async fn raw_responder(responses: Vec<Vec<u8>>) -> (Endpoint, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = Endpoint::new(format!("http://{}", listener.local_addr().unwrap()), "token");
    let queue = Arc::new(Mutex::new(VecDeque::from(responses)));
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let queue = queue.clone();
            tokio::spawn(async move {
                // Read the request head and its Content-Length body, then answer and close.
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = stream.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let Some(response) = queue.lock().unwrap().pop_front() else { return };
                let _ = stream.write_all(&response).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (endpoint, task)
}

#[tokio::test]
async fn a_body_past_the_limit_without_a_length_stops_being_read() {
    let mut response =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n".to_vec();
    response.extend(std::iter::repeat_n(b' ', 4 * MAX_BODY));
    let (endpoint, server) = raw_responder(vec![response]).await;
    let err = echo(&adapter(endpoint, 0)).await.unwrap_err();
    assert!(matches!(err, DaggerError::ResponseTooLarge { limit: MAX_BODY }), "{err:?}");
    server.abort();
}

#[tokio::test]
async fn valid_json_of_the_wrong_shape_is_permanent() {
    let bodies: [&[u8]; 4] =
        [b"[1,2,3]", b"{\"data\":null}", b"{\"data\":{\"container\":{}}}", b"{\"errors\":[]}"];
    let responses = bodies
        .iter()
        .map(|body| {
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(body);
            r
        })
        .collect();
    let (endpoint, server) = raw_responder(responses).await;
    let adapter = adapter(endpoint, 0);
    for body in bodies {
        let err = echo(&adapter).await.unwrap_err();
        assert!(
            matches!(err, DaggerError::UnexpectedResponse(_)),
            "{}: {err:?}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(err.class(), ErrorClass::Permanent);
    }
    server.abort();
}

/// The class `error.rs` documents for each variant that bad bytes can produce.
fn documented_class(err: &DaggerError) -> ErrorClass {
    match err {
        DaggerError::Connection(_)
        | DaggerError::Timeout(_)
        | DaggerError::RateLimited { .. }
        | DaggerError::Server { .. }
        | DaggerError::MalformedJson(_) => ErrorClass::Transient,
        DaggerError::Http { status: 408 | 425, .. } => ErrorClass::Transient,
        DaggerError::Http { .. }
        | DaggerError::GraphQl { .. }
        | DaggerError::WrongContentType { .. }
        | DaggerError::UnexpectedResponse(_)
        | DaggerError::ResponseTooLarge { .. }
        | DaggerError::CircuitOpen(_) => ErrorClass::Permanent,
    }
}

fn random_bytes(rng: &mut SmallRng, max: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; rng.random_range(0..=max)];
    rng.fill(&mut bytes[..]);
    bytes
}

/// Random responses of three shapes: pure noise; noise after `HTTP/1.1 ` and a random status; and
/// a well-formed head (a random status; a JSON, HTML or no content type; a true, short, huge or
/// absent length) with a random body.
fn random_responses(seed: u64, count: usize) -> Vec<Vec<u8>> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..count)
        .map(|i| match i % 3 {
            0 => random_bytes(&mut rng, 2048),
            1 => {
                let mut r = format!("HTTP/1.1 {} ", rng.random_range(100..1000)).into_bytes();
                r.extend(random_bytes(&mut rng, 512));
                r
            }
            _ => {
                let body = random_bytes(&mut rng, 4096);
                let status = [200, 200, 200, 201, 204, 400, 404, 429, 500, 503][rng.random_range(0..10)];
                let mut head = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
                match rng.random_range(0..5) {
                    0 => {}
                    1 => head.push_str("Content-Type: text/html\r\n"),
                    _ => head.push_str("Content-Type: application/json\r\n"),
                }
                match rng.random_range(0..5) {
                    0 | 1 => head.push_str(&format!("Content-Length: {}\r\n", body.len())),
                    2 => head.push_str(&format!("Content-Length: {}\r\n", body.len() + 100)),
                    3 => head.push_str(&format!("Content-Length: {}\r\n", 100 * MAX_BODY)),
                    _ => {}
                }
                if status == 429 && rng.random_bool(0.5) {
                    head.push_str(&format!("Retry-After: {}\r\n", rng.random_range(0..5)));
                }
                head.push_str("\r\n");
                let mut r = head.into_bytes();
                r.extend(body);
                r
            }
        })
        .collect()
}

#[tokio::test]
async fn random_bytes_as_responses_give_typed_errors_and_never_panic() {
    const CASES: usize = 300;
    let (endpoint, server) = raw_responder(random_responses(0x5eed, CASES)).await;
    let adapter = adapter(endpoint, 0);
    for case in 0..CASES {
        let err = match echo(&adapter).await {
            Err(err) => err,
            Ok(out) => panic!("case {case}: random bytes were taken for a step's output {out:?}"),
        };
        assert_eq!(err.class(), documented_class(&err), "case {case}: {err:?}");
        // The error renders, with its chain, without panicking.
        let _ = err.to_string();
        let _ = std::error::Error::source(&err).map(ToString::to_string);
    }
    server.abort();
}
