//! `#[derive(Classify)]`: markers, Retry-After fields, delegation, defaults, structs, generics.

use retry_runtime::{Classify, ErrorClass};
use std::io;
use std::time::Duration;

fn http_class(e: &DaggerError) -> ErrorClass {
    match e {
        DaggerError::Http { status } if *status >= 500 || *status == 429 => ErrorClass::Transient,
        _ => ErrorClass::Permanent,
    }
}

#[derive(Debug, Classify, thiserror::Error)]
pub enum DaggerError {
    #[transient]
    #[error("connection failed: {0}")]
    ConnectionError(#[source] io::Error),
    #[transient]
    #[error("timed out")]
    TimeoutError,
    #[transient(retry_after = wait)]
    #[error("rate limited")]
    RateLimited { wait: Option<Duration> },
    #[transient(retry_after = 0)]
    #[error("busy")]
    Busy(Duration, u16),
    #[classify(with = http_class)]
    #[error("http status {status}")]
    Http { status: u16 },
    #[classify(source)]
    #[error("io: {0}")]
    Io(io::Error),
    #[classify(source = inner)]
    #[error("wrapped")]
    Wrapped { context: String, inner: io::Error },
    #[permanent]
    #[error("invalid pipeline: {0}")]
    InvalidPipeline(String),
    #[error("unmarked")]
    Unmarked,
}

#[test]
fn markers_decide_the_class() {
    use DaggerError::*;
    assert_eq!(ConnectionError(io::ErrorKind::Other.into()).class(), ErrorClass::Transient);
    assert_eq!(TimeoutError.class(), ErrorClass::Transient);
    assert_eq!(InvalidPipeline("x".into()).class(), ErrorClass::Permanent);
    assert_eq!(Unmarked.class(), ErrorClass::Permanent, "unmarked variants are permanent by default");
}

#[test]
fn retry_after_reads_duration_and_option_fields() {
    let wait = Duration::from_secs(2);
    assert_eq!(DaggerError::RateLimited { wait: Some(wait) }.retry_after(), Some(wait));
    assert_eq!(DaggerError::RateLimited { wait: None }.retry_after(), None);
    assert_eq!(DaggerError::Busy(wait, 1).retry_after(), Some(wait), "tuple field by index");
    assert_eq!(DaggerError::TimeoutError.retry_after(), None);
}

#[test]
fn with_decides_from_context() {
    assert_eq!(DaggerError::Http { status: 503 }.class(), ErrorClass::Transient);
    assert_eq!(DaggerError::Http { status: 404 }.class(), ErrorClass::Permanent);
}

#[test]
fn source_delegates_to_the_field() {
    assert_eq!(DaggerError::Io(io::ErrorKind::ConnectionReset.into()).class(), ErrorClass::Transient);
    assert_eq!(DaggerError::Io(io::ErrorKind::NotFound.into()).class(), ErrorClass::Permanent);
    let wrapped = DaggerError::Wrapped { context: "x".into(), inner: io::ErrorKind::TimedOut.into() };
    assert_eq!(wrapped.class(), ErrorClass::Transient);
}

#[test]
fn kind_enum_has_one_variant_per_variant() {
    assert_eq!(DaggerError::Http { status: 1 }.kind(), DaggerErrorKind::Http);
    assert_eq!(DaggerError::Unmarked.kind(), DaggerErrorKind::Unmarked);
    assert_eq!(DaggerErrorKind::ConnectionError.as_str(), "ConnectionError");
    assert_eq!(format!("{}", DaggerErrorKind::RateLimited), "RateLimited");
    let set: std::collections::HashSet<DaggerErrorKind> = [DaggerErrorKind::Io, DaggerErrorKind::Io].into();
    assert_eq!(set.len(), 1);
}

#[derive(Debug, Classify)]
#[classify(default = transient)]
enum MostlyTransient {
    Flaky,
    #[permanent]
    Fatal,
}

#[test]
fn default_changes_unmarked_variants() {
    assert_eq!(MostlyTransient::Flaky.class(), ErrorClass::Transient);
    assert_eq!(MostlyTransient::Fatal.class(), ErrorClass::Permanent);
}

#[derive(Debug, Classify)]
#[transient(retry_after = wait)]
pub struct Throttled {
    wait: Duration,
}

#[derive(Debug, Classify)]
#[permanent]
struct Rejected(#[allow(dead_code)] String);

#[test]
fn structs_take_a_marker_on_the_struct() {
    let t = Throttled { wait: Duration::from_millis(300) };
    assert_eq!(t.class(), ErrorClass::Transient);
    assert_eq!(t.retry_after(), Some(Duration::from_millis(300)));
    assert_eq!(t.kind(), ThrottledKind::Throttled);
    assert_eq!(Rejected("no".into()).class(), ErrorClass::Permanent);
}

#[derive(Debug, Classify)]
enum Generic<E: std::fmt::Debug> {
    #[classify(source)]
    Inner(E),
    #[transient]
    Other,
}

#[test]
fn generic_error_types() {
    let e: Generic<io::Error> = Generic::Inner(io::ErrorKind::BrokenPipe.into());
    assert_eq!(e.class(), ErrorClass::Transient);
    assert_eq!(Generic::<io::Error>::Other.kind(), GenericKind::Other);
}

mod renamed {
    pub use retry_runtime as runtime;
}

#[derive(Debug, Classify)]
#[classify(crate = renamed::runtime)]
enum ViaRenamedCrate {
    #[transient]
    A,
}

#[test]
fn crate_path_can_be_overridden() {
    assert_eq!(ViaRenamedCrate::A.class(), ErrorClass::Transient);
}
