//! Parsing the keys of `#[retryable(..)]`.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, LitStr, Path, Token};

use super::duration::{duration, number};
use crate::errors::Errors;

/// Every key the attribute accepts, in the order the docs list them.
const KEYS: &str = "max, backoff, multiplier, max_delay, jitter, on, when, deadline, attempt_timeout, \
                    breaker, budget, adaptive, policy, name, crate";

/// A key's value with the span of the key, for errors and for spanning generated code.
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

/// The jitter kinds, by the names the attribute accepts.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum JitterKind {
    None,
    Full,
    Equal,
    Decorrelated,
}

/// The parsed attribute. Durations are in nanoseconds.
#[derive(Default)]
pub struct Args {
    pub max: Option<Spanned<u32>>,
    pub backoff: Option<Spanned<u64>>,
    pub multiplier: Option<Spanned<f64>>,
    pub max_delay: Option<Spanned<u64>>,
    pub jitter: Option<Spanned<JitterKind>>,
    pub on: Option<Spanned<Vec<Ident>>>,
    pub when: Option<Spanned<Path>>,
    pub deadline: Option<Spanned<u64>>,
    /// `attempt_timeout = D`, or bare `attempt_timeout` (`None`): the timeout of `policy = ..`.
    pub attempt_timeout: Option<Spanned<Option<u64>>>,
    pub breaker: Option<Spanned<Path>>,
    pub budget: Option<Spanned<Path>>,
    pub adaptive: Option<Spanned<()>>,
    pub policy: Option<Spanned<Path>>,
    pub name: Option<Spanned<LitStr>>,
    pub krate: Option<Spanned<Path>>,
}

/// Sets a key once; a second occurrence is an error at the second key.
fn set<T>(slot: &mut Option<Spanned<T>>, key: &Ident, value: T, errors: &mut Errors) {
    if slot.is_some() {
        errors.at(key, format!("duplicate key `{key}`: each key may be given once"));
    } else {
        *slot = Some(Spanned { value, span: key.span() });
    }
}

/// A hint for a key someone might reach for, named differently here.
fn hint(key: &str) -> Option<&'static str> {
    Some(match key {
        "retries" | "max_retries" | "attempts" | "max_attempts" | "times" | "count" => {
            "`max = N` sets the number of retries after the first attempt"
        }
        "delay" | "base" | "base_delay" | "initial" | "initial_delay" | "min_delay" | "wait" => {
            "`backoff = D` sets the base delay"
        }
        "factor" | "exponent" | "exp" | "growth" => "`multiplier = F` sets the growth factor",
        "cap" | "max_backoff" | "max_wait" => "`max_delay = D` caps each delay",
        "timeout" => "use `attempt_timeout = D` to bound each attempt, or `deadline = D` for the whole call",
        "retry_on" | "errors" | "kinds" | "only" | "retry_if_kind" => {
            "`on = [Kind, ..]` lists the kinds to retry"
        }
        "retry_if" | "predicate" | "filter" | "if_" => "`when = path::to::fn` decides with a predicate",
        "circuit_breaker" | "circuit" => "`breaker = path` names a `CircuitBreaker`",
        "retry_budget" | "throttle" => "`budget = path` names a `RetryBudget`",
        _ => return None,
    })
}

impl Args {
    /// Parses the attribute's arguments, recording every mistake in `errors`.
    pub fn parse(tokens: TokenStream, errors: &mut Errors) -> Args {
        let mut args = Args::default();
        let parser = syn::meta::parser(|meta| {
            let Some(key) = meta.path.get_ident().cloned() else {
                return Err(meta.error(format!("expected a key; expected one of: {KEYS}")));
            };
            if let Err(e) = args.key(&key, &meta, errors) {
                errors.push(e);
                skip_value(&meta);
            }
            Ok(())
        });
        if let Err(e) = syn::parse::Parser::parse2(parser, tokens) {
            errors.push(e);
        }
        args
    }

