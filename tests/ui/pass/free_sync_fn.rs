use retry_runtime::retryable;

#[retryable(max = 2, backoff = "10ms", deadline = "1s")]
fn read(path: &str) -> std::io::Result<usize> {
    Ok(path.len())
}

fn main() {
    let _ = read("x");
}
