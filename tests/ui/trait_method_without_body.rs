use retry_runtime::retryable;

trait Engine {
    #[retryable(max = 3)]
    fn run(&self) -> std::io::Result<()>;
}

fn main() {}
