use retry_runtime::retryable;
use std::fmt::Debug;

struct Store {
    items: Vec<u32>,
}

impl Store {
    #[retryable(max = 3)]
    fn items(&self) -> std::io::Result<&[u32]> {
        Ok(&self.items)
    }

    #[retryable(max = 3)]
    async fn boxed(&self) -> std::io::Result<Box<dyn Debug + Send>> {
        Ok(Box::new(self.items.len()))
    }
}

fn main() {
    let s = Store { items: vec![1] };
    let _ = s.items();
}
