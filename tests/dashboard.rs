//! The live dashboard: its endpoints over plain HTTP, and its page driven in a real headless
//! Chromium while a retried function runs.
//!
//! The browser test needs Debian's `chromium` (`apt-get install -y chromium`); without it the test
//! fails, unless `RETRY_SKIP_BROWSER=1` is set. `RETRY_CHROMIUM=/path/to/chromium` picks another
//! binary.

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use retry_runtime::dashboard::{Dashboard, DashboardError};
use retry_runtime::retryable;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Attempts of `flaky` that fail, by attempt number modulo 10: with `max = 2`, the calls go
/// exhausted (attempts 0, 1, 2), ok, ok, after one retry (5, 6), ok, ok, ok: one call in seven is
/// exhausted, so the card is red (10 % or more failed).
const FAILS: [bool; 10] = [true, true, true, false, false, true, false, false, false, false];
static ATTEMPTS: AtomicUsize = AtomicUsize::new(0);

#[retryable(max = 2, backoff = 0, name = "dashboard.test")]
async fn flaky() -> std::io::Result<()> {
    if FAILS[ATTEMPTS.fetch_add(1, Ordering::SeqCst) % FAILS.len()] {
        Err(io::ErrorKind::ConnectionReset.into())
    } else {
        Ok(())
    }
}

/// Always succeeds; the plain-HTTP test's own function, so that it leaves `flaky`'s pattern alone.
#[retryable(max = 2, backoff = 0, name = "dashboard.plain")]
async fn plain() -> std::io::Result<()> {
    Ok(())
}

/// Frames the page is asked to receive before it closes its event stream.
const FRAMES: u32 = 8;
/// How long Chromium may take before it is killed.
const BROWSER_DEADLINE: Duration = Duration::from_secs(60);

async fn start_dashboard() -> Dashboard {
    Dashboard::builder()
        .addr(([127, 0, 0, 1], 0))
        .interval(Duration::from_millis(200))
        .start()
        .await
        .expect("the dashboard starts on loopback")
}

