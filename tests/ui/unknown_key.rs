use retry_runtime::retryable;

#[retryable(max = 3, bakoff = 0.5)]
fn call() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
