use retry_runtime::retryable;

fn consume(_: String) -> std::io::Result<()> {
    Ok(())
}

#[retryable(max = 3)]
fn call(name: String) -> std::io::Result<()> {
    consume(name)
}

fn main() {}
