//! The fault server: its builder, its handle, and the accept loop.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};

use super::conn;
use super::error::TestkitError;
use super::fault::{Fault, FaultPlan, PlanCursor};
use super::http::{Request, Response};
use super::stats::Stats;
use crate::loopback::accept::{Admission, Gauge, Limits, accept_loop};
use crate::loopback::is_loopback;

/// The user's request handler.
pub(crate) type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync + 'static>;

/// The server's limits and timings.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) max_head: usize,
    pub(crate) max_body: usize,
    pub(crate) max_connections: usize,
    pub(crate) hang_for: Duration,
    pub(crate) huge_body: usize,
    pub(crate) shutdown_timeout: Duration,
}

/// What the accept loop and every connection task share.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) handler: Handler,
    core: Mutex<Core>,
    pub(crate) in_flight: Gauge,
    pub(crate) connections: Gauge,
}

/// The plan in progress and the stats, under one lock so that request n's fault and record agree.
struct Core {
    cursor: PlanCursor,
    stats: Stats,
}

impl Shared {
    fn core(&self) -> MutexGuard<'_, Core> {
        // Nothing panics while holding the lock; if something did, the data is still consistent.
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Draws the fault of a request that has just fully arrived and records it.
    pub(crate) fn begin_request(&self, method: &str, path: &str) -> (u64, Fault) {
        let mut core = self.core();
        let fault = core.cursor.draw();
        let index = core.stats.requests;
        core.stats.record(fault.kind(), method, path);
        (index, fault)
    }

    pub(crate) fn count_rejected(&self) {
        self.core().stats.rejected += 1;
    }
}

/// A fault-injecting HTTP/1.1 server on loopback; see the [module docs](super).
///
/// Dropping the server stops it: it stops listening and its connection tasks end. [`FaultServer::shutdown`]
/// does the same gracefully and waits for the connections to close.
pub struct FaultServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    accept: tokio::sync::Mutex<Option<JoinHandle<()>>>,
    abort: AbortHandle,
}

impl FaultServer {
    /// A builder, to set the handler, the limits or the address.
    pub fn builder() -> FaultServerBuilder {
        FaultServerBuilder::default()
    }

    /// Starts a server on `127.0.0.1` at a free port, with this plan and the default handler and limits.
    pub async fn start(plan: FaultPlan) -> Result<FaultServer, TestkitError> {
        FaultServer::builder().plan(plan).start().await
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's base URL, such as `http://127.0.0.1:40123`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the fault plan; the next request gets the new plan's first fault.
    ///
    /// A script starts from its beginning and a mix from its seed. Requests already being answered keep the
    /// fault they got.
    pub fn set_plan(&self, plan: FaultPlan) {
        self.shared.core().cursor = PlanCursor::new(plan);
    }

    /// A snapshot of the counters and the request log.
    pub fn stats(&self) -> Stats {
        self.shared.core().stats.clone()
    }

    /// Clears the counters and the request log (the plan goes on where it was).
    pub fn reset_stats(&self) {
        self.shared.core().stats = Stats::default();
    }

    /// Requests being answered right now, hanging and slow ones included.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.get()
    }

    /// Connections open right now.
    pub fn connections(&self) -> usize {
        self.shared.connections.get()
    }

    /// Stops the server and waits for it to stop.
    ///
    /// It stops accepting, closes idle connections, wakes hanging and slow requests (their connections
    /// close without a response), lets responses being written finish, and waits for every connection to
    /// close, at most the builder's [shutdown timeout](FaultServerBuilder::shutdown_timeout); connections
    /// still open then are cut. Calling it again does nothing.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let mut accept = self.accept.lock().await;
        if let Some(task) = accept.take() {
            // The task ends by itself after the signal; an error means it was aborted or panicked.
            let _ = task.await;
        }
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        // Dropping the accept task drops the listener and its `JoinSet`, which aborts every connection task.
        self.abort.abort();
    }
}

impl fmt::Debug for FaultServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultServer")
            .field("addr", &self.addr)
            .field("config", &self.shared.config)
            .field("connections", &self.connections())
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

/// Builds a [`FaultServer`]; from [`FaultServer::builder`].
#[must_use = "a builder does nothing until `start` is awaited"]
pub struct FaultServerBuilder {
    plan: FaultPlan,
    handler: Handler,
    addr: SocketAddr,
    config: Config,
}

