#![deny(missing_docs)]
//! Doc comments, visibility and `#[must_use]` survive the attribute.
use retry_runtime::retryable;

/// Fetches a value.
#[must_use = "the value matters"]
#[retryable(max = 3)]
pub fn fetch() -> std::io::Result<u8> {
    Ok(1)
}

/// Sends a value.
#[retryable(max = 3)]
pub(crate) async fn send() -> std::io::Result<()> {
    Ok(())
}

fn main() {
    let _ = fetch();
    let _ = send();
}
