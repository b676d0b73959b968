//! Why a dashboard could not start.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Why [`DashboardBuilder::start`](super::DashboardBuilder::start) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum DashboardError {
    /// The address is not a loopback address (`127.0.0.0/8` or `::1`) and
    /// [`allow_non_loopback`](super::DashboardBuilder::allow_non_loopback) was not set: the
    /// dashboard has no authentication, so it stays on this machine unless told otherwise.
    NotLoopback {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The sampling interval is outside the accepted range.
    Interval {
        /// The interval asked for.
        interval: Duration,
    },
    /// The rate window is shorter than the sampling interval, or longer than the history kept.
    Window {
        /// The window asked for.
        window: Duration,
    },
    /// Binding the listening socket failed.
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        source: io::Error,
    },
}

impl fmt::Display for DashboardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DashboardError::NotLoopback { addr } => write!(
                f,
                "dashboard address {addr} is not a loopback address (use 127.0.0.1 or ::1, \
                 or allow_non_loopback to serve beyond this machine)"
            ),
            DashboardError::Interval { interval } => {
                write!(f, "dashboard interval {interval:?} is outside 50ms..=60s")
            }
            DashboardError::Window { window } => {
                write!(f, "dashboard window {window:?} must be at least the interval and at most 120s")
            }
            DashboardError::Bind { addr, .. } => write!(f, "dashboard could not bind {addr}"),
        }
    }
}

impl std::error::Error for DashboardError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DashboardError::Bind { source, .. } => Some(source),
            _ => None,
        }
    }
}