impl FaultServerBuilder {
    /// The request head limit unless told otherwise: 16 KiB.
    pub const DEFAULT_MAX_HEAD: usize = 16 * 1024;
    /// The request body limit unless told otherwise: 1 MiB.
    pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;
    /// The connection limit unless told otherwise.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
    /// How long a [`Fault::Hang`] holds a connection unless told otherwise: five minutes.
    pub const DEFAULT_HANG_FOR: Duration = Duration::from_secs(300);
    /// The size of a [`Fault::Huge`] body unless told otherwise: 8 MiB.
    pub const DEFAULT_HUGE_BODY: usize = 8 * 1024 * 1024;
    /// How long [`FaultServer::shutdown`] waits for connections unless told otherwise: five seconds.
    pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

    /// The fault plan (default: [`FaultPlan::healthy`]).
    pub fn plan(mut self, plan: FaultPlan) -> Self {
        self.plan = plan;
        self
    }

    /// The handler that answers requests whose fault is [`Fault::Success`] or [`Fault::Slow`] (default:
    /// `200` with `{"ok":true}`, [`Response::default`]).
    ///
    /// If the handler panics, the request is answered `500`.
    pub fn handler<F>(mut self, handler: F) -> Self
    where
        F: Fn(&Request) -> Response + Send + Sync + 'static,
    {
        self.handler = Arc::new(handler);
        self
    }

    /// The address to listen on (default `127.0.0.1:0`: a free port); it must be a loopback address.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// The largest request head, request line and headers (default 16 KiB); larger heads get `431`.
    pub fn max_head(mut self, bytes: usize) -> Self {
        self.config.max_head = bytes;
        self
    }

    /// The largest request body (default 1 MiB); a longer `Content-Length` gets `413`.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.config.max_body = bytes;
        self
    }

    /// The most connections open at once (default 256); connections beyond it are closed at once.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.config.max_connections = connections;
        self
    }

    /// How long a [`Fault::Hang`] holds its connection before closing it (default five minutes).
    pub fn hang_for(mut self, duration: Duration) -> Self {
        self.config.hang_for = duration;
        self
    }

    /// The size of a [`Fault::Huge`] body (default 8 MiB).
    pub fn huge_body(mut self, bytes: usize) -> Self {
        self.config.huge_body = bytes;
        self
    }

    /// How long [`FaultServer::shutdown`] waits for open connections before cutting them (default 5 s).
    pub fn shutdown_timeout(mut self, duration: Duration) -> Self {
        self.config.shutdown_timeout = duration;
        self
    }

    /// Binds the address and starts serving on the current tokio runtime.
    pub async fn start(self) -> Result<FaultServer, TestkitError> {
        let addr = self.addr;
        if !is_loopback(addr) {
            return Err(TestkitError::NotLoopback { addr });
        }
        let listener = TcpListener::bind(addr).await.map_err(|source| TestkitError::Bind { addr, source })?;
        let local = listener.local_addr().map_err(|source| TestkitError::Bind { addr, source })?;
        let shared = Arc::new(Shared {
            config: self.config,
            handler: self.handler,
            core: Mutex::new(Core { cursor: PlanCursor::new(self.plan), stats: Stats::default() }),
            in_flight: Gauge::default(),
            connections: Gauge::default(),
        });
        let (stop, stopped) = watch::channel(false);
        let limits = Limits {
            server: "testkit",
            max_connections: shared.config.max_connections,
            shutdown_timeout: shared.config.shutdown_timeout,
        };
        let counted = shared.clone();
        let admitted = move |admission| {
            let stats = &mut counted.core().stats;
            match admission {
                Admission::Admitted => stats.connections_accepted += 1,
                Admission::Refused => stats.connections_refused += 1,
            }
        };
        let serving = shared.clone();
        let serve = move |stream, stopped| conn::serve(stream, serving.clone(), stopped);
        let connections = shared.connections.clone();
        let task = tokio::spawn(accept_loop(listener, stopped, limits, connections, admitted, serve));
        Ok(FaultServer {
            addr: local,
            shared,
            stop,
            abort: task.abort_handle(),
            accept: tokio::sync::Mutex::new(Some(task)),
        })
    }
}

impl Default for FaultServerBuilder {
    fn default() -> Self {
        FaultServerBuilder {
            plan: FaultPlan::healthy(),
            handler: Arc::new(|_: &Request| Response::default()),
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            config: Config {
                max_head: Self::DEFAULT_MAX_HEAD,
                max_body: Self::DEFAULT_MAX_BODY,
                max_connections: Self::DEFAULT_MAX_CONNECTIONS,
                hang_for: Self::DEFAULT_HANG_FOR,
                huge_body: Self::DEFAULT_HUGE_BODY,
                shutdown_timeout: Self::DEFAULT_SHUTDOWN_TIMEOUT,
            },
        }
    }
}

impl fmt::Debug for FaultServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultServerBuilder")
            .field("plan", &self.plan)
            .field("addr", &self.addr)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
