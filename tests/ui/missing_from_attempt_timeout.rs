use retry_runtime::{retryable, Classify};

#[derive(Debug, Classify)]
enum FetchError {
    #[transient]
    Unavailable,
}

#[retryable(max = 3, attempt_timeout = "1s")]
async fn fetch() -> Result<(), FetchError> {
    Ok(())
}

fn main() {}
