use retry_runtime::retryable;

#[retryable(max = 3)]
fn call() {}

fn main() {}
