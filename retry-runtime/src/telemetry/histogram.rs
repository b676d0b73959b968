//! A fixed-bucket histogram of retry delays.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the delay buckets, in milliseconds; a last bucket holds everything above.
pub const DELAY_BUCKETS_MS: [f64; 14] =
    [0.0, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0, 30_000.0];

/// Delays recorded into [`DELAY_BUCKETS_MS`] (plus one overflow bucket), with their sum.
#[derive(Debug)]
pub(crate) struct Histogram {
    counts: [AtomicU64; DELAY_BUCKETS_MS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    pub(crate) const fn new() -> Self {
        Histogram {
            counts: [const { AtomicU64::new(0) }; DELAY_BUCKETS_MS.len() + 1],
            sum_micros: AtomicU64::new(0),
        }
    }

    pub(crate) fn record(&self, delay: Duration) {
        let ms = delay.as_secs_f64() * 1000.0;
        let bucket = DELAY_BUCKETS_MS.iter().position(|&bound| ms <= bound).unwrap_or(DELAY_BUCKETS_MS.len());
        self.counts[bucket].fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(u64::try_from(delay.as_micros()).unwrap_or(u64::MAX), Relaxed);
    }

    pub(crate) fn snapshot(&self) -> DelayHistogram {
        DelayHistogram {
            counts: self.counts.iter().map(|c| c.load(Relaxed)).collect(),
            sum: Duration::from_micros(self.sum_micros.load(Relaxed)),
        }
    }
}

/// A snapshot of a delay histogram.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DelayHistogram {
    /// Delays per bucket: `counts[i]` for delays up to `DELAY_BUCKETS_MS[i]` (and above the previous
    /// bound); the last entry counts delays above every bound.
    pub counts: Vec<u64>,
    /// The sum of all delays.
    pub sum: Duration,
}

impl DelayHistogram {
    /// The number of delays recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}
