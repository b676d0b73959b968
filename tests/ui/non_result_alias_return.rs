use retry_runtime::retryable;

type Count = Option<u32>;

#[retryable(max = 3)]
async fn call() -> Count {
    Some(7)
}

fn main() {}
