//! The live dashboard under load: a few retried functions that fail in different ways, one of
//! them behind a circuit breaker that trips during a periodic outage.
//!
//! ```text
//! cargo run --example dashboard_demo -- [--addr ADDR] [--seconds N]
//! ```
//!
//! Open the printed URL (default `http://127.0.0.1:9870/`) while it runs. `--seconds 0` runs until
//! Ctrl-C. The failures are drawn from a fixed seed, so every run shows the same mix.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use retry_runtime::dashboard::{Dashboard, DashboardBuilder};
use retry_runtime::{CircuitBreaker, CircuitOpen, Classify, retryable};
use tokio::time::Instant;

const USAGE: &str = "\
usage: dashboard_demo [--addr ADDR] [--seconds N]

  --addr ADDR    where the dashboard listens (default 127.0.0.1:9870; port 0 picks one)
  --seconds N    how long to run the load (default 60; 0 runs until Ctrl-C)";

/// The failures the demo's functions return.
#[derive(Debug, Classify)]
enum DemoError {
    #[transient]
    ConnectionReset,
    #[transient]
    Unavailable,
    #[transient(retry_after = wait)]
    RateLimited { wait: Option<Duration> },
    #[permanent]
    InvalidSpec,
    /// The breaker refused the attempt.
    CircuitOpen,
}

impl From<CircuitOpen> for DemoError {
    fn from(_: CircuitOpen) -> Self {
        DemoError::CircuitOpen
    }
}

/// The registry's breaker: trips when half of the last 20 attempts failed, probes after 2 s.
static REGISTRY: LazyLock<CircuitBreaker> = LazyLock::new(|| {
    CircuitBreaker::builder()
        .failure_rate(0.5)
        .count_window(20)
        .minimum_calls(10)
        .open_for(Duration::from_secs(2))
        .half_open_permits(2)
        .half_open_successes(2)
        .build()
        .expect("a valid breaker")
});

static START: LazyLock<Instant> = LazyLock::new(Instant::now);
static DRAWS: AtomicU64 = AtomicU64::new(0);

/// A number in `0..1` from a fixed seed: splitmix64 over a shared counter.
fn draw() -> f64 {
    let mut z = DRAWS.fetch_add(1, Ordering::Relaxed).wrapping_add(0x2545_f491_4f6c_dd1d);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether the registry is in its outage: 8 s of every 30, from second 10.
fn registry_down() -> bool {
    (START.elapsed().as_secs() % 30) >= 10 && (START.elapsed().as_secs() % 30) < 18
}

/// A small dose of latency, as a real service has.
async fn work(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Mostly healthy: 4 % of attempts hit a reset connection.
#[retryable(max = 3, backoff = "5ms", jitter, name = "demo.fetch_manifest")]
async fn fetch_manifest() -> Result<(), DemoError> {
    work(2).await;
    if draw() < 0.04 { Err(DemoError::ConnectionReset) } else { Ok(()) }
}

/// Behind the breaker; fails 90 % of the time during the registry's outage.
#[retryable(max = 3, backoff = "20ms", jitter, max_delay = "200ms", breaker = REGISTRY, name = "demo.push_layer")]
async fn push_layer() -> Result<(), DemoError> {
    work(3).await;
    let fail = if registry_down() { 0.9 } else { 0.03 };
    if draw() < fail { Err(DemoError::Unavailable) } else { Ok(()) }
}

/// Rate limited: 25 % of attempts get a Retry-After of 50 to 250 ms.
#[retryable(max = 4, backoff = "10ms", max_delay = "1s", name = "demo.resolve_tag")]
async fn resolve_tag() -> Result<(), DemoError> {
    work(2).await;
    let p = draw();
    if p < 0.25 {
        Err(DemoError::RateLimited { wait: Some(Duration::from_millis(50 + (p * 800.0) as u64)) })
    } else {
        Ok(())
    }
}

/// Never fails.
#[retryable(max = 2, backoff = "10ms", name = "demo.read_cache")]
async fn read_cache() -> Result<(), DemoError> {
    work(1).await;
    Ok(())
}

/// A few specs are invalid: a permanent error, returned at once.
#[retryable(max = 2, backoff = "10ms", name = "demo.validate_spec")]
async fn validate_spec() -> Result<(), DemoError> {
    work(1).await;
    if draw() < 0.03 { Err(DemoError::InvalidSpec) } else { Ok(()) }
}

/// Calls `f` every `every` from `workers` tasks until `until`.
fn load<F, Fut>(
    workers: usize,
    every: Duration,
    until: Option<Instant>,
    f: F,
) -> Vec<tokio::task::JoinHandle<()>>
where
    F: Fn() -> Fut + Copy + Send + 'static,
    Fut: Future<Output = Result<(), DemoError>> + Send,
{
    (0..workers)
        .map(|_| {
            tokio::spawn(async move {
                while until.is_none_or(|until| Instant::now() < until) {
                    let _ = f().await;
                    tokio::time::sleep(every).await;
                }
            })
        })
        .collect()
}

fn parse_args() -> Result<(SocketAddr, u64), String> {
    let (mut addr, mut seconds) = (DashboardBuilder::DEFAULT_ADDR, 60);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--addr" => {
                let text = value("--addr")?;
                addr = text.parse().map_err(|_| format!("--addr expects HOST:PORT, not `{text}`"))?;
            }
            "--seconds" => {
                let text = value("--seconds")?;
                seconds =
                    text.parse().map_err(|_| format!("--seconds expects a whole number, not `{text}`"))?;
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok((addr, seconds))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (addr, seconds) = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("dashboard_demo: {message}\n");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let dashboard = match Dashboard::start(addr).await {
        Ok(dashboard) => dashboard,
        Err(error) => {
            eprintln!("dashboard_demo: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("dashboard at {}", dashboard.url());

    LazyLock::force(&START);
    let until = (seconds > 0).then(|| Instant::now() + Duration::from_secs(seconds));
    let mut tasks = Vec::new();
    tasks.extend(load(4, Duration::from_millis(40), until, fetch_manifest));
    tasks.extend(load(4, Duration::from_millis(50), until, push_layer));
    tasks.extend(load(3, Duration::from_millis(60), until, resolve_tag));
    tasks.extend(load(2, Duration::from_millis(30), until, read_cache));
    tasks.extend(load(2, Duration::from_millis(50), until, validate_spec));

    let all = async {
        for task in tasks {
            let _ = task.await;
        }
    };
    tokio::select! {
        _ = all => {}
        _ = tokio::signal::ctrl_c() => println!("interrupted"),
    }
    dashboard.shutdown().await;
    ExitCode::SUCCESS
}
