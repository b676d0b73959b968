//! Adaptive retry against the fault-injecting server: from 30 % faults, to a total outage, to
//! healthy, compared with the fixed policy on the same faults.

use retry_runtime::testkit::{Fault, FaultMix, FaultPlan, FaultServer};
use retry_runtime::{Classify, retryable};
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Classify)]
enum GetError {
    #[transient]
    Connection(#[allow(dead_code)] io::Error),
    #[transient]
    Unavailable,
    #[permanent]
    Rejected,
}

/// One GET over a fresh connection: 2xx is `Ok`, 5xx and dropped connections are transient.
async fn get(addr: SocketAddr) -> Result<(), GetError> {
    let mut stream = TcpStream::connect(addr).await.map_err(GetError::Connection)?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: engine\r\nConnection: close\r\n\r\n")
        .await
        .map_err(GetError::Connection)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.map_err(GetError::Connection)?;
    let status = std::str::from_utf8(response.get(9..12).unwrap_or_default()).unwrap_or("");
    match status.parse::<u16>() {
        Ok(200..=299) => Ok(()),
        Ok(500..=599) => Err(GetError::Unavailable),
        Ok(_) => Err(GetError::Rejected),
        Err(_) => Err(GetError::Connection(io::ErrorKind::UnexpectedEof.into())),
    }
}

#[retryable(max = 3, backoff = "10ms", jitter)]
async fn fixed(addr: SocketAddr) -> Result<(), GetError> {
    get(addr).await
}

#[retryable(max = 3, backoff = "10ms", jitter, adaptive)]
async fn adaptive(addr: SocketAddr) -> Result<(), GetError> {
    get(addr).await
}

/// Requests the server saw and calls that succeeded, over `calls` sequential calls.
struct Phase {
    requests: u64,
    successes: u32,
}

async fn phase<F, Fut>(server: &FaultServer, plan: FaultPlan, calls: u32, call: F) -> Phase
where
    F: Fn(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = Result<(), GetError>>,
{
    server.set_plan(plan);
    let before = server.stats().requests;
    let mut successes = 0;
    for _ in 0..calls {
        successes += u32::from(call(server.addr()).await.is_ok());
    }
    Phase { requests: server.stats().requests - before, successes }
}

fn thirty_percent(seed: u64) -> FaultPlan {
    FaultPlan::mix(FaultMix { unavailable: 0.2, drop: 0.1, ..FaultMix::default() }, seed).expect("valid mix")
}

#[tokio::test(start_paused = true)]
async fn adaptive_cuts_requests_during_an_outage_and_keeps_the_healthy_success_rate() {
    let fixed_server = FaultServer::start(FaultPlan::healthy()).await.unwrap();
    let adaptive_server = FaultServer::start(FaultPlan::healthy()).await.unwrap();
    let outage = || FaultPlan::always(Fault::Unavailable);

    let fixed_faulty = phase(&fixed_server, thirty_percent(7), 300, fixed).await;
    let adaptive_faulty = phase(&adaptive_server, thirty_percent(7), 300, adaptive).await;
    let fixed_outage = phase(&fixed_server, outage(), 200, fixed).await;
    let adaptive_outage = phase(&adaptive_server, outage(), 200, adaptive).await;
    let fixed_healthy = phase(&fixed_server, FaultPlan::healthy(), 300, fixed).await;
    let adaptive_healthy = phase(&adaptive_server, FaultPlan::healthy(), 300, adaptive).await;

    // 30 % faults: retries still pay off, so adaptive keeps them: 1 - 0.3^4 = 99.2 % succeed.
    assert!(fixed_faulty.successes >= 290, "fixed: {} of 300", fixed_faulty.successes);
    let gap = fixed_faulty.successes.abs_diff(adaptive_faulty.successes);
    assert!(
        gap <= 3,
        "success rates differ: fixed {} adaptive {}",
        fixed_faulty.successes,
        adaptive_faulty.successes
    );

    // Outage: the fixed policy sends max + 1 requests per call; adaptive stops retrying.
    assert_eq!(fixed_outage.requests, 200 * 4);
    assert_eq!(adaptive_outage.successes, 0);
    let cut = fixed_outage.requests as f64 / adaptive_outage.requests as f64;
    assert!(
        cut >= 3.0,
        "only {cut:.2}x fewer requests: {} vs {}",
        fixed_outage.requests,
        adaptive_outage.requests
    );

    // Healthy again: every call succeeds for both.
    assert_eq!(fixed_healthy.successes, 300);
    assert_eq!(adaptive_healthy.successes, 300);
    assert_eq!(adaptive_healthy.requests, 300);
    println!(
        "outage requests: fixed {} adaptive {} ({cut:.2}x); 30% faults successes: fixed {} adaptive {}",
        fixed_outage.requests, adaptive_outage.requests, fixed_faulty.successes, adaptive_faulty.successes
    );
}
