use retry_runtime::Classify;

#[derive(Debug, Classify)]
enum FetchError {
    #[classify(source)]
    Io(std::io::Error, String),
}

fn main() {}
