//! Sliding windows of recent calls: count-based (the last N calls) and time-based (the calls of
//! the last T, in buckets).
//!
//! Both are lock-free. The count-based window is a ring of N one-byte slots plus one packed word
//! of counts; once the window is full of successes, recording another success only reads that
//! word, so threads sharing a healthy breaker share its cache line instead of fighting over it.

use std::sync::OnceLock;

use super::sync::{AtomicU8, AtomicU32, AtomicU64, Ordering, Padded, const_unless_loom};

/// The largest count-based window.
pub(crate) const MAX_WINDOW_CALLS: u32 = 1 << 16;
/// The most buckets of a time-based window.
pub(crate) const MAX_BUCKETS: u32 = 1024;

/// What one call was, as stored in a slot: `RECORDED` plus any of `FAILED` and `SLOW`. An empty
/// slot is 0.
pub(crate) const RECORDED: u8 = 1;
pub(crate) const FAILED: u8 = 2;
pub(crate) const SLOW: u8 = 4;

/// How many calls a window holds, and how many of them failed or were slow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Counts {
    pub(crate) total: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

// The count-based window's counts word: `total:21 | failures:21 | slow:21`, each field biased by
// 2^20. Updates add the signed difference a slot write made (new outcome minus old) with one
// wrapping `fetch_add`; the bias keeps a field from borrowing from its neighbour if a difference
// lands before the one it compensates (two threads a whole lap apart on the same slot), so a
// reader never sees a torn, huge count. Fields hold at most 2^16 calls, far from the bias.
const FIELD_BITS: u32 = 21;
const FIELD_MASK: u64 = (1 << FIELD_BITS) - 1;
const BIAS: u64 = 1 << (FIELD_BITS - 1);
const EMPTY_COUNTS: u64 = BIAS | BIAS << FIELD_BITS | BIAS << (2 * FIELD_BITS);

/// The counts word's difference for adding a slot holding `bits`.
#[inline(always)]
const fn delta(bits: u8) -> u64 {
    (bits & RECORDED) as u64
        | (((bits & FAILED) >> 1) as u64) << FIELD_BITS
        | (((bits & SLOW) >> 2) as u64) << (2 * FIELD_BITS)
}

#[inline]
const fn unbias(word: u64, field: u32) -> u64 {
    ((word >> (field * FIELD_BITS)) & FIELD_MASK).saturating_sub(BIAS)
}

const fn decode(word: u64) -> Counts {
    Counts { total: unbias(word, 0), failures: unbias(word, 1), slow: unbias(word, 2) }
}

/// The last `len` calls.
pub(crate) struct CountWindow {
    /// The packed counts; see `EMPTY_COUNTS`.
    counts: AtomicU64,
    /// `counts` when the window is full of plain successes: the fast path's test.
    full_of_successes: u64,
    len: u32,
    /// The ring, allocated by the builder, or on first need for a breaker made by a `const fn`.
    slots: OnceLock<Box<[AtomicU8]>>,
    /// The next slot to write, modulo `len`. Written by every call that is not a success into a
    /// window full of successes; on its own cache lines so that those writes do not slow down the
    /// reads of `counts`.
    next: Padded<AtomicU32>,
}

impl CountWindow {
    pub(crate) fn new(len: u32) -> CountWindow {
        let w = CountWindow::with_len(len);
        let _ = w.slots.set(Self::ring(len));
        w
    }

    fn ring(len: u32) -> Box<[AtomicU8]> {
        (0..len).map(|_| AtomicU8::new(0)).collect()
    }

    const_unless_loom! {
        /// A window whose ring is allocated on first need, for a breaker made by a `const fn`.
        pub(crate) fn lazy(len: u32) -> CountWindow {
            CountWindow::with_len(len)
        }
    }

    const_unless_loom! {
        fn with_len(len: u32) -> CountWindow {
            CountWindow {
                counts: AtomicU64::new(EMPTY_COUNTS),
                full_of_successes: EMPTY_COUNTS + len as u64,
                len,
                slots: OnceLock::new(),
                next: Padded(AtomicU32::new(0)),
            }
        }
    }

    #[inline]
    fn slots(&self) -> &[AtomicU8] {
        self.slots.get_or_init(|| Self::ring(self.len))
    }

    /// Whether the window holds `len` calls, all plain successes.
    ///
    /// Recording another success then leaves it the same multiset of outcomes, and the order of
    /// identical slots does not matter: there is nothing to write.
    #[inline(always)]
    pub(crate) fn is_full_of_successes(&self) -> bool {
        self.counts.load(Ordering::Relaxed) == self.full_of_successes
    }

    /// Records one call; returns the window's counts after it, or `None` when recording changed
    /// nothing (a success into a window full of successes).
    pub(crate) fn record(&self, bits: u8) -> Option<Counts> {
        if bits == RECORDED && self.is_full_of_successes() {
            return None;
        }
        self.write(bits)
    }

