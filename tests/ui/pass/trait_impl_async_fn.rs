use retry_runtime::retryable;

trait Engine {
    async fn run(&self, step: &str) -> std::io::Result<String>;
    fn check(&self) -> std::io::Result<()>;
}

struct Dagger;

impl Engine for Dagger {
    #[retryable(max = 3, backoff = "100ms")]
    async fn run(&self, step: &str) -> std::io::Result<String> {
        Ok(step.to_owned())
    }

    #[retryable(max = 1)]
    fn check(&self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() {
    let _ = Dagger.run("x");
}
