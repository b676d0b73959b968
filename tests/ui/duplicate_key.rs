use retry_runtime::retryable;

#[retryable(max = 3, backoff = 0.5, max = 4)]
fn call() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
