use retry_runtime::Classify;

#[derive(Debug, Classify)]
#[classify(default = sometimes)]
enum FetchError {
    Unavailable,
}

fn main() {}
