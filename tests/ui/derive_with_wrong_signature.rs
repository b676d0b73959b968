use retry_runtime::{Classify, ErrorClass};

fn by_status(status: u16) -> ErrorClass {
    if status >= 500 { ErrorClass::Transient } else { ErrorClass::Permanent }
}

#[derive(Debug, Classify)]
enum FetchError {
    #[classify(with = by_status)]
    Http { status: u16 },
}

fn main() {}
