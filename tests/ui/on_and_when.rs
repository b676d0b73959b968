use retry_runtime::retryable;

fn is_retryable(_: &std::io::Error) -> bool {
    true
}

#[retryable(on = [TimedOut], when = is_retryable)]
fn call() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
