use retry_runtime::retryable;

#[retryable(max = 3)]
fn call() -> u32 {
    7
}

fn main() {}
