use retry_runtime::retryable;

#[retryable(max = 3)]
const fn call() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {}
