//! The annotated function: read from the user's own tokens (the body is never parsed), and the
//! shapes the attribute cannot support. The signature is read by hand rather than with syn's
//! `full` feature, which would add a second to every cold build of a crate using the macros.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::parse::{Parse, ParseStream};
use syn::{Abi, Attribute, Generics, Ident, Token, Type, Visibility, WhereClause};

use super::attr::{Args, Spanned};
use crate::errors::Errors;

/// A function: its attributes, visibility, signature and body tokens.
pub struct Function {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub constness: Option<Token![const]>,
    pub asyncness: Option<Token![async]>,
    pub ident: Ident,
    /// Whether the first parameter is `self` in any form.
    pub has_receiver: bool,
    /// The return type, if the signature names one.
    pub output: Option<Type>,
    /// The whole signature, from the qualifiers to the where clause, as written.
    pub sig: TokenStream,
    /// The body, braces included, exactly as written.
    pub body: TokenStream,
}

impl Function {
    pub fn parse(item: TokenStream) -> syn::Result<Function> {
        syn::parse2(item)
    }

    /// Whether the function is `async`.
    pub fn is_async(&self) -> bool {
        self.asyncness.is_some()
    }

    /// Whether the function takes `self` in any form.
    pub fn has_receiver(&self) -> bool {
        self.has_receiver
    }

    /// The return type, if the signature names one.
    pub fn return_type(&self) -> Option<&Type> {
        self.output.as_ref()
    }

    /// Rejects the shapes the attribute cannot support, each with one error at its token.
    pub fn validate(&self, args: &Args, errors: &mut Errors) {
        if let Some(constness) = &self.constness {
            errors.at(
                constness,
                "`#[retryable]` cannot go on a `const fn`: retrying sleeps between attempts, which a const fn cannot do; remove `const`",
            );
        }
        match self.return_type() {
            None => errors.at(
                &self.ident,
                format!(
                    "`#[retryable]` needs a function returning `Result<T, E>`; `{}` returns `()`: return a `Result` so that failures can be retried",
                    self.ident
                ),
            ),
            Some(ty) => {
                if let Some(span) = impl_trait(ty.to_token_stream()) {
                    errors.at_span(
                        span,
                        "`impl Trait` in the return type is not supported by `#[retryable]`: name the type (for example `Box<dyn Trait>`)",
                    );
                } else if !could_be_result(ty) {
                    errors.at(
                        ty,
                        "`#[retryable]` needs a function returning `Result<T, E>` (or an alias of it, such as `io::Result<T>`): only an error can be retried",
                    );
                }
            }
        }
        if let (Some(timeout), false) = (&args.attempt_timeout, self.is_async()) {
            errors.at_span(
                timeout.span,
                "`attempt_timeout` needs an `async fn`: a blocking call cannot be interrupted; use `deadline` to bound the whole call",
            );
        }
    }
}

/// Checks across keys.
pub fn validate_args(args: &Args, function: &Function, errors: &mut Errors) {
    let _ = function;
    if let (Some(_), Some(when)) = (&args.on, &args.when) {
        errors.at_span(
            when.span,
            "`on` and `when` cannot be used together: `on = [..]` retries the listed kinds, `when = path` lets a function decide; keep one",
        );
    }
    if let (Some(Spanned { value: None, span }), None) = (&args.attempt_timeout, &args.policy) {
        errors.at_span(
            *span,
            "a bare `attempt_timeout` takes the timeout of `policy = ..`, and there is none: write `attempt_timeout = D`, or add `policy = path`",
        );
    }
    if args.policy.is_none() {
        let backoff = args.backoff.as_ref().map_or(500_000_000, |b| b.value);
        let max_delay = args.max_delay.as_ref().map_or(30_000_000_000, |m| m.value);
        if max_delay < backoff {
            let message = format!(
                "`max_delay` ({}) must be at least `backoff` ({}): it caps every delay",
                seconds(max_delay),
                seconds(backoff)
            );
            match (&args.max_delay, &args.backoff) {
                (Some(m), _) => errors.at_span(m.span, message),
                (None, Some(b)) => {
                    errors.at_span(b.span, format!("{message}; raise it with `max_delay = ..`"))
                }
                (None, None) => {}
            }
        }
    }
}

