//! Retries counted by error kind, lock-free: a small open-addressed table keyed by the kind's hash.

use std::fmt::{Debug, Write as _};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Kinds tracked per function; further kinds are counted under `"other"`.
const SLOTS: usize = 16;

#[derive(Debug)]
struct Slot {
    /// The kind's hash; 0 while free.
    hash: AtomicU64,
    count: AtomicU64,
    label: OnceLock<Box<str>>,
}

/// Retries per error kind.
#[derive(Debug)]
pub(crate) struct KindCounts {
    slots: [Slot; SLOTS],
    other: AtomicU64,
}

impl KindCounts {
    pub(crate) const fn new() -> Self {
        KindCounts {
            slots: [const { Slot { hash: AtomicU64::new(0), count: AtomicU64::new(0), label: OnceLock::new() } };
                SLOTS],
            other: AtomicU64::new(0),
        }
    }

    /// Counts one retry of the kind with this hash; `kind` names it the first time it is seen.
    pub(crate) fn record(&self, hash: u64, kind: &dyn Debug) {
        let hash = hash.max(1);
        let start = (hash as usize) % SLOTS;
        for i in 0..SLOTS {
            let slot = &self.slots[(start + i) % SLOTS];
            let current = slot.hash.load(Relaxed);
            let owned = current == hash
                || (current == 0
                    && match slot.hash.compare_exchange(0, hash, Relaxed, Relaxed) {
                        Ok(_) => true,
                        Err(now) => now == hash,
                    });
            if owned {
                slot.label.get_or_init(|| {
                    let mut label = String::new();
                    let _ = write!(label, "{kind:?}");
                    label.into_boxed_str()
                });
                slot.count.fetch_add(1, Relaxed);
                return;
            }
        }
        self.other.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Vec<(String, u64)> {
        let mut kinds: Vec<(String, u64)> = self
            .slots
            .iter()
            .filter_map(|slot| {
                let label = slot.label.get()?;
                Some((label.to_string(), slot.count.load(Relaxed)))
            })
            .collect();
        let other = self.other.load(Relaxed);
        if other > 0 {
            kinds.push(("other".to_owned(), other));
        }
        kinds.sort();
        kinds
    }
}

/// A fast hash of a kind (FxHash's mixing), for [`KindCounts::record`].
#[derive(Default)]
pub(crate) struct KindHasher(u64);

impl std::hash::Hasher for KindHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_isize(&mut self, n: isize) {
        self.write_u64(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_kind_and_overflows_into_other() {
        let counts = KindCounts::new();
        counts.record(7, &"Busy");
        counts.record(7, &"Busy");
        counts.record(9, &"Reset");
        for i in 100..120u64 {
            counts.record(i, &i);
        }
        let snap = counts.snapshot();
        assert!(snap.contains(&("\"Busy\"".to_owned(), 2)));
        assert!(snap.contains(&("\"Reset\"".to_owned(), 1)));
        assert_eq!(snap.iter().map(|(_, n)| n).sum::<u64>(), 23);
        assert!(snap.iter().any(|(k, _)| k == "other"));
    }
}
