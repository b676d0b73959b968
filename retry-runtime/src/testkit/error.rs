//! Why a fault server could not start.

use std::fmt;
use std::io;
use std::net::SocketAddr;

/// Why [`FaultServerBuilder::start`](super::FaultServerBuilder::start) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum TestkitError {
    /// The address is not a loopback address (`127.0.0.0/8` or `::1`): the fault server never listens
    /// beyond this machine.
    NotLoopback {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// Binding the listening socket failed.
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        source: io::Error,
    },
}

impl fmt::Display for TestkitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestkitError::NotLoopback { addr } => {
                write!(f, "fault server address {addr} is not a loopback address (use 127.0.0.1 or ::1)")
            }
            TestkitError::Bind { addr, .. } => write!(f, "fault server could not bind {addr}"),
        }
    }
}

impl std::error::Error for TestkitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TestkitError::NotLoopback { .. } => None,
            TestkitError::Bind { source, .. } => Some(source),
        }
    }
}