/// Calls `flaky` in a loop until the returned flag is set.
fn keep_calling() -> (Arc<AtomicBool>, tokio::task::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let task = tokio::spawn(async move {
        while !flag.load(Ordering::SeqCst) {
            let _ = flaky().await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    (stop, task)
}

/// Sends `request` on a new connection and reads the answer to its end (bounded).
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let talk = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(request).await?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await?;
        io::Result::Ok(String::from_utf8_lossy(&reply).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(10), talk).await.expect("the dashboard answers in time").unwrap()
}

async fn get(addr: SocketAddr, target: &str) -> String {
    exchange(addr, format!("GET {target} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes()).await
}

/// The JSON of every `data:` line of an event stream.
fn frames(stream: &str) -> Vec<serde_json::Value> {
    stream
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).expect("each frame is JSON"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_shows_live_updates_in_headless_chromium() {
    let Some(chromium) = chromium() else { return };
    let dashboard = start_dashboard().await;
    let (stop, load) = keep_calling();
    let url = format!("{}?frames={FRAMES}", dashboard.url());

    let dom =
        tokio::task::spawn_blocking(move || dump_dom(&chromium, &url)).await.expect("the browser task ran");
    stop.store(true, Ordering::SeqCst);
    load.await.unwrap();
    dashboard.shutdown().await;
    let dom = dom.unwrap_or_else(|e| panic!("{e}"));

    assert!(dom.contains("<h1>retry dashboard</h1>"), "not the dashboard page:\n{dom}");
    let updates: u32 = text_of(&dom, r#"data-testid="updates""#).parse().expect("a count of updates");
    assert_eq!(updates, FRAMES, "the page should receive {FRAMES} SSE frames:\n{dom}");
    assert_eq!(text_of(&dom, r#"data-testid="status""#), "done");

    let card = element_attrs(&dom, "article", r#"data-fn="dashboard.test""#)
        .unwrap_or_else(|| panic!("no card for dashboard.test in the page:\n{dom}"));
    let number = |name: &str| -> u64 {
        card.get(name).unwrap_or_else(|| panic!("card has no {name}: {card:?}")).parse().expect("a number")
    };
    assert!(number("data-updates") >= 5, "the card saw several updates: {card:?}");
    assert!(number("data-calls") > number("data-first-calls"), "calls shown did not change: {card:?}");
    assert!(number("data-retries") > number("data-first-retries"), "retries shown did not change: {card:?}");
    assert!(number("data-successes-after-retry") > 0 && number("data-exhausted") > 0, "{card:?}");
    let observed: Vec<u64> = card["data-observed-calls"].split(',').map(|n| n.parse().unwrap()).collect();
    assert_eq!(observed.len() as u64, number("data-updates"));
    assert!(observed.windows(2).all(|w| w[0] <= w[1]), "calls never go down: {observed:?}");
    assert!(
        observed.windows(2).filter(|w| w[0] < w[1]).count() >= 3,
        "calls rose between updates: {observed:?}"
    );
    assert!(card["data-calls-per-sec"].parse::<f64>().unwrap() > 0.0, "{card:?}");
    assert_eq!(card["data-health"], "red", "one call in seven is exhausted: {card:?}");
    assert_eq!(card["data-breaker"], "none");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_answer_over_plain_http() {
    for _ in 0..10 {
        plain().await.unwrap();
    }
    let dashboard = start_dashboard().await;
    let addr = dashboard.addr();

    let page = get(addr, "/").await;
    assert!(page.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"), "{page}");
    assert!(page.contains("\r\nContent-Security-Policy: default-src 'none'; connect-src 'self';"));
    assert!(page.contains("new EventSource("));
    let body = &page[page.find("\r\n\r\n").unwrap()..];
    for external in ["<link", " src=", "@import", "url("] {
        assert!(!body.contains(external), "the page loads nothing else, but has `{external}`");
    }

    let head = exchange(addr, b"HEAD / HTTP/1.1\r\nHost: test\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"), "{head}");

    let metrics = get(addr, "/metrics").await;
    assert!(metrics.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4"), "{metrics}");
    assert!(metrics.contains("retry_calls_total{function=\"dashboard.plain\"} 10"), "{metrics}");

    let events = get(addr, "/events?frames=3").await;
    assert!(events.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream"), "{events}");
    assert!(events.contains("\r\n\r\nretry: 2000\n\n"), "{events}");
    let frames = frames(&events);
    assert_eq!(frames.len(), 3, "{events}");
    let seqs: Vec<u64> = frames.iter().map(|f| f["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let last = &frames[2];
    assert_eq!(last["interval_ms"], 200);
    assert_eq!(last["delay_buckets_ms"].as_array().unwrap().len(), 14);
    let f = last["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "dashboard.plain")
        .expect("the frame has the function");
    assert_eq!(f["calls"], 10);
    assert_eq!(f["first_try_successes"], 10);
    assert_eq!(f["sparkline"].as_array().unwrap().len(), 120);
    assert_eq!(f["delays"]["counts"].as_array().unwrap().len(), 15);
    assert_eq!(f["breaker"], serde_json::Value::Null);

    assert!(get(addr, "/nope").await.starts_with("HTTP/1.1 404 Not Found\r\n"));
    let post = exchange(addr, b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n").await;
    assert!(
        post.starts_with("HTTP/1.1 405 Method Not Allowed\r\n") && post.contains("\r\nAllow: GET, HEAD\r\n")
    );
    let huge = format!("GET / HTTP/1.1\r\nX-Filler: {}\r\n\r\n", "a".repeat(9000));
    assert!(exchange(addr, huge.as_bytes()).await.starts_with("HTTP/1.1 431 "));
    assert!(exchange(addr, b"GET / HTTP/3\r\n\r\n").await.starts_with("HTTP/1.1 505 "));
    assert!(exchange(addr, b"hello\r\n\r\n").await.starts_with("HTTP/1.1 400 "));
    dashboard.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_event_streams() {
    let dashboard = start_dashboard().await;
    let mut stream = TcpStream::connect(dashboard.addr()).await.unwrap();
    stream.write_all(b"GET /events HTTP/1.1\r\nHost: test\r\n\r\n").await.unwrap();
    let mut first = vec![0; 64 * 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut first)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200 OK\r\n"));

    tokio::time::timeout(Duration::from_secs(10), dashboard.shutdown()).await.expect("shutdown is bounded");
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest))
        .await
        .expect("the stream ends")
        .unwrap();
    assert!(String::from_utf8_lossy(&rest).ends_with("event: shutdown\ndata: {}\n\n"));
    assert_eq!(dashboard.connections(), 0);
    assert!(TcpStream::connect(dashboard.addr()).await.is_err(), "no longer listening");
}

#[tokio::test]
async fn dropping_the_dashboard_stops_it() {
    let dashboard = start_dashboard().await;
    let addr = dashboard.addr();
    drop(dashboard);
    let stopped = async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), stopped).await.expect("a dropped dashboard stops listening");
}

#[tokio::test]
async fn refuses_non_loopback_addresses_and_bad_timings() {
    let open = Dashboard::builder().addr(([0, 0, 0, 0], 0)).start().await;
    assert!(matches!(open, Err(DashboardError::NotLoopback { .. })), "{open:?}");
    let message = open.unwrap_err().to_string();
    assert!(message.contains("not a loopback address"), "{message}");

    let allowed = Dashboard::builder().addr(([0, 0, 0, 0], 0)).allow_non_loopback(true).start().await;
    allowed.expect("allowed explicitly").shutdown().await;

    let fast =
        Dashboard::builder().addr(([127, 0, 0, 1], 0)).interval(Duration::from_millis(1)).start().await;
    assert!(matches!(fast, Err(DashboardError::Interval { .. })), "{fast:?}");
    let window =
        Dashboard::builder().addr(([127, 0, 0, 1], 0)).window(Duration::from_secs(600)).start().await;
    assert!(matches!(window, Err(DashboardError::Window { .. })), "{window:?}");
}

/// The Chromium binary, or `None` when the browser test is skipped; fails when it is missing.
fn chromium() -> Option<PathBuf> {
    if std::env::var_os("RETRY_SKIP_BROWSER").is_some_and(|v| v == "1") {
        eprintln!("RETRY_SKIP_BROWSER=1: skipping the headless Chromium test");
        return None;
    }
    if let Some(path) = std::env::var_os("RETRY_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let in_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|dir| dir.join("chromium")).collect::<Vec<_>>())
        .unwrap_or_default();
    let found = in_path.into_iter().chain([PathBuf::from("/usr/bin/chromium")]).find(|p| p.is_file());
    assert!(
        found.is_some(),
        "chromium is not installed: the dashboard test drives the page in headless Chromium. \
         Install it with `apt-get install -y chromium` (CI does), point RETRY_CHROMIUM at a binary, \
         or set RETRY_SKIP_BROWSER=1 to skip this test"
    );
    found
}

/// Loads `url` in headless Chromium and returns the DOM after the page closed its event stream.
///
/// `--dump-dom` dumps as soon as the load event fires, which an EventSource does not delay. The
/// page's `?frames=N` makes it close its stream after N updates, and `--virtual-time-budget` makes
/// Chromium wait until the network is idle (the stream closed), then dump. `--timeout` bounds the
/// page load itself; Chromium is killed if it takes longer than [`BROWSER_DEADLINE`] in all.
fn dump_dom(chromium: &Path, url: &str) -> Result<String, String> {
    let profile = std::env::temp_dir().join(format!(
        "retry-dashboard-chromium-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos()
    ));
    std::fs::create_dir_all(&profile).map_err(|e| format!("creating {}: {e}", profile.display()))?;
    let result = run_chromium(chromium, &profile, url);
    let _ = std::fs::remove_dir_all(&profile);
    result
}

fn run_chromium(chromium: &Path, profile: &Path, url: &str) -> Result<String, String> {
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--timeout=4000", "--virtual-time-budget=1000", "--dump-dom", url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run {}: {e}", chromium.display()))?;
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = pipe.read_to_end(&mut out);
            String::from_utf8_lossy(&out).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped")));

    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() > BROWSER_DEADLINE => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("waiting for chromium: {e}")),
        }
    };
    let (dom, log) = (stdout.join().unwrap_or_default(), stderr.join().unwrap_or_default());
    let tail: String =
        log.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    match status {
        None => Err(format!("chromium ran over {BROWSER_DEADLINE:?} and was killed; its log ends:\n{tail}")),
        Some(status) if !status.success() || dom.is_empty() => {
            Err(format!("chromium failed ({status}) with no DOM; its log ends:\n{tail}"))
        }
        Some(_) => Ok(dom),
    }
}

/// The text inside the first element whose start tag contains `marker`.
fn text_of<'a>(dom: &'a str, marker: &str) -> &'a str {
    let at = dom.find(marker).unwrap_or_else(|| panic!("no element with {marker} in the page:\n{dom}"));
    let start = at + dom[at..].find('>').expect("a start tag ends") + 1;
    let end = start + dom[start..].find('<').expect("an end tag follows");
    &dom[start..end]
}

/// The attributes of the first `<tag ...>` whose start tag contains `marker`.
fn element_attrs(dom: &str, tag: &str, marker: &str) -> Option<HashMap<String, String>> {
    let open = format!("<{tag} ");
    let mut rest = dom;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        let end = after.find('>')?;
        let attrs = &after[..end];
        if attrs.contains(marker) {
            return Some(parse_attrs(attrs));
        }
        rest = &after[end..];
    }
    None
}

/// `name="value"` pairs, as Chromium serialises them (values quoted, `&` and `"` escaped).
fn parse_attrs(mut s: &str) -> HashMap<String, String> {
    let mut attrs = HashMap::new();
    while let Some(eq) = s.find("=\"") {
        let name = s[..eq].trim().to_owned();
        let value_start = eq + 2;
        let Some(len) = s[value_start..].find('"') else { break };
        let value = s[value_start..value_start + len].replace("&quot;", "\"").replace("&amp;", "&");
        attrs.insert(name, value);
        s = &s[value_start + len + 1..];
    }
    attrs
}
