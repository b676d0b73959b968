use retry_runtime::Classify;

#[derive(Debug, Classify)]
enum FetchError {
    Unavailable {
        #[transient]
        code: u16,
    },
}

fn main() {}
