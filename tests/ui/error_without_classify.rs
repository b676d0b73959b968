use retry_runtime::retryable;

#[derive(Debug)]
struct PlainError;

#[retryable(max = 3)]
async fn call() -> Result<(), PlainError> {
    Ok(())
}

fn main() {}
