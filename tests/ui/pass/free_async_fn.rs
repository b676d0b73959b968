use retry_runtime::retryable;

#[retryable(max = 3, backoff = 0.5, jitter)]
async fn fetch(id: u32) -> std::io::Result<u32> {
    Ok(id)
}

fn main() {
    let _ = fetch(1);
}
