use retry_runtime::retryable;

#[retryable(on = [])]
fn call() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
