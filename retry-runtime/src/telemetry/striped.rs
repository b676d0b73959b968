//! A counter that the success path bumps without a locked instruction.
//!
//! Each of the first [`STRIPES`] threads that counts gets a stripe of its own, which only it
//! writes: a relaxed load and store, no read-modify-write. Later threads share one overflow stripe
//! and add to it atomically. A snapshot sums the stripes.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Threads with a stripe of their own.
const STRIPES: usize = 16;

/// Not yet given a stripe.
const UNASSIGNED: usize = usize::MAX;

/// Stripes handed out so far, process-wide.
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's stripe: below `STRIPES` it owns it; `STRIPES` means the shared overflow.
    static STRIPE: Cell<usize> = const { Cell::new(UNASSIGNED) };
}

/// A counter striped by thread.
#[derive(Debug)]
pub(crate) struct StripedCounter {
    own: [AtomicU64; STRIPES],
    shared: AtomicU64,
}

impl StripedCounter {
    pub(crate) const fn new() -> Self {
        StripedCounter { own: [const { AtomicU64::new(0) }; STRIPES], shared: AtomicU64::new(0) }
    }

    /// Adds one.
    #[inline(always)]
    pub(crate) fn increment(&self) {
        let stripe = STRIPE.with(Cell::get);
        match self.own.get(stripe) {
            // Only this thread writes its stripe, so a plain load and store cannot lose a count.
            Some(own) => own.store(own.load(Relaxed) + 1, Relaxed),
            None => self.increment_slow(stripe),
        }
    }

    #[cold]
    #[inline(never)]
    fn increment_slow(&self, stripe: usize) {
        if stripe == UNASSIGNED {
            let assigned = NEXT_STRIPE.fetch_add(1, Relaxed).min(STRIPES);
            STRIPE.with(|s| s.set(assigned));
            return self.increment();
        }
        self.shared.fetch_add(1, Relaxed);
    }

    /// The total.
    pub(crate) fn get(&self) -> u64 {
        self.own.iter().map(|s| s.load(Relaxed)).sum::<u64>() + self.shared.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_many_threads_add_up() {
        static COUNTER: StripedCounter = StripedCounter::new();
        let threads: Vec<_> = (0..40)
            .map(|_| {
                std::thread::spawn(|| {
                    for _ in 0..1000 {
                        COUNTER.increment();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(COUNTER.get(), 40_000);
    }
}
