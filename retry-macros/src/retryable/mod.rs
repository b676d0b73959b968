//! `#[retryable]`: parse the keys, check the function, and rewrite its body into a retry loop.

mod attr;
mod duration;
mod expand;
mod signature;

use proc_macro2::TokenStream;
use quote::quote;

use crate::errors::Errors;
use attr::Args;
use signature::Function;

/// Parses, validates and expands. On any mistake the user's function is emitted unchanged next to
/// the errors, so that the only errors the user sees are ours.
pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = Args::parse(args, &mut errors);
    let function = match Function::parse(item.clone()) {
        Ok(function) => function,
        Err(e) => {
            errors.push(e);
            let errors = errors.into_compile_errors();
            return quote!(#errors #item);
        }
    };
    function.validate(&args, &mut errors);
    signature::validate_args(&args, &function, &mut errors);
    if !errors.is_empty() {
        let errors = errors.into_compile_errors();
        return quote!(#errors #item);
    }
    expand::retry_loop(&args, &function)
}
