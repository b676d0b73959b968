use retry_runtime::retryable;

struct Client {
    sent: u32,
    name: String,
}

impl Client {
    #[retryable(max = 3)]
    async fn by_ref(&self, step: &str) -> std::io::Result<usize> {
        Ok(self.name.len() + step.len())
    }

    #[retryable(max = 3)]
    async fn by_mut(&mut self) -> std::io::Result<u32> {
        self.sent += 1;
        Ok(self.sent)
    }

    #[retryable(max = 3)]
    fn by_value(self) -> std::io::Result<usize> {
        Ok(self.name.len())
    }

    #[retryable(max = 3)]
    fn sync_mut(&mut self, owned: String) -> std::io::Result<usize> {
        self.sent += 1;
        Ok(owned.len())
    }
}

fn main() {
    let mut c = Client { sent: 0, name: String::new() };
    let _ = c.sync_mut(String::new());
    let _ = c.by_value();
}
