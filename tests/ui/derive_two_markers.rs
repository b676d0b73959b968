use retry_runtime::Classify;

#[derive(Debug, Classify)]
enum FetchError {
    #[transient]
    #[permanent]
    Unavailable,
}

fn main() {}
