use retry_runtime::retryable;

fn is_transient(_: &anyhow::Error) -> bool {
    true
}

#[retryable(max = 3)]
fn io_alias() -> std::io::Result<u8> {
    Ok(1)
}

#[retryable(max = 3, when = is_transient)]
async fn anyhow_alias() -> anyhow::Result<u8> {
    let n: u8 = "1".parse()?;
    Ok(n)
}

fn main() {
    let _ = io_alias();
    let _ = anyhow_alias();
}
