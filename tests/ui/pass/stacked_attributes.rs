use retry_runtime::retryable;

#[retryable(max = 3)]
#[tracing::instrument]
async fn traced(id: u32) -> std::io::Result<u32> {
    Ok(id)
}

#[tracing::instrument]
#[retryable(max = 3)]
async fn traced_outside(id: u32) -> std::io::Result<u32> {
    Ok(id)
}

#[retryable(max = 2, backoff = 0)]
#[tokio::test]
async fn a_test() -> std::io::Result<()> {
    Ok(())
}

fn main() {
    let _ = traced(1);
    let _ = traced_outside(1);
}
