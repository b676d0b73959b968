use retry_runtime::retryable;

#[retryable(max = 3)]
fn call() -> std::io::Result<impl std::fmt::Display> {
    Ok(1)
}

fn main() {}