fn seconds(nanos: u64) -> String {
    format!("{} s", nanos as f64 / 1e9)
}

/// Return types that cannot be a `Result` whatever aliases are in scope.
fn could_be_result(ty: &Type) -> bool {
    match ty {
        Type::Path(path) if path.qself.is_none() => {
            let Some(last) = path.path.segments.last() else { return false };
            let name = last.ident.to_string();
            !matches!(
                name.as_str(),
                "bool"
                    | "char"
                    | "str"
                    | "String"
                    | "Option"
                    | "Vec"
                    | "u8"
                    | "u16"
                    | "u32"
                    | "u64"
                    | "u128"
                    | "usize"
                    | "i8"
                    | "i16"
                    | "i32"
                    | "i64"
                    | "i128"
                    | "isize"
                    | "f32"
                    | "f64"
            )
        }
        Type::Path(_) | Type::Macro(_) | Type::Verbatim(_) => true,
        Type::Group(g) => could_be_result(&g.elem),
        Type::Paren(p) => could_be_result(&p.elem),
        _ => false,
    }
}

/// The span of the first `impl` keyword in `tokens`, at any depth.
fn impl_trait(tokens: TokenStream) -> Option<Span> {
    tokens.into_iter().find_map(|tt| match tt {
        TokenTree::Ident(ident) if ident == "impl" => Some(ident.span()),
        TokenTree::Group(group) => impl_trait(group.stream()),
        _ => None,
    })
}

/// Whether a parameter list starts with `self`, `mut self`, `&self`, `&'a mut self` or
/// `self: Type`.
fn starts_with_receiver(params: TokenStream) -> bool {
    for tt in params {
        match tt {
            TokenTree::Ident(ident) if ident == "self" => return true,
            TokenTree::Ident(ident) if ident == "mut" => continue,
            TokenTree::Punct(p) if p.as_char() == '&' || p.as_char() == '\'' => continue,
            // The name of a lifetime after its `'`.
            TokenTree::Ident(_) => continue,
            _ => return false,
        }
    }
    false
}

impl Parse for Function {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let not_a_fn =
            |span: Span| syn::Error::new(span, "`#[retryable]` goes on a `fn` or `async fn` with a body");
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let constness: Option<Token![const]> = input.parse()?;
        let asyncness: Option<Token![async]> = input.parse()?;
        let unsafety: Option<Token![unsafe]> = input.parse()?;
        let abi: Option<Abi> = input.parse()?;
        let fn_token: Token![fn] = input.parse().map_err(|e| not_a_fn(e.span()))?;
        let ident: Ident = input.parse()?;
        let generics: Generics = input.parse()?;
        let params = match input.parse::<TokenTree>()? {
            TokenTree::Group(group) if group.delimiter() == Delimiter::Parenthesis => group,
            other => return Err(syn::Error::new(other.span(), "expected the function's parameters")),
        };
        let has_receiver = starts_with_receiver(params.stream());
        let (arrow, output) = if input.peek(Token![->]) {
            let arrow: Token![->] = input.parse()?;
            (Some(arrow), Some(input.parse::<Type>()?))
        } else {
            (None, None)
        };
        let where_clause: Option<WhereClause> = input.parse()?;
        if input.peek(Token![;]) {
            return Err(syn::Error::new_spanned(
                &ident,
                "`#[retryable]` needs a function body: put it on the method in the `impl`, not on the trait's declaration",
            ));
        }
        if !input.peek(syn::token::Brace) {
            return Err(input.error("expected the function's body"));
        }
        let body: TokenStream = input.parse()?;
        let sig = quote! {
            #constness #asyncness #unsafety #abi #fn_token #ident #generics #params #arrow #output #where_clause
        };
        Ok(Function { attrs, vis, constness, asyncness, ident, has_receiver, output, sig, body })
    }
}
