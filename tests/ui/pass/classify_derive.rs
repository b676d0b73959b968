use retry_runtime::{retryable, AttemptTimeout, Classify, ErrorClass};
use std::time::Duration;

fn http_class(e: &DaggerError) -> ErrorClass {
    match e {
        DaggerError::Http { status } if *status >= 500 => ErrorClass::Transient,
        _ => ErrorClass::Permanent,
    }
}

#[derive(Debug, Classify, thiserror::Error)]
pub enum DaggerError {
    #[transient]
    #[error("connection failed")]
    ConnectionError(#[source] std::io::Error),
    #[transient]
    #[error("timed out")]
    TimeoutError(#[from] AttemptTimeout),
    #[transient(retry_after = wait)]
    #[error("rate limited")]
    RateLimited { wait: Option<Duration> },
    #[classify(with = http_class)]
    #[error("http {status}")]
    Http { status: u16 },
    #[classify(source)]
    #[error("io")]
    Io(std::io::Error),
    #[permanent]
    #[error("invalid pipeline {0}")]
    InvalidPipeline(String),
}

#[retryable(max = 3, backoff = 0.5, jitter, on = [ConnectionError, TimeoutError], attempt_timeout = 5)]
async fn run_step(step: &str) -> Result<String, DaggerError> {
    Ok(step.to_owned())
}

fn main() {
    let _ = run_step("x");
    let _: DaggerErrorKind = DaggerErrorKind::Http;
}
