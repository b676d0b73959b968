use retry_runtime::retryable;

#[retryable(multiplier = 0.5)]
fn call() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
