//! Error classification: which errors are worth retrying.

use std::fmt::Debug;
use std::hash::Hash;
use std::io;
use std::time::Duration;

/// Whether an error is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The same call may succeed if tried again: a dropped connection, a timeout, a rate limit.
    Transient,
    /// Trying again will fail the same way: a bad request, a missing resource.
    Permanent,
}

impl ErrorClass {
    /// Returns `true` for [`ErrorClass::Transient`].
    #[inline]
    pub const fn is_transient(self) -> bool {
        matches!(self, ErrorClass::Transient)
    }
}

/// An error that knows its kind, its class, and possibly how long the server asked to wait.
///
/// Usually derived with `#[derive(Classify)]`; see the crate README. The `#[retryable]` attribute
/// retries the errors whose [`class`](Classify::class) is [`ErrorClass::Transient`], or exactly the
/// kinds listed in its `on = [..]` key.
///
/// ```
/// use retry_runtime::{Classify, ErrorClass};
/// use std::time::Duration;
///
/// #[derive(Debug)]
/// enum FetchError { Busy { wait: Duration }, NotFound }
///
/// #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
/// enum FetchErrorKind { Busy, NotFound }
///
/// impl Classify for FetchError {
///     type Kind = FetchErrorKind;
///     fn kind(&self) -> FetchErrorKind {
///         match self { FetchError::Busy { .. } => FetchErrorKind::Busy, FetchError::NotFound => FetchErrorKind::NotFound }
///     }
///     fn class(&self) -> ErrorClass {
///         match self { FetchError::Busy { .. } => ErrorClass::Transient, FetchError::NotFound => ErrorClass::Permanent }
///     }
///     fn retry_after(&self) -> Option<Duration> {
///         match self { FetchError::Busy { wait } => Some(*wait), FetchError::NotFound => None }
///     }
/// }
///
/// assert!(FetchError::Busy { wait: Duration::from_secs(1) }.class().is_transient());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `Classify`, so the retry loop cannot tell transient errors from permanent ones",
    label = "this error type needs `Classify`",
    note = "add `#[derive(Classify)]` to `{Self}`, or decide per error with `#[retryable(when = path::to::fn)]`"
)]
pub trait Classify {
    /// A fieldless enum naming the error's variants; `#[retryable(on = [..])]` lists these.
    type Kind: Copy + Eq + Hash + Debug + Send + Sync + 'static;

    /// The kind of this error.
    fn kind(&self) -> Self::Kind;

    /// Whether this error is worth retrying.
    fn class(&self) -> ErrorClass;

    /// How long the server asked to wait before the next try (HTTP `Retry-After`), if it did.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// `io::Error` is classified by its [`io::ErrorKind`]: connection refused, reset or aborted, not
/// connected, broken pipe, timed out, interrupted, would block and unexpected EOF are transient;
/// everything else is permanent.
impl Classify for io::Error {
    type Kind = io::ErrorKind;

    #[inline]
    fn kind(&self) -> io::ErrorKind {
        io::Error::kind(self)
    }

    fn class(&self) -> ErrorClass {
        use io::ErrorKind::*;
        match io::Error::kind(self) {
            ConnectionRefused | ConnectionReset | ConnectionAborted | NotConnected | BrokenPipe
            | TimedOut | Interrupted | WouldBlock | UnexpectedEof => ErrorClass::Transient,
            _ => ErrorClass::Permanent,
        }
    }
}

impl<E: Classify + ?Sized> Classify for Box<E> {
    type Kind = E::Kind;

    #[inline]
    fn kind(&self) -> Self::Kind {
        (**self).kind()
    }

    #[inline]
    fn class(&self) -> ErrorClass {
        (**self).class()
    }

    #[inline]
    fn retry_after(&self) -> Option<Duration> {
        (**self).retry_after()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_classified_by_kind() {
        let transient = [
            io::ErrorKind::ConnectionRefused,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::ConnectionAborted,
            io::ErrorKind::NotConnected,
            io::ErrorKind::BrokenPipe,
            io::ErrorKind::TimedOut,
            io::ErrorKind::Interrupted,
            io::ErrorKind::WouldBlock,
            io::ErrorKind::UnexpectedEof,
        ];
        for kind in transient {
            let e = io::Error::from(kind);
            assert_eq!(e.class(), ErrorClass::Transient, "{kind:?}");
            assert_eq!(Classify::kind(&e), kind);
        }
        for kind in [io::ErrorKind::NotFound, io::ErrorKind::PermissionDenied, io::ErrorKind::InvalidData] {
            assert_eq!(io::Error::from(kind).class(), ErrorClass::Permanent, "{kind:?}");
        }
        assert_eq!(io::Error::from(io::ErrorKind::TimedOut).retry_after(), None);
    }
}
