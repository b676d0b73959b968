//! The accept loop: a connection cap, one task per connection, and a graceful, bounded stop.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::stop_signal;

/// A live count (connections, requests in flight) that a guard holds up while it lives.
#[derive(Clone, Debug, Default)]
pub(crate) struct Gauge(Arc<AtomicUsize>);

impl Gauge {
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// Adds one until the returned guard drops.
    pub(crate) fn enter(&self) -> GaugeGuard {
        self.0.fetch_add(1, Ordering::AcqRel);
        GaugeGuard(self.0.clone())
    }
}

/// Takes one off its [`Gauge`] on drop, also when the task holding it is aborted.
#[derive(Debug)]
pub(crate) struct GaugeGuard(Arc<AtomicUsize>);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the accept loop did with a connection it accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Counted in the connection gauge and handed to its own task.
    Admitted,
    /// Closed at once: the server already had its maximum of connections.
    Refused,
}

/// The accept loop's bounds and the name it logs under.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// The server's name in log lines, such as `"testkit"`.
    pub(crate) server: &'static str,
    /// The most connections open at once; connections beyond it are closed as soon as accepted.
    pub(crate) max_connections: usize,
    /// How long the loop waits for open connections after the stop signal before cutting them.
    pub(crate) shutdown_timeout: Duration,
}

/// Accepts connections until the stop signal, then waits (bounded) for the connection tasks.
///
/// `connections` counts the open connections: each admitted one holds it up until its task ends or
/// is aborted. `admitted` hears of every accepted connection, admitted or refused, before anything
/// else happens to it. `serve` answers one connection; it gets a receiver of the stop signal.
pub(crate) async fn accept_loop<A, S, F>(
    listener: TcpListener,
    mut stopped: watch::Receiver<bool>,
    limits: Limits,
    connections: Gauge,
    mut admitted: A,
    serve: S,
) where
    A: FnMut(Admission),
    S: Fn(TcpStream, watch::Receiver<bool>) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let for_connections = stopped.clone();
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            // A dropped sender (the server is gone) also ends the loop.
            _ = stop_signal(&mut stopped) => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    if connections.get() >= limits.max_connections {
                        admitted(Admission::Refused);
                        drop(stream);
                        continue;
                    }
                    admitted(Admission::Admitted);
                    // Counted before the task first runs, and released even if it never does.
                    let open = connections.enter();
                    let _ = stream.set_nodelay(true);
                    let connection = serve(stream, for_connections.clone());
                    tasks.spawn(async move {
                        let _open = open;
                        connection.await;
                    });
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::debug!(%error, "{}: accept failed", limits.server);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
    drop(listener);
    let drain = async { while tasks.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(limits.shutdown_timeout, drain).await;
    tasks.shutdown().await;
}
