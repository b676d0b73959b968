use retry_runtime::retryable;
use std::fmt::Display;

#[retryable(max = 3)]
async fn render<T, U: Clone>(value: &T, extra: U, label: impl AsRef<str>) -> std::io::Result<String>
where
    T: Display + ?Sized,
{
    let _ = extra.clone();
    Ok(format!("{}{value}", label.as_ref()))
}

#[retryable(max = 3)]
fn sum<I>(items: &[I]) -> std::io::Result<usize>
where
    I: Copy + Into<usize>,
{
    Ok(items.iter().map(|i| (*i).into()).sum())
}

fn main() {
    let _ = render("x", 1u8, "label");
    let _ = sum::<u8>(&[1, 2]);
}
