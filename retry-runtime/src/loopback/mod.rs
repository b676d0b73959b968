//! What the crate's two loopback HTTP servers share: the address check, the stop signal, the
//! accept loop with its connection cap, and a few HTTP/1.1 basics.
//!
//! The fault server (`testkit`) and the dashboard (`dashboard`) each keep their own request parser:
//! the fault server's is a strict, keep-alive HTTP/1.1 with bodies that feeds fault injection, the
//! dashboard's a one-request `GET`/`HEAD` reader. Only what means the same thing to both lives here.

pub(crate) mod accept;
pub(crate) mod http;

use std::net::SocketAddr;

use tokio::sync::watch;

/// Whether `addr` is on this machine only: `127.0.0.0/8` or `::1`.
pub(crate) fn is_loopback(addr: SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// Resolves once the server is told to stop, or once the server's handle is gone.
pub(crate) async fn stop_signal(stopped: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: drop it here, not in the caller's `select!`.
    let _ = stopped.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_127_slash_8_and_ipv6_one() {
        assert!(is_loopback(([127, 0, 0, 1], 80).into()));
        assert!(is_loopback(([127, 3, 2, 1], 0).into()));
        assert!(is_loopback((std::net::Ipv6Addr::LOCALHOST, 0).into()));
        assert!(!is_loopback(([0, 0, 0, 0], 80).into()));
        assert!(!is_loopback(([10, 0, 0, 1], 80).into()));
        assert!(!is_loopback((std::net::Ipv6Addr::UNSPECIFIED, 0).into()));
    }
}
