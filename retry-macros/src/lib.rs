//! Procedural macros of [`retry-runtime`](https://docs.rs/retry-runtime): `#[retryable]` and
//! `#[derive(Classify)]`. Depend on `retry-runtime`, which re-exports both; this crate's
//! documentation lives there.

mod classify;
mod errors;
mod retryable;

use proc_macro::TokenStream;

/// Retries a function returning a `Result`; see `retry_runtime::retryable` for the keys.
#[proc_macro_attribute]
pub fn retryable(args: TokenStream, item: TokenStream) -> TokenStream {
    retryable::expand(args.into(), item.into()).into()
}

/// Implements `Classify` for an error type and generates its kind enum; see `retry_runtime::Classify`.
#[proc_macro_derive(Classify, attributes(transient, permanent, classify))]
pub fn derive_classify(input: TokenStream) -> TokenStream {
    classify::expand(input.into()).into()
}
