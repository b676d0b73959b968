use retry_runtime::Classify;

#[derive(Debug, Classify)]
enum FetchError {
    #[transient(retry_after = wait)]
    RateLimited { wait: u64 },
}

fn main() {}
