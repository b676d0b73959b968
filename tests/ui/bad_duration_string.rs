use retry_runtime::retryable;

#[retryable(deadline = "5 parsecs")]
fn call() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
