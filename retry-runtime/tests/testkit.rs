//! The fault server, observed by a raw HTTP/1.1 client over loopback.
//!
//! Run with `cargo test -p retry-runtime --features testkit --test testkit`.

#![cfg(feature = "testkit")]

use std::net::SocketAddr;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use retry_runtime::testkit::{
    Fault, FaultKind, FaultMix, FaultMixError, FaultPlan, FaultServer, Request, Response, TestkitError,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

// ---------------------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client: enough to see exactly what the server put on the wire.

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// What a client sees instead of a complete response.
#[derive(Debug)]
enum Failure {
    /// The connection ended (closed or reset) before any byte of a response.
    Closed,
    /// Bytes that are not an HTTP response, up to the end of the connection.
    Garbage(Vec<u8>),
    /// A response head, then fewer body bytes than its `Content-Length` before the connection ended.
    Truncated { status: u16, announced: usize, received: usize },
}

type Outcome = Result<Reply, Failure>;

struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        Client {
            stream: TcpStream::connect(addr).await.expect("connect to the fault server"),
            buf: Vec::new(),
        }
    }

    /// Writes raw bytes; a write error (the server closed first) is not an error for these tests.
    async fn send(&mut self, raw: &[u8]) {
        let _ = self.stream.write_all(raw).await;
    }

    async fn get(&mut self, path: &str) -> Outcome {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Reads more bytes; false at the end of the stream or on a reset.
    async fn fill(&mut self) -> bool {
        self.buf.reserve(64 * 1024);
        matches!(self.stream.read_buf(&mut self.buf).await, Ok(n) if n > 0)
    }

    async fn reply(&mut self) -> Outcome {
        let head_end = loop {
            if let Some(at) = find(&self.buf, b"\r\n\r\n") {
                break at + 4;
            }
            let looks_like_http =
                b"HTTP/".starts_with(&self.buf[..self.buf.len().min(5)]) || self.buf.starts_with(b"HTTP/");
            if !looks_like_http {
                while self.fill().await {}
                return Err(Failure::Garbage(std::mem::take(&mut self.buf)));
            }
            if !self.fill().await {
                return Err(if self.buf.is_empty() {
                    Failure::Closed
                } else {
                    Failure::Garbage(std::mem::take(&mut self.buf))
                });
            }
        };
        let head = std::str::from_utf8(&self.buf[..head_end - 4]).expect("an ASCII response head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        assert!(status_line.starts_with("HTTP/1.1 "), "status line {status_line:?}");
        let status: u16 = status_line[9..12].parse().expect("a status code");
        let headers: Vec<(String, String)> = lines
            .map(|line| {
                let (name, value) = line.split_once(':').expect("a header line");
                (name.to_owned(), value.trim().to_owned())
            })
            .collect();
        let announced: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.parse().expect("a content-length"));
        while self.buf.len() < head_end + announced {
            if !self.fill().await {
                return Err(Failure::Truncated { status, announced, received: self.buf.len() - head_end });
            }
        }
        let body = self.buf[head_end..head_end + announced].to_vec();
        self.buf.drain(..head_end + announced);
        Ok(Reply { status, headers, body })
    }

    /// True if the server closed the connection (nothing more to read).
    async fn is_closed(&mut self) -> bool {
        self.buf.is_empty() && !self.fill().await
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Sends one request on a fresh connection.
async fn get_once(server: &FaultServer, path: &str) -> Outcome {
    Client::connect(server.addr()).await.get(path).await
}

/// Lets the server's tasks run until `done` holds (time is paused in the tests that use this, so the
/// sleeps cost nothing).
async fn settle(mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("the server did not settle");
}

fn status(outcome: &Outcome) -> u16 {
    match outcome {
        Ok(reply) => reply.status,
        Err(failure) => panic!("expected a response, got {failure:?}"),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Faults.

#[tokio::test(start_paused = true)]
async fn each_fault_is_seen_by_a_real_client() {
    let server = FaultServer::builder()
        .plan(FaultPlan::script([
            Fault::Success,
            Fault::Slow(Duration::from_secs(3)),
            Fault::Drop,
            Fault::Hang,
            Fault::RateLimited { retry_after: Duration::from_millis(1500) },
            Fault::Unavailable,
            Fault::Internal,
            Fault::BadRequest,
            Fault::Garbage,
            Fault::Truncated,
            Fault::WrongContentType,
            Fault::InvalidJson,
            Fault::Huge,
        ]))
        .hang_for(Duration::from_secs(10))
        .start()
        .await
        .unwrap();

    let ok = get_once(&server, "/").await.unwrap();
    assert_eq!((ok.status, ok.json()), (200, json!({ "ok": true })));

    let start = Instant::now();
    let slow = get_once(&server, "/").await.unwrap();
    assert_eq!(slow.status, 200);
    assert!(start.elapsed() >= Duration::from_secs(3), "slow answered after {:?}", start.elapsed());

    assert!(matches!(get_once(&server, "/").await, Err(Failure::Closed)));

    let start = Instant::now();
    assert!(matches!(get_once(&server, "/").await, Err(Failure::Closed)));
    assert!(start.elapsed() >= Duration::from_secs(10), "hang ended after {:?}", start.elapsed());

    let limited = get_once(&server, "/").await.unwrap();
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("2"));

    for expected in [503, 500, 400] {
        let reply = get_once(&server, "/").await.unwrap();
        assert_eq!(reply.status, expected);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert!(reply.json()["error"].is_string());
    }

    match get_once(&server, "/").await {
        Err(Failure::Garbage(bytes)) => assert!(!bytes.is_empty() && !bytes.starts_with(b"HTTP/")),
        other => panic!("expected garbage, got {other:?}"),
    }

    match get_once(&server, "/").await {
        Err(Failure::Truncated { status, announced, received }) => {
            assert!(status == 200 && received < announced, "{received} of {announced}")
        }
        other => panic!("expected a truncated response, got {other:?}"),
    }

    let html = get_once(&server, "/").await.unwrap();
    assert_eq!(html.status, 200);
    assert!(html.header("content-type").unwrap().starts_with("text/html"));

    let invalid = get_once(&server, "/").await.unwrap();
    assert_eq!(invalid.status, 200);
    assert_eq!(invalid.header("content-type"), Some("application/json"));
    assert!(serde_json::from_slice::<serde_json::Value>(&invalid.body).is_err());

    let huge = get_once(&server, "/").await.unwrap();
    assert_eq!(huge.status, 200);
    assert_eq!(huge.body.len(), 8 * 1024 * 1024);
    assert!(huge.json()["data"].is_string());

    let stats = server.stats();
    assert_eq!(stats.requests, 13);
    for kind in FaultKind::ALL {
        assert_eq!(stats.count(kind), 1, "{kind}");
    }
}

#[tokio::test]
async fn retry_after_is_whole_seconds_rounded_up() {
    let delays = [
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::from_secs(1),
        Duration::from_millis(1500),
        Duration::from_secs(120),
    ];
    let server = FaultServer::start(FaultPlan::script(
        delays.iter().map(|&retry_after| Fault::RateLimited { retry_after }).chain([Fault::RATE_LIMITED]),
    ))
    .await
    .unwrap();
    let mut client = Client::connect(server.addr()).await;
    for expected in ["0", "1", "1", "2", "120", "1"] {
        let reply = client.get("/").await.unwrap();
        assert_eq!(reply.status, 429);
        assert_eq!(reply.header("retry-after"), Some(expected));
    }
}

#[tokio::test]
async fn a_script_runs_in_order_then_its_fallback() {
    let plan = FaultPlan::script([Fault::Unavailable, Fault::Internal, Fault::RATE_LIMITED])
        .fallback(Fault::BadRequest);
    let server = FaultServer::start(plan).await.unwrap();
    let mut client = Client::connect(server.addr()).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(status(&client.get("/").await));
    }
    assert_eq!(statuses, [503, 500, 429, 400, 400]);
    assert_eq!(
        server.stats().faults(),
        [
            FaultKind::Unavailable,
            FaultKind::Internal,
            FaultKind::RateLimited,
            FaultKind::BadRequest,
            FaultKind::BadRequest
        ]
    );
}

/// Sends `n` requests one after another, reconnecting whenever a fault closed the connection; returns the
/// kinds the server logged.
async fn run_requests(server: &FaultServer, n: usize) -> Vec<FaultKind> {
    let mut client = Client::connect(server.addr()).await;
    for _ in 0..n {
        match client.get("/work").await {
            Ok(reply) if reply.header("connection") != Some("close") => {}
            _ => client = Client::connect(server.addr()).await,
        }
    }
    server.stats().faults()
}

#[tokio::test(start_paused = true)]
async fn a_seeded_mix_is_reproducible_and_keeps_its_rates() {
    const N: usize = 2000;
    let mix: FaultMix = "drop=0.05,hang=0.02,429=0.05,503=0.1,500=0.05,400=0.03,slow=0.03".parse().unwrap();
    let start = |seed| async move {
        FaultServer::builder()
            .plan(FaultPlan::mix(mix, seed).unwrap().slow_delay(Duration::from_millis(100)))
            .hang_for(Duration::from_millis(500))
            .start()
            .await
            .unwrap()
    };

    let (a, b, c) = (start(42).await, start(42).await, start(43).await);
    let (first, second, other) =
        (run_requests(&a, N).await, run_requests(&b, N).await, run_requests(&c, N).await);
    assert_eq!(first.len(), N);
    assert_eq!(first, second, "the same seed gives the same faults");
    assert_ne!(first, other, "another seed gives other faults");

    let expected = [
        (FaultKind::Drop, mix.drop),
        (FaultKind::Hang, mix.hang),
        (FaultKind::RateLimited, mix.rate_limit),
        (FaultKind::Unavailable, mix.unavailable),
        (FaultKind::Internal, mix.internal),
        (FaultKind::BadRequest, mix.bad_request),
        (FaultKind::Slow, mix.slow),
        (FaultKind::Success, mix.success_rate()),
    ];
    let stats = a.stats();
    for (kind, rate) in expected {
        let mean = N as f64 * rate;
        // Five standard deviations of a binomial count: a seeded run never flakes, and a wrong draw shows.
        let tolerance = 5.0 * (mean * (1.0 - rate)).sqrt() + 1.0;
        let count = stats.count(kind) as f64;
        assert!((count - mean).abs() <= tolerance, "{kind}: {count} requests, expected {mean} ± {tolerance}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_plan_can_change_while_serving() {
    let mix = FaultMix { unavailable: 0.3, ..FaultMix::default() };
    let server = FaultServer::start(FaultPlan::mix(mix, 5).unwrap()).await.unwrap();
    let mut client = Client::connect(server.addr()).await;
    let mut flaky = 0;
    for _ in 0..200 {
        if status(&client.get("/").await) == 503 {
            flaky += 1;
        }
    }
    assert!((30..=90).contains(&flaky), "{flaky} of 200 failed at a 30% rate");

    server.set_plan(FaultPlan::always(Fault::Unavailable));
    for _ in 0..20 {
        assert_eq!(status(&client.get("/").await), 503);
    }
    server.set_plan(FaultPlan::healthy());
    for _ in 0..20 {
        assert_eq!(status(&client.get("/").await), 200);
    }
    assert_eq!(server.stats().requests, 240);
    server.reset_stats();
    assert_eq!(server.stats().requests, 0);
}

// ---------------------------------------------------------------------------------------------------------
// Counters and timestamps.

#[tokio::test(start_paused = true)]
async fn stats_log_each_request_with_its_arrival_time() {
    let server =
        FaultServer::start(FaultPlan::script([Fault::Unavailable, Fault::Unavailable])).await.unwrap();
    let mut client = Client::connect(server.addr()).await;
    let t0 = Instant::now();
    assert_eq!(status(&client.get("/a").await), 503);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(status(&client.get("/b?x=1").await), 503);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(status(&client.get("/c").await), 200);

    let stats = server.stats();
    assert_eq!(stats.requests, 3);
    assert_eq!(stats.count(FaultKind::Unavailable), 2);
    assert_eq!(stats.count(FaultKind::Success), 1);
    assert_eq!(stats.count(FaultKind::Drop), 0);
    assert_eq!(stats.connections_accepted, 1);
    assert_eq!(stats.log[0].at, t0);
    assert_eq!(stats.arrival_gaps(), [Duration::from_millis(250), Duration::from_secs(2)]);
    let paths: Vec<_> = stats.log.iter().map(|r| (r.index, r.method.as_str(), r.path.as_str())).collect();
    assert_eq!(paths, [(0, "GET", "/a"), (1, "GET", "/b"), (2, "GET", "/c")]);
    assert_eq!(server.in_flight(), 0);
    assert_eq!(server.connections(), 1);
    drop(client);
    settle(|| server.connections() == 0).await;
}

#[tokio::test(start_paused = true)]
async fn in_flight_counts_hanging_requests_until_the_client_leaves() {
    let server = FaultServer::start(FaultPlan::always(Fault::Hang)).await.unwrap();
    let mut client = Client::connect(server.addr()).await;
    client.send(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n").await;
    settle(|| server.in_flight() == 1).await;
    // A client-side timeout: the server still holds the request.
    assert!(tokio::time::timeout(Duration::from_secs(30), client.reply()).await.is_err());
    assert_eq!(server.in_flight(), 1);
    drop(client);
    settle(|| server.in_flight() == 0 && server.connections() == 0).await;
}

// ---------------------------------------------------------------------------------------------------------
// Requests and the handler.

#[tokio::test]
async fn the_handler_sees_the_request() {
    let server = FaultServer::builder()
        .handler(|req| {
            Response::json(
                201,
                json!({
                    "method": req.method,
                    "path": req.path,
                    "query": req.query,
                    "auth": req.header("AUTHORIZATION"),
                    "body": req.json().ok(),
                }),
            )
            .with_header("x-echo", "yes")
        })
        .start()
        .await
        .unwrap();
    let mut client = Client::connect(server.addr()).await;
    let body = r#"{"query":"{ container { id } }"}"#;
    client
        .send(
            format!(
                "POST /query?v=2 HTTP/1.1\r\nHost: test\r\nauthorization: Basic dG9rZW46\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await;
    let reply = client.reply().await.unwrap();
    assert_eq!(reply.status, 201);
    assert_eq!(reply.header("x-echo"), Some("yes"));
    assert_eq!(
        reply.json(),
        json!({
            "method": "POST",
            "path": "/query",
            "query": "v=2",
            "auth": "Basic dG9rZW46",
            "body": { "query": "{ container { id } }" },
        })
    );
}

#[tokio::test]
async fn expect_100_continue_is_answered_before_the_body() {
    let server = FaultServer::builder()
        .handler(|req| Response::text(200, req.body_text().unwrap_or_default()))
        .start()
        .await
        .unwrap();
    let mut client = Client::connect(server.addr()).await;
    client.send(b"PUT /x HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n").await;
    let interim = client.reply().await.unwrap();
    assert_eq!(interim.status, 100);
    client.send(b"hello").await;
    let reply = client.reply().await.unwrap();
    assert_eq!((reply.status, reply.body.as_slice()), (200, &b"hello"[..]));
}

#[test]
fn handlers_can_be_called_directly_and_the_server_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<FaultServer>();
    let handler = |req: &Request| Response::text(200, format!("{} {}", req.method, req.path));
    let req =
        Request::new("POST", "/query?x=1").with_header("Content-Type", "application/json").with_body("{}");
    assert_eq!((req.query.as_deref(), req.header("content-type")), (Some("x=1"), Some("application/json")));
    assert_eq!(handler(&req).body, b"POST /query");
}

#[tokio::test]
async fn a_panicking_handler_gets_500_and_the_server_goes_on() {
    let server = FaultServer::builder()
        .handler(|req| {
            assert_ne!(req.path, "/panic", "a handler bug");
            Response::default()
        })
        .start()
        .await
        .unwrap();
    assert_eq!(status(&get_once(&server, "/panic").await), 500);
    assert_eq!(status(&get_once(&server, "/fine").await), 200);
}

// ---------------------------------------------------------------------------------------------------------
// Connections: keep-alive, close, limits.

#[tokio::test]
async fn keep_alive_serves_many_requests_on_one_connection() {
    let server = FaultServer::start(FaultPlan::healthy()).await.unwrap();
    let mut client = Client::connect(server.addr()).await;
    for _ in 0..10 {
        assert_eq!(status(&client.get("/").await), 200);
    }
    // Pipelined: three requests in one write.
    client
        .send(b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\nGET /2 HTTP/1.1\r\nHost: t\r\n\r\nGET /3 HTTP/1.1\r\nHost: t\r\n\r\n")
        .await;
    for _ in 0..3 {
        assert_eq!(status(&client.reply().await), 200);
    }
    let stats = server.stats();
    assert_eq!((stats.requests, stats.connections_accepted), (13, 1));
}

#[tokio::test]
async fn connection_close_is_honoured() {
    let server = FaultServer::start(FaultPlan::healthy()).await.unwrap();
    let mut client = Client::connect(server.addr()).await;
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
    let reply = client.reply().await.unwrap();
    assert_eq!((reply.status, reply.header("connection")), (200, Some("close")));
    assert!(client.is_closed().await);

    // HTTP/1.0 closes unless asked to keep alive.
    let mut client = Client::connect(server.addr()).await;
    client.send(b"GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(status(&client.reply().await), 200);
    assert!(client.is_closed().await);
}

#[tokio::test(start_paused = true)]
async fn oversized_or_malformed_requests_are_refused_and_closed() {
    let server = FaultServer::builder().max_body(1024).start().await.unwrap();
    let long_header = format!("GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "a".repeat(20 * 1024));
    let cases: [(&[u8], u16); 6] = [
        (long_header.as_bytes(), 431),
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2048\r\n\r\n", 413),
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501),
        (b"GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n", 400),
        (b"HELLO\r\n\r\n", 400),
        (b"GET / HTTP/3.0\r\nHost: t\r\n\r\n", 505),
    ];
    for (request, expected) in cases {
        let mut client = Client::connect(server.addr()).await;
        client.send(request).await;
        let reply = client.reply().await.unwrap();
        assert_eq!(reply.status, expected, "{}", String::from_utf8_lossy(&request[..20]));
        assert_eq!(reply.header("connection"), Some("close"));
        assert!(client.is_closed().await);
    }
    let stats = server.stats();
    assert_eq!((stats.rejected, stats.requests), (6, 0));
    // A body at the limit is fine.
    let mut client = Client::connect(server.addr()).await;
    client
        .send(
            format!("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1024\r\n\r\n{}", "b".repeat(1024))
                .as_bytes(),
        )
        .await;
    assert_eq!(status(&client.reply().await), 200);
}

#[tokio::test(start_paused = true)]
async fn connections_beyond_the_cap_are_closed_at_once() {
    let server = FaultServer::builder().max_connections(2).start().await.unwrap();
    let mut first = Client::connect(server.addr()).await;
    let mut second = Client::connect(server.addr()).await;
    assert_eq!(status(&first.get("/").await), 200);
    assert_eq!(status(&second.get("/").await), 200);

    let mut third = Client::connect(server.addr()).await;
    assert!(matches!(third.get("/").await, Err(Failure::Closed)));
    assert_eq!(server.stats().connections_refused, 1);

    drop(first);
    settle(|| server.connections() == 1).await;
    let mut fourth = Client::connect(server.addr()).await;
    assert_eq!(status(&fourth.get("/").await), 200);
    assert_eq!(status(&second.get("/").await), 200);
}

// ---------------------------------------------------------------------------------------------------------
// Shutdown and the address.

#[tokio::test(start_paused = true)]
async fn shutdown_releases_hanging_connections() {
    let server = FaultServer::start(FaultPlan::always(Fault::Hang)).await.unwrap();
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut client = Client::connect(server.addr()).await;
        client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
        clients.push(tokio::spawn(async move { client.reply().await }));
    }
    let idle = Client::connect(server.addr()).await;
    settle(|| server.in_flight() == 3 && server.connections() == 4).await;

    let start = Instant::now();
    server.shutdown().await;
    assert_eq!(start.elapsed(), Duration::ZERO, "shutdown waited for a timer");
    for client in clients {
        assert!(matches!(client.await.unwrap(), Err(Failure::Closed)));
    }
    assert_eq!((server.in_flight(), server.connections()), (0, 0));
    assert!(TcpStream::connect(server.addr()).await.is_err(), "still listening");
    server.shutdown().await;
    drop(idle);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_server_stops_listening() {
    let server = FaultServer::start(FaultPlan::always(Fault::Hang)).await.unwrap();
    let addr = server.addr();
    let mut hanging = Client::connect(addr).await;
    hanging.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await;
    settle(|| server.in_flight() == 1).await;
    drop(server);
    assert!(matches!(hanging.reply().await, Err(Failure::Closed)));
    let mut refused = false;
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(refused, "a dropped server still accepts connections");
}

#[tokio::test]
async fn only_loopback_addresses_are_accepted() {
    for addr in ["0.0.0.0:0", "192.168.1.10:0", "10.0.0.1:8080", "[::]:0", "[2001:db8::1]:0"] {
        let addr: SocketAddr = addr.parse().unwrap();
        let err = FaultServer::builder().bind(addr).start().await.unwrap_err();
        assert!(matches!(err, TestkitError::NotLoopback { addr: a } if a == addr), "{err}");
        assert!(err.to_string().contains("not a loopback address"));
    }
    let server = FaultServer::builder().bind("127.0.0.2:0".parse().unwrap()).start().await.unwrap();
    assert_eq!(server.addr().ip().to_string(), "127.0.0.2");
    assert_eq!(server.url(), format!("http://127.0.0.2:{}", server.addr().port()));
}

#[tokio::test]
async fn binding_a_taken_port_is_a_typed_error() {
    let server = FaultServer::start(FaultPlan::healthy()).await.unwrap();
    let err = FaultServer::builder().bind(server.addr()).start().await.unwrap_err();
    assert!(matches!(err, TestkitError::Bind { .. }), "{err}");
    assert!(std::error::Error::source(&err).is_some());
}

// ---------------------------------------------------------------------------------------------------------
// Bad input.

#[tokio::test(start_paused = true)]
async fn random_bytes_never_crash_the_server() {
    let server = FaultServer::start(FaultPlan::healthy()).await.unwrap();
    let mut rng = SmallRng::seed_from_u64(2024);
    let pieces: [&[u8]; 8] = [
        b"GET / HTTP/1.1\r\n",
        b"Host: t\r\n",
        b"Content-Length: 5\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"\r\n",
        b"\r\n\r\n",
        b": ",
        b"POST /q HTTP/1.0\r\n",
    ];
    for round in 0..300 {
        let mut payload = Vec::new();
        for _ in 0..rng.random_range(0..12) {
            if rng.random_bool(0.5) {
                payload.extend_from_slice(pieces[rng.random_range(0..pieces.len())]);
            } else {
                let mut noise = vec![0u8; rng.random_range(0..300)];
                rng.fill(&mut noise[..]);
                payload.extend_from_slice(&noise);
            }
        }
        let mut stream = TcpStream::connect(server.addr()).await.unwrap();
        let _ = stream.write_all(&payload).await;
        let _ = stream.shutdown().await;
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply).await;
        assert!(
            reply.is_empty() || reply.starts_with(b"HTTP/1.1 "),
            "round {round}: {:?}",
            String::from_utf8_lossy(&reply)
        );
    }
    assert_eq!(status(&get_once(&server, "/").await), 200);
    settle(|| server.connections() == 0).await;
}

// ---------------------------------------------------------------------------------------------------------
// The mix syntax.

#[test]
fn mix_strings_parse_and_errors_name_the_key() {
    let mix: FaultMix = "drop=0.05,hang=0.02,429=0.05,503=0.1,500=0.05,400=0.0,slow=0.03".parse().unwrap();
    assert_eq!(
        mix,
        FaultMix {
            drop: 0.05,
            hang: 0.02,
            rate_limit: 0.05,
            unavailable: 0.1,
            internal: 0.05,
            bad_request: 0.0,
            slow: 0.03,
        }
    );
    let named: FaultMix =
        " rate_limit = 0.2 , unavailable=0.1,internal=0.1,bad_request=0.1, ".parse().unwrap();
    assert_eq!((named.rate_limit, named.bad_request), (0.2, 0.1));
    assert_eq!("".parse::<FaultMix>().unwrap(), FaultMix::default());

    let err = |s: &str| s.parse::<FaultMix>().unwrap_err();
    assert_eq!(err("drop=0.1,418=0.1"), FaultMixError::UnknownKey { key: "418".into() });
    assert!(err("418=0.1").to_string().contains("`418`"));
    assert_eq!(err("503=lots"), FaultMixError::InvalidRate { key: "503".into(), value: "lots".into() });
    assert!(err("503=lots").to_string().contains("`503`"));
    assert_eq!(err("hang"), FaultMixError::MissingRate { key: "hang".into() });
    assert_eq!(err("503=0.1,unavailable=0.2"), FaultMixError::DuplicateKey { key: "unavailable".into() });
    assert_eq!(err("slow=1.5"), FaultMixError::OutOfRange { key: "slow", rate: 1.5 });
    assert!(matches!(err("drop=-0.1"), FaultMixError::OutOfRange { key: "drop", .. }));
    assert!(matches!(err("drop=NaN"), FaultMixError::OutOfRange { key: "drop", .. }));
    assert!(matches!(err("drop=0.6,503=0.6"), FaultMixError::SumAboveOne { .. }));

    // The struct is checked too when a plan is made from it.
    let bad = FaultMix { internal: 2.0, ..FaultMix::default() };
    assert!(FaultPlan::mix(bad, 1).is_err());
    let full: FaultMix = "503=0.7,500=0.2,429=0.1".parse().unwrap();
    assert!(full.success_rate() < 1e-9);
}
