//! The error of an attempt that ran past its time limit.

use std::fmt;

/// An attempt ran longer than the policy's `attempt_timeout` and was cancelled.
///
/// The retry loop turns it into the function's error type with `E::from(AttemptTimeout)`, then
/// judges it like any other error: mark that variant `#[transient]` (or list its kind in `on`) to
/// retry timed-out attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AttemptTimeout;

impl fmt::Display for AttemptTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("attempt timed out")
    }
}

impl std::error::Error for AttemptTimeout {}

/// A timed-out attempt is worth retrying.
impl crate::Classify for AttemptTimeout {
    type Kind = AttemptTimeout;

    fn kind(&self) -> AttemptTimeout {
        AttemptTimeout
    }

    fn class(&self) -> crate::ErrorClass {
        crate::ErrorClass::Transient
    }
}

/// A timed-out attempt of an I/O operation is an `io::Error` of kind
/// [`TimedOut`](std::io::ErrorKind::TimedOut) (transient), wrapping the [`AttemptTimeout`].
impl From<AttemptTimeout> for std::io::Error {
    fn from(timeout: AttemptTimeout) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, timeout)
    }
}