    fn key(&mut self, key: &Ident, meta: &ParseNestedMeta<'_>, errors: &mut Errors) -> syn::Result<()> {
        let name = key.to_string();
        match name.as_str() {
            "max" => {
                let expr = value(meta, key)?;
                let n = match &expr {
                    Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(i), .. }) => {
                        i.base10_parse::<u32>().map_err(|_| {
                            syn::Error::new_spanned(
                                i,
                                "`max` must be a whole number of retries from 0 to 4294967295",
                            )
                        })?
                    }
                    Expr::Unary(_) => {
                        return Err(syn::Error::new_spanned(expr, "`max` must not be negative"));
                    }
                    _ => {
                        return Err(syn::Error::new_spanned(
                            expr,
                            "`max` expects a whole number of retries, such as `max = 3`",
                        ));
                    }
                };
                set(&mut self.max, key, n, errors);
            }
            "backoff" => set(&mut self.backoff, key, duration(&value(meta, key)?, "backoff")?, errors),
            "max_delay" => set(&mut self.max_delay, key, duration(&value(meta, key)?, "max_delay")?, errors),
            "deadline" => {
                let expr = value(meta, key)?;
                let d = positive(duration(&expr, "deadline")?, &expr, "deadline")?;
                set(&mut self.deadline, key, d, errors);
            }
            "attempt_timeout" => {
                let d = if meta.input.is_empty() || meta.input.peek(Token![,]) {
                    None
                } else {
                    let expr = value(meta, key)?;
                    Some(positive(duration(&expr, "attempt_timeout")?, &expr, "attempt_timeout")?)
                };
                set(&mut self.attempt_timeout, key, d, errors);
            }
            "multiplier" => {
                let expr = value(meta, key)?;
                let m = number(&expr, "multiplier")?;
                if m < 1.0 {
                    return Err(syn::Error::new_spanned(
                        expr,
                        format!(
                            "`multiplier` must be at least 1 (it is the growth factor of the delay), got {m}"
                        ),
                    ));
                }
                set(&mut self.multiplier, key, m, errors);
            }
            "jitter" => {
                let kind = if meta.input.is_empty() || meta.input.peek(Token![,]) {
                    JitterKind::Full
                } else {
                    let ident: Ident = meta.value()?.parse().map_err(|e| {
                        syn::Error::new(e.span(), "`jitter` expects one of: full, equal, decorrelated, none")
                    })?;
                    match ident.to_string().as_str() {
                        "full" => JitterKind::Full,
                        "equal" => JitterKind::Equal,
                        "decorrelated" => JitterKind::Decorrelated,
                        "none" => JitterKind::None,
                        other => {
                            return Err(syn::Error::new_spanned(
                                ident,
                                format!(
                                    "unknown jitter kind `{other}`; expected one of: full, equal, decorrelated, none"
                                ),
                            ));
                        }
                    }
                };
                set(&mut self.jitter, key, kind, errors);
            }
            "on" => {
                let input = meta.value()?;
                let content;
                syn::bracketed!(content in input);
                let kinds = Punctuated::<Ident, Token![,]>::parse_terminated(&content).map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "`on` expects a list of error kinds, such as `on = [ConnectionError, TimeoutError]`",
                    )
                })?;
                let kinds: Vec<Ident> = kinds.into_iter().collect();
                if kinds.is_empty() {
                    return Err(syn::Error::new_spanned(
                        key,
                        "`on = []` would retry nothing: list at least one error kind, or remove the key",
                    ));
                }
                set(&mut self.on, key, kinds, errors);
            }
            "adaptive" => {
                if !(meta.input.is_empty() || meta.input.peek(Token![,])) {
                    return Err(syn::Error::new_spanned(
                        key,
                        "`adaptive` takes no value: write `adaptive` to adapt retries to recent health",
                    ));
                }
                set(&mut self.adaptive, key, (), errors);
            }
            "when" => set(&mut self.when, key, path(meta, key, "path::to::is_retryable")?, errors),
            "breaker" => set(&mut self.breaker, key, path(meta, key, "crate::BREAKER")?, errors),
            "budget" => set(&mut self.budget, key, path(meta, key, "crate::BUDGET")?, errors),
            "policy" => set(&mut self.policy, key, path(meta, key, "crate::POLICY")?, errors),
            "crate" => set(&mut self.krate, key, path(meta, key, "::retry_runtime")?, errors),
            "name" => {
                let lit: LitStr = meta.value()?.parse().map_err(|e| {
                    syn::Error::new(e.span(), "`name` expects a string, such as `name = \"dagger.run_step\"`")
                })?;
                set(&mut self.name, key, lit, errors);
            }
            other => {
                let mut message = format!("unknown key `{other}`; expected one of: {KEYS}");
                if let Some(hint) = hint(other) {
                    message.push_str(&format!("\nhelp: {hint}"));
                }
                return Err(syn::Error::new_spanned(key, message));
            }
        }
        Ok(())
    }
}

fn value(meta: &ParseNestedMeta<'_>, key: &Ident) -> syn::Result<Expr> {
    if meta.input.is_empty() || meta.input.peek(Token![,]) {
        return Err(syn::Error::new_spanned(key, format!("`{key}` needs a value: `{key} = ..`")));
    }
    meta.value()?.parse()
}

fn path(meta: &ParseNestedMeta<'_>, key: &Ident, example: &str) -> syn::Result<Path> {
    if meta.input.is_empty() || meta.input.peek(Token![,]) {
        return Err(syn::Error::new_spanned(key, format!("`{key}` needs a path: `{key} = {example}`")));
    }
    let input = meta.value()?;
    let path = input.parse::<Path>().map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("`{key}` expects a path, such as `{key} = {example}`, not an expression"),
        )
    })?;
    if !input.is_empty() && !input.peek(Token![,]) {
        return Err(
            input.error(format!("`{key}` expects a path, such as `{key} = {example}`, not an expression"))
        );
    }
    Ok(path)
}

fn positive(nanos: u64, expr: &Expr, key: &str) -> syn::Result<u64> {
    if nanos == 0 {
        return Err(syn::Error::new_spanned(expr, format!("`{key}` must be greater than zero")));
    }
    Ok(nanos)
}

/// After a bad value, skips to the next comma so that the following keys are still read.
fn skip_value(meta: &ParseNestedMeta<'_>) {
    let _ = meta.input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            if let proc_macro2::TokenTree::Punct(p) = &tt
                && p.as_char() == ','
            {
                return Ok(((), rest));
            }
            rest = next;
        }
        Ok(((), rest))
    });
}
