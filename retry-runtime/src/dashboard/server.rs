//! The dashboard: its builder, its handle, the sampler and the accept loop.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::{Instant, MissedTickBehavior};

use super::conn;
use super::error::DashboardError;
use super::history::{Frame, HISTORY, History};
use crate::loopback::accept::{Gauge, Limits, accept_loop};
use crate::loopback::{is_loopback, stop_signal};
use crate::telemetry;

/// What the handle and every connection share.
pub(crate) struct Shared {
    /// The latest frame; the sampler replaces it every interval.
    pub(crate) frames: watch::Receiver<Frame>,
    connections: Gauge,
}

/// A live dashboard of retry telemetry, served over HTTP; see the [module docs](super).
///
/// Dropping it stops it at once: it stops listening, sampling and streaming.
/// [`Dashboard::shutdown`] does the same gracefully.
pub struct Dashboard {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: tokio::sync::Mutex<Option<(JoinHandle<()>, JoinHandle<()>)>>,
    aborts: [AbortHandle; 2],
    shared: Arc<Shared>,
}

impl Dashboard {
    /// A builder, to set the address, the sampling interval or the rate window.
    pub fn builder() -> DashboardBuilder {
        DashboardBuilder::default()
    }

    /// Starts a dashboard at `addr` (which must be a loopback address) with the default settings.
    pub async fn start(addr: impl Into<SocketAddr>) -> Result<Dashboard, DashboardError> {
        Dashboard::builder().addr(addr).start().await
    }

    /// The address the dashboard listens on (with the actual port when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's URL, such as `http://127.0.0.1:9870/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Connections open right now, event streams included.
    pub fn connections(&self) -> usize {
        self.shared.connections.get()
    }

    /// Stops the dashboard and waits for it to stop.
    ///
    /// It stops accepting and sampling, ends every event stream with a `shutdown` event (the page
    /// then says the server stopped and does not reconnect), and waits for the connections to close,
    /// at most the builder's [shutdown timeout](DashboardBuilder::shutdown_timeout); connections
    /// still open then are cut. Calling it again does nothing.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        if let Some((accept, sampler)) = self.tasks.lock().await.take() {
            // The tasks end by themselves after the signal; an error means one was aborted.
            let _ = accept.await;
            let _ = sampler.await;
        }
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        // Dropping the accept task drops its `JoinSet`, which aborts every connection task.
        for task in &self.aborts {
            task.abort();
        }
    }
}

impl fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dashboard")
            .field("addr", &self.addr)
            .field("connections", &self.connections())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Dashboard`]; from [`Dashboard::builder`].
#[must_use = "a builder does nothing until `start` is awaited"]
#[derive(Clone, Debug)]
pub struct DashboardBuilder {
    addr: SocketAddr,
    interval: Duration,
    window: Duration,
    allow_non_loopback: bool,
    max_connections: usize,
    shutdown_timeout: Duration,
}

impl DashboardBuilder {
    /// The address unless told otherwise: `127.0.0.1:9870`.
    pub const DEFAULT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9870);
    /// The sampling interval unless told otherwise: one second.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
    /// The rate window unless told otherwise: ten seconds, as Hystrix's rolling window.
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(10);
    /// The connection limit unless told otherwise.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 64;
    /// How long [`Dashboard::shutdown`] waits for connections unless told otherwise: two seconds.
    pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);
    /// The shortest sampling interval accepted.
    pub const MIN_INTERVAL: Duration = Duration::from_millis(50);
    /// The longest sampling interval accepted.
    pub const MAX_INTERVAL: Duration = Duration::from_secs(60);

    /// The address to listen on (default [`DEFAULT_ADDR`](Self::DEFAULT_ADDR)); port 0 picks a
    /// free port. It must be a loopback address unless
    /// [`allow_non_loopback`](Self::allow_non_loopback) is set.
    pub fn addr(mut self, addr: impl Into<SocketAddr>) -> Self {
        self.addr = addr.into();
        self
    }

    /// How often telemetry is sampled and a frame sent to every open page (default one second;
    /// 50 ms to 60 s).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The window over which rates, error rates and health are computed (default ten seconds; at
    /// least the interval, at most two minutes).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Lets the dashboard listen on an address beyond loopback, such as `0.0.0.0:9870` (default
    /// false). It has no authentication: anyone who can reach the port sees function names and
    /// counts.
    pub fn allow_non_loopback(mut self, allow: bool) -> Self {
        self.allow_non_loopback = allow;
        self
    }

    /// The most connections open at once (default 64); connections beyond it are closed at once.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections;
        self
    }

    /// How long [`Dashboard::shutdown`] waits for open connections before cutting them (default
    /// two seconds).
    pub fn shutdown_timeout(mut self, duration: Duration) -> Self {
        self.shutdown_timeout = duration;
        self
    }

    /// Binds the address, takes the first sample, and starts serving on the current tokio runtime.
    pub async fn start(self) -> Result<Dashboard, DashboardError> {
        let addr = self.addr;
        if !self.allow_non_loopback && !is_loopback(addr) {
            return Err(DashboardError::NotLoopback { addr });
        }
        if !(Self::MIN_INTERVAL..=Self::MAX_INTERVAL).contains(&self.interval) {
            return Err(DashboardError::Interval { interval: self.interval });
        }
        if self.window < self.interval || self.window > HISTORY {
            return Err(DashboardError::Window { window: self.window });
        }
        let listener =
            TcpListener::bind(addr).await.map_err(|source| DashboardError::Bind { addr, source })?;
        let local = listener.local_addr().map_err(|source| DashboardError::Bind { addr, source })?;

        let now = Instant::now();
        let mut history = History::new(now, self.interval, self.window);
        let (frames_tx, frames) = watch::channel(history.sample(now, &telemetry::snapshot()));
        let shared = Arc::new(Shared { frames, connections: Gauge::default() });
        let (stop, stopped) = watch::channel(false);
        let sampler = tokio::spawn(sample_loop(history, self.interval, frames_tx, stopped.clone()));
        let limits = Limits {
            server: "dashboard",
            max_connections: self.max_connections,
            shutdown_timeout: self.shutdown_timeout,
        };
        let serving = shared.clone();
        let serve = move |stream, stopped| conn::serve(stream, serving.clone(), stopped);
        let connections = shared.connections.clone();
        let accept = tokio::spawn(accept_loop(listener, stopped, limits, connections, |_| {}, serve));
        Ok(Dashboard {
            addr: local,
            stop,
            aborts: [accept.abort_handle(), sampler.abort_handle()],
            tasks: tokio::sync::Mutex::new(Some((accept, sampler))),
            shared,
        })
    }
}

impl Default for DashboardBuilder {
    fn default() -> Self {
        DashboardBuilder {
            addr: Self::DEFAULT_ADDR,
            interval: Self::DEFAULT_INTERVAL,
            window: Self::DEFAULT_WINDOW,
            allow_non_loopback: false,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            shutdown_timeout: Self::DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }
}

/// Samples telemetry every `interval` until the stop signal.
async fn sample_loop(
    mut history: History,
    interval: Duration,
    frames: watch::Sender<Frame>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval_at(Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = stop_signal(&mut stopped) => break,
            _ = ticker.tick() => {
                let frame = history.sample(Instant::now(), &telemetry::snapshot());
                frames.send_replace(frame);
            }
        }
    }
}
