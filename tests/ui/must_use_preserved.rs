#![deny(unused_must_use)]
use retry_runtime::retryable;

#[must_use = "the count matters"]
#[retryable(max = 3)]
fn count() -> std::io::Result<u32> {
    Ok(1)
}

fn main() {
    count();
}
