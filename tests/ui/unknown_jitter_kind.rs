use retry_runtime::retryable;

#[retryable(jitter = gaussian)]
fn call() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
