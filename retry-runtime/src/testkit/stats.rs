//! What the fault server saw: request counts per fault, arrival times, connections.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::fault::FaultKind;

/// A snapshot of what a [`FaultServer`](super::FaultServer) has seen since it started or since
/// [`reset_stats`](super::FaultServer::reset_stats).
///
/// Requests the server refused before they reached the fault plan (malformed, too large) are counted in
/// `rejected`, not in `requests`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Requests that reached the fault plan.
    pub requests: u64,
    /// How many requests got each kind of fault; kinds no request got are absent.
    pub per_fault: BTreeMap<FaultKind, u64>,
    /// One record per request, in arrival order.
    pub log: Vec<RequestRecord>,
    /// Requests refused as malformed or over a size limit (answered 4xx/5xx, then closed).
    pub rejected: u64,
    /// Connections accepted.
    pub connections_accepted: u64,
    /// Connections closed at once because the server already had its maximum.
    pub connections_refused: u64,
}

impl Stats {
    /// How many requests got a fault of this kind.
    pub fn count(&self, kind: FaultKind) -> u64 {
        self.per_fault.get(&kind).copied().unwrap_or(0)
    }

    /// The kinds of fault the requests got, in arrival order.
    pub fn faults(&self) -> Vec<FaultKind> {
        self.log.iter().map(|record| record.fault).collect()
    }

    /// The time between each request's arrival and the next one's: the delays a retrying client slept.
    pub fn arrival_gaps(&self) -> Vec<Duration> {
        self.log.windows(2).map(|pair| pair[1].at.saturating_duration_since(pair[0].at)).collect()
    }

    pub(crate) fn record(&mut self, fault: FaultKind, method: &str, path: &str) {
        let index = self.requests;
        self.requests += 1;
        *self.per_fault.entry(fault).or_insert(0) += 1;
        self.log.push(RequestRecord {
            index,
            at: Instant::now(),
            fault,
            method: method.to_owned(),
            path: path.to_owned(),
        });
    }
}

/// One request the fault server received.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestRecord {
    /// The request's number, from 0, in arrival order.
    pub index: u64,
    /// When the request had fully arrived, on tokio's clock (which a paused-time test controls).
    pub at: Instant,
    /// The fault it got.
    pub fault: FaultKind,
    /// Its method.
    pub method: String,
    /// Its path, without the query.
    pub path: String,
}
