use retry_runtime::Classify;
use std::time::Duration;

#[derive(Debug, Classify)]
enum FetchError {
    #[transient(retry_after = wiat)]
    RateLimited { wait: Option<Duration> },
}

fn main() {}
