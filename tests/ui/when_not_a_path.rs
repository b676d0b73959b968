use retry_runtime::retryable;

#[retryable(when = |e| true)]
fn call() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
