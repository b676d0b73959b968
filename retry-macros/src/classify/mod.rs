//! `#[derive(Classify)]`: read the markers, check them, and generate the kind enum and the impl.

mod ast;
mod expand;

use proc_macro2::TokenStream;

use crate::errors::Errors;

/// Parses, validates and expands. On a mistake the kind enum and a stub impl are still emitted
/// next to the errors, so that uses of the type elsewhere raise no further errors.
pub fn expand(input: TokenStream) -> TokenStream {
    let input: syn::DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(e) => return e.to_compile_error(),
    };
    let mut errors = Errors::default();
    let ast = ast::Input::from_syn(&input, &mut errors);
    let stub = !errors.is_empty();
    let tokens = expand::derive(&ast, stub);
    let errors = errors.into_compile_errors();
    quote::quote!(#errors #tokens)
}
