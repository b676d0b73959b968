use retry_runtime::retryable;

#[retryable(max = 3, attempt_timeout)]
async fn call() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
