//! The annotated function: read from the user's own tokens (the body is never parsed), and the
//! shapes the attribute cannot support.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::visit::Visit;
use syn::{Attribute, FnArg, ReturnType, Signature, Token, Type, Visibility};

use super::attr::{Args, Spanned};
use crate::errors::Errors;

/// A function: its attributes, visibility, signature and body tokens.
pub struct Function {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub sig: Signature,
    /// The body, braces included, exactly as written.
    pub body: TokenStream,
}

impl Function {
    pub fn parse(item: TokenStream) -> syn::Result<Function> {
        syn::parse2(item)
    }

    /// Whether the function is `async`.
    pub fn is_async(&self) -> bool {
        self.sig.asyncness.is_some()
    }

    /// Whether the function takes `self` in any form.
    pub fn has_receiver(&self) -> bool {
        matches!(self.sig.inputs.first(), Some(FnArg::Receiver(_)))
    }

    /// The return type, if the signature names one.
    pub fn return_type(&self) -> Option<&Type> {
        match &self.sig.output {
            ReturnType::Type(_, ty) => Some(ty),
            ReturnType::Default => None,
        }
    }

    /// Rejects the shapes the attribute cannot support, each with one error at its token.
    pub fn validate(&self, args: &Args, errors: &mut Errors) {
        if let Some(constness) = &self.sig.constness {
            errors.at(
                constness,
                "`#[retryable]` cannot go on a `const fn`: retrying sleeps between attempts, which a const fn cannot do; remove `const`",
            );
        }
        match self.return_type() {
            None => errors.at(
                &self.sig.ident,
                format!(
                    "`#[retryable]` needs a function returning `Result<T, E>`; `{}` returns `()`: return a `Result` so that failures can be retried",
                    self.sig.ident
                ),
            ),
            Some(ty) => {
                let mut finder = ImplTraitFinder(None);
                finder.visit_type(ty);
                if let Some(span) = finder.0 {
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

struct ImplTraitFinder(Option<Span>);

impl<'ast> Visit<'ast> for ImplTraitFinder {
    fn visit_type_impl_trait(&mut self, node: &'ast syn::TypeImplTrait) {
        self.0.get_or_insert(node.impl_token.span);
    }
}

impl Parse for Function {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let sig: Signature = input.parse().map_err(|e| {
            syn::Error::new(e.span(), "`#[retryable]` goes on a `fn` or `async fn` with a body")
        })?;
        if input.peek(Token![;]) {
            return Err(syn::Error::new_spanned(
                &sig.ident,
                "`#[retryable]` needs a function body: put it on the method in the `impl`, not on the trait's declaration",
            ));
        }
        if !input.peek(syn::token::Brace) {
            return Err(input.error("expected the function's body"));
        }
        let body: TokenStream = input.parse()?;
        Ok(Function { attrs, vis, sig, body })
    }
}
