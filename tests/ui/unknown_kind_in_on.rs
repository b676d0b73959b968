use retry_runtime::{retryable, Classify};

#[derive(Debug, Classify)]
enum DaggerError {
    #[transient]
    ConnectionError,
    #[transient]
    TimeoutError,
}

#[retryable(on = [ConnectionError, TimeoutEror])]
async fn call() -> Result<(), DaggerError> {
    Ok(())
}

fn main() {}
