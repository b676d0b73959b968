use retry_runtime::retryable;

#[retryable(backoff = 2, max_delay = "500ms")]
fn call() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
