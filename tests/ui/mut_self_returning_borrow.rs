use retry_runtime::retryable;

struct Cache {
    items: Vec<u8>,
}

impl Cache {
    // A `&mut self` method returning a borrow of `self` cannot be retried: each attempt re-borrows
    // `self` mutably while the previous attempt's result may still borrow it.
    #[retryable(max = 3, backoff = 0)]
    fn first(&mut self) -> std::io::Result<&mut u8> {
        self.items.first_mut().ok_or_else(|| std::io::ErrorKind::NotFound.into())
    }
}

fn main() {}
