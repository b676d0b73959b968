//! The atomics the breaker uses: std's, or loom's under `--cfg loom` so that the model tests in
//! `tests/loom_breaker.rs` explore every interleaving of the breaker's own operations.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

/// Keeps `T` on its own cache lines (128 bytes: two lines, because Intel's spatial prefetcher
/// fetches lines in pairs), so that writes to one hot word do not slow down reads of another.
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;

    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Declares a `const fn`, or a plain `fn` under loom, whose atomics cannot be made in constants.
macro_rules! const_unless_loom {
    ($(#[$attr:meta])* $vis:vis fn $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$attr])* $vis const fn $($rest)*
        #[cfg(loom)]
        $(#[$attr])* $vis fn $($rest)*
    };
}
pub(crate) use const_unless_loom;