    fn write(&self, bits: u8) -> Option<Counts> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.len;
        let slot = &self.slots()[i as usize];
        // Writing an outcome over the same outcome changes nothing: it can take effect at the
        // load, and spare the read-modify-write (most writes are a success over a success).
        let seen = slot.load(Ordering::Acquire);
        let old = if seen == bits { seen } else { slot.swap(bits, Ordering::AcqRel) };
        let d = delta(bits).wrapping_sub(delta(old));
        let word = if d == 0 {
            self.counts.load(Ordering::Acquire)
        } else {
            self.counts.fetch_add(d, Ordering::AcqRel).wrapping_add(d)
        };
        Some(decode(word))
    }

    /// Empties the window. Each slot is emptied by a `swap`, and the counts lose exactly what the
    /// swaps took out, so a clear racing with a late writer never leaves the counts out of step
    /// with the slots.
    pub(crate) fn clear(&self) {
        let Some(slots) = self.slots.get() else {
            return;
        };
        let mut removed = 0u64;
        for slot in slots.iter() {
            if slot.load(Ordering::Relaxed) != 0 {
                removed = removed.wrapping_add(delta(slot.swap(0, Ordering::AcqRel)));
            }
        }
        if removed != 0 {
            self.counts.fetch_sub(removed, Ordering::AcqRel);
        }
    }

    pub(crate) fn counts(&self) -> Counts {
        decode(self.counts.load(Ordering::Acquire))
    }
}

// A time-based bucket: `tag:16 | total:16 | failures:16 | slow:16` in one word, updated by CAS, so
// rolling a bucket over to a new period and counting a call in it cannot lose each other's writes.
// The tag is the bucket's period number modulo 2^16.
const TAG_SHIFT: u32 = 48;
const COUNT_MASK: u64 = 0xFFFF;
const TAG_MASK: u64 = 0xFFFF;

/// The calls of the last `buckets * bucket_nanos`.
pub(crate) struct TimeWindow {
    bucket_nanos: u64,
    /// One more than the latest period any call was recorded in; 0 before the first call.
    latest: AtomicU64,
    buckets: Box<[AtomicU64]>,
}

