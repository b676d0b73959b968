use retry_runtime::{retryable, CircuitBreaker, Classify};
use std::sync::LazyLock;

static BREAKER: LazyLock<CircuitBreaker> = LazyLock::new(CircuitBreaker::default);

#[derive(Debug, Classify)]
enum FetchError {
    #[transient]
    Unavailable,
}

#[retryable(max = 3, breaker = BREAKER)]
async fn fetch() -> Result<(), FetchError> {
    Ok(())
}

fn main() {}
