use retry_runtime::retryable;

#[retryable(max = "three")]
fn call() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