impl TimeWindow {
    pub(crate) fn new(bucket_nanos: u64, buckets: u32) -> TimeWindow {
        TimeWindow {
            bucket_nanos: bucket_nanos.max(1),
            latest: AtomicU64::new(0),
            buckets: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    #[inline]
    fn period(&self, nanos: u64) -> u64 {
        nanos / self.bucket_nanos
    }

    /// Records one call made `nanos` after the breaker's origin; returns the window's counts when
    /// the call could change the verdict (a failure or a slow call).
    pub(crate) fn record(&self, nanos: u64, bits: u8) -> Option<Counts> {
        let period = self.period(nanos);
        if self.latest.load(Ordering::Acquire) <= period {
            self.advance(period);
        }
        let tag = period & TAG_MASK;
        let bucket = &self.buckets[(period % self.buckets.len() as u64) as usize];
        let add = delta16(bits);
        let mut word = bucket.load(Ordering::Relaxed);
        loop {
            let current = word >> TAG_SHIFT;
            let new = if current == tag {
                if word & COUNT_MASK == COUNT_MASK {
                    break; // full: the bucket's rates are those of its first 65,535 calls
                }
                word + add
            } else if word == 0 || older16(current, tag) {
                tag << TAG_SHIFT | add
            } else {
                break; // a newer period already owns the bucket: this call is late, drop it
            };
            match bucket.compare_exchange_weak(word, new, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => break,
                Err(w) => word = w,
            }
        }
        (bits & (FAILED | SLOW) != 0).then(|| self.counts(nanos))
    }

    /// The first call of a new period empties the buckets of the periods that saw no call since
    /// the previous one, so that a bucket's 16-bit tag can never come round again and pass stale
    /// calls off as fresh.
    #[cold]
    fn advance(&self, period: u64) {
        let prev = self.latest.fetch_max(period + 1, Ordering::AcqRel);
        if prev > period || prev == 0 {
            return;
        }
        // Periods `prev..period` saw no call.
        let n = self.buckets.len() as u64;
        if period - prev + 1 >= n {
            self.clear();
            return;
        }
        for q in prev..period {
            let bucket = &self.buckets[(q % n) as usize];
            let word = bucket.load(Ordering::Relaxed);
            if word != 0 && word >> TAG_SHIFT != q & TAG_MASK {
                let _ = bucket.compare_exchange(word, 0, Ordering::AcqRel, Ordering::Relaxed);
            }
        }
    }

    /// The counts of the buckets of the window ending at `nanos`.
    pub(crate) fn counts(&self, nanos: u64) -> Counts {
        let period = self.period(nanos);
        let n = self.buckets.len() as u64;
        let mut counts = Counts::default();
        for back in 0..n.min(period + 1) {
            let p = period - back;
            let word = self.buckets[(p % n) as usize].load(Ordering::Acquire);
            if word >> TAG_SHIFT == p & TAG_MASK {
                counts.total += word & COUNT_MASK;
                counts.failures += (word >> 16) & COUNT_MASK;
                counts.slow += (word >> 32) & COUNT_MASK;
            }
        }
        counts
    }

    pub(crate) fn clear(&self) {
        for bucket in self.buckets.iter() {
            bucket.store(0, Ordering::Release);
        }
    }
}

#[inline]
const fn delta16(bits: u8) -> u64 {
    (bits & RECORDED) as u64 | (((bits & FAILED) >> 1) as u64) << 16 | (((bits & SLOW) >> 2) as u64) << 32
}

/// Whether 16-bit period tag `a` is older than `b` (modular).
#[inline]
const fn older16(a: u64, b: u64) -> bool {
    let d = b.wrapping_sub(a) & TAG_MASK;
    d != 0 && d < 1 << 15
}

/// The window of a breaker.
// One per breaker, so its size does not matter; boxing the count window would put a pointer chase
// on the hot path.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    pub(crate) fn clear(&self) {
        match self {
            Window::Count(w) => w.clear(),
            Window::Time(w) => w.clear(),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn c(total: u64, failures: u64, slow: u64) -> Counts {
        Counts { total, failures, slow }
    }

    #[test]
    fn count_window_keeps_the_last_n_calls() {
        let w = CountWindow::new(3);
        assert_eq!(w.record(RECORDED | FAILED), Some(c(1, 1, 0)));
        assert_eq!(w.record(RECORDED), Some(c(2, 1, 0)));
        assert_eq!(w.record(RECORDED | SLOW), Some(c(3, 1, 1)));
        // The failure leaves as the fourth call comes in.
        assert_eq!(w.record(RECORDED), Some(c(3, 0, 1)));
        assert_eq!(w.record(RECORDED), Some(c(3, 0, 1)));
        assert_eq!(w.record(RECORDED), Some(c(3, 0, 0)));
        // Full of successes: the fast path writes nothing.
        assert_eq!(w.record(RECORDED), None);
        assert_eq!(w.record(RECORDED | FAILED), Some(c(3, 1, 0)));
        w.clear();
        assert_eq!(w.counts(), c(0, 0, 0));
        assert_eq!(w.record(RECORDED), Some(c(1, 0, 0)));
    }

    #[test]
    fn a_lazy_count_window_allocates_on_first_write() {
        let w = CountWindow::lazy(2);
        w.clear();
        assert_eq!(w.record(RECORDED | FAILED), Some(c(1, 1, 0)));
        assert_eq!(w.slots.get().map(|s| s.len()), Some(2));
    }

    #[test]
    fn time_window_forgets_old_buckets() {
        let w = TimeWindow::new(10, 3);
        assert_eq!(w.record(0, RECORDED | FAILED), Some(c(1, 1, 0)));
        assert_eq!(w.record(15, RECORDED), None);
        assert_eq!(w.counts(25), c(2, 1, 0));
        // At 30 the window covers periods 1..=3: the failure of period 0 is gone.
        assert_eq!(w.counts(30), c(1, 0, 0));
        assert_eq!(w.record(30, RECORDED | SLOW), Some(c(2, 0, 1)));
        assert_eq!(w.counts(10 * 65_536 + 30), c(0, 0, 0));
    }

    #[test]
    fn a_bucket_tag_that_comes_round_again_is_not_mistaken_for_fresh() {
        let w = TimeWindow::new(10, 2);
        w.record(0, RECORDED | FAILED);
        w.record(10, RECORDED | FAILED);
        // 65,536 periods later both tags are current again; the calls are not.
        assert_eq!(w.record(10 * 65_536, RECORDED | FAILED), Some(c(1, 1, 0)));
        assert_eq!(w.record(10 * 65_537, RECORDED | FAILED), Some(c(2, 2, 0)));
    }

    #[test]
    fn periods_without_calls_are_emptied() {
        let w = TimeWindow::new(10, 4);
        for period in 0..4 {
            w.record(period * 10, RECORDED | FAILED);
        }
        // Period 6 skips 4 and 5, whose buckets held periods 0 and 1: emptied.
        assert_eq!(w.record(60, RECORDED | FAILED), Some(c(2, 2, 0)));
        assert_eq!(w.buckets[0].load(Ordering::Relaxed), 0);
        assert_eq!(w.buckets[1].load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_late_call_does_not_clobber_a_newer_bucket() {
        let w = TimeWindow::new(10, 2);
        w.record(25, RECORDED);
        // Period 0 maps to the same bucket as period 2, which is newer: dropped.
        w.record(5, RECORDED | FAILED);
        assert_eq!(w.counts(25), c(1, 0, 0));
    }

    #[test]
    fn a_full_bucket_stops_counting() {
        let w = TimeWindow::new(10, 1);
        for _ in 0..70_000 {
            w.record(0, RECORDED);
        }
        assert_eq!(w.counts(0), c(65_535, 0, 0));
    }
}
