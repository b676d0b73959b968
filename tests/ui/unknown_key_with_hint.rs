use retry_runtime::retryable;

#[retryable(retries = 3)]
fn call() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
