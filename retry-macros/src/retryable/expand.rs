//! Code generation: the function keeps its signature; its body becomes a loop that runs the
//! original body once per attempt.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Ident;

use super::attr::{Args, JitterKind, Spanned};
use super::signature::Function;

fn duration(nanos: u64) -> TokenStream {
    quote!(::core::time::Duration::from_nanos(#nanos))
}

fn optional_duration(value: &Option<Spanned<u64>>) -> TokenStream {
    match value {
        Some(v) => {
            let d = duration(v.value);
            quote!(::core::option::Option::Some(#d))
        }
        None => quote!(::core::option::Option::None),
    }
}

fn jitter(rt: &TokenStream, kind: JitterKind) -> TokenStream {
    let variant = match kind {
        JitterKind::None => "None",
        JitterKind::Full => "Full",
        JitterKind::Equal => "Equal",
        JitterKind::Decorrelated => "Decorrelated",
    };
    let variant = Ident::new(variant, Span::call_site());
    quote!(#rt::__private::Jitter::#variant)
}

/// `attempt_timeout = D` written inline (a bare `attempt_timeout` takes the policy's).
fn inline_timeout(args: &Args) -> Option<Spanned<u64>> {
    let t = args.attempt_timeout.as_ref()?;
    Some(Spanned { value: t.value?, span: t.span })
}

/// The statements that bind `__retry_policy: &RetryPolicy`.
fn policy(rt: &TokenStream, args: &Args) -> TokenStream {
    let policy_var = Ident::new("__retry_policy", Span::mixed_site());
    match &args.policy {
        None => {
            let max = args.max.as_ref().map_or(3, |m| m.value);
            let backoff = duration(args.backoff.as_ref().map_or(500_000_000, |b| b.value));
            let multiplier = args.multiplier.as_ref().map_or(2.0, |m| m.value);
            let max_delay = duration(args.max_delay.as_ref().map_or(30_000_000_000, |m| m.value));
            let jitter = jitter(rt, args.jitter.as_ref().map_or(JitterKind::None, |j| j.value));
            let deadline = optional_duration(&args.deadline);
            let attempt_timeout = optional_duration(&inline_timeout(args));
            quote! {
                const __RETRY_POLICY: #rt::__private::RetryPolicy = #rt::__private::policy(
                    #max, #backoff, #multiplier, #max_delay, #jitter, #deadline, #attempt_timeout,
                );
                let #policy_var: &'static #rt::__private::RetryPolicy = &__RETRY_POLICY;
            }
        }
        Some(policy) => {
            let path = &policy.value;
            let base = quote_spanned!(policy.span=> { let __retry_base: &#rt::__private::RetryPolicy = &#path; __retry_base });
            let overridden = [
                args.max.is_some(),
                args.backoff.is_some(),
                args.multiplier.is_some(),
                args.max_delay.is_some(),
                args.jitter.is_some(),
                args.deadline.is_some(),
                inline_timeout(args).is_some(),
            ];
            if !overridden.contains(&true) {
                return quote!(let #policy_var: &#rt::__private::RetryPolicy = #base;);
            }
            let some = |v: Option<TokenStream>| match v {
                Some(v) => quote!(::core::option::Option::Some(#v)),
                None => quote!(::core::option::Option::None),
            };
            let max = some(args.max.as_ref().map(|m| {
                let v = m.value;
                quote!(#v)
            }));
            let backoff = some(args.backoff.as_ref().map(|b| duration(b.value)));
            let multiplier = some(args.multiplier.as_ref().map(|m| {
                let v = m.value;
                quote!(#v)
            }));
            let max_delay = some(args.max_delay.as_ref().map(|m| duration(m.value)));
            let jitter = some(args.jitter.as_ref().map(|j| jitter(rt, j.value)));
            let deadline = optional_duration(&args.deadline);
            let attempt_timeout = optional_duration(&inline_timeout(args));
            let value = Ident::new("__retry_policy_value", Span::mixed_site());
            quote! {
                let #value = #rt::__private::override_policy(#base, #rt::__private::Overrides {
                    max_retries: #max,
                    backoff: #backoff,
                    multiplier: #multiplier,
                    max_delay: #max_delay,
                    jitter: #jitter,
                    deadline: #deadline,
                    attempt_timeout: #attempt_timeout,
                });
                let #policy_var: &#rt::__private::RetryPolicy = &#value;
            }
        }
    }
}

/// The name in logs and telemetry: `name = ".."`, else `Type::method` (from `Self`) for methods,
/// else `module::function`.
fn call_name(rt: &TokenStream, args: &Args, function: &Function) -> TokenStream {
    let ident = function.ident.to_string();
    if let Some(name) = &args.name {
        let name = &name.value;
        return quote!(const { &#rt::__private::CallName::fixed(#name) });
    }
    if function.has_receiver() {
        quote!(const { &#rt::__private::CallName::method(::core::any::type_name::<Self>, #ident) })
    } else {
        quote!(const { &#rt::__private::CallName::function(::core::module_path!(), #ident) })
    }
}

/// The whole rewritten function.
pub fn retry_loop(args: &Args, function: &Function) -> TokenStream {
    let rt = match &args.krate {
        Some(path) => {
            let path = &path.value;
            quote!(#path)
        }
        None => quote!(::retry_runtime),
    };
    let Function { attrs, vis, sig, body, .. } = function;
    let ret = function.return_type().expect("validated: the function returns a type");
    let ret_span = syn::spanned::Spanned::span(ret);
    let is_async = function.is_async();

    let policy = policy(&rt, args);
    let policy_var = Ident::new("__retry_policy", Span::mixed_site());
    let state = Ident::new("__retry_state", Span::mixed_site());
    let permit = Ident::new("__retry_permit", Span::mixed_site());
    // Spanned at the return type (not hygienic, but no user name starts with `__retry_`): the
    // judging call below blames this argument for a missing `Classify` or a non-`Result` type.
    let result = Ident::new("__retry_result", ret_span);
    let delay = Ident::new("__retry_delay", Span::mixed_site());
    let name = call_name(&rt, args, function);

    let breaker = match &args.breaker {
        Some(b) => {
            let path = &b.value;
            quote_spanned!(b.span=> ::core::option::Option::Some({ let __retry_b: &#rt::__private::CircuitBreaker = &#path; __retry_b }))
        }
        None => quote!(::core::option::Option::None),
    };
    let budget = match &args.budget {
        Some(b) => {
            let path = &b.value;
            quote_spanned!(b.span=> ::core::option::Option::Some({ let __retry_b: &#rt::__private::RetryBudget = &#path; __retry_b }))
        }
        None => quote!(::core::option::Option::None),
    };
    let (adaptive_static, adaptive) = match &args.adaptive {
        Some(a) => (
            quote_spanned!(a.span=> static __RETRY_ADAPTIVE: #rt::__private::Adaptive = #rt::__private::Adaptive::new();),
            quote!(::core::option::Option::Some(&__RETRY_ADAPTIVE)),
        ),
        None => (quote!(), quote!(::core::option::Option::None)),
    };
    let acquire = match &args.breaker {
        Some(b) => quote_spanned! {b.span=>
            let #permit = match #state.acquire() {
                ::core::result::Result::Ok(permit) => permit,
                ::core::result::Result::Err(open) => {
                    return <#ret as #rt::__private::RetryResult>::from_err(::core::convert::From::from(open));
                }
            };
        },
        None => quote!(),
    };
    // Without a breaker the permit is a literal `None` where it is used, not a binding read back
    // after the attempt's `.await`.
    let permit = match &args.breaker {
        Some(_) => quote!(#permit),
        None => quote!(::core::option::Option::None),
    };

    // Each attempt is the original body in a block whose type is the return type: a fake `return`
    // of that type comes first, so the body's values coerce to it as they did before.
    let fake_return = quote_spanned! {ret_span=>
        #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::needless_return, clippy::empty_loop)]
        if false {
            let __retry_fake_return: #ret = loop {};
            return __retry_fake_return;
        }
    };
    let attempt = if is_async {
        let block = quote!(async { #fake_return #body });
        match &args.attempt_timeout {
            None => quote!(#block.await),
            Some(t) => {
                let rt_at = crate::errors::respan(rt.clone(), t.span);
                quote_spanned! {t.span=>
                match #rt::__private::timeout(
                    #policy_var.attempt_timeout().unwrap_or(::core::time::Duration::MAX),
                    #block,
                ).await {
                    ::core::result::Result::Ok(result) => result,
                    ::core::result::Result::Err(_) => {
                        let __retry_timed_out = ::core::convert::From::from(#rt_at::__private::AttemptTimeout);
                        <#ret as #rt::__private::RetryResult>::from_err(__retry_timed_out)
                    }
                }
                }
            }
        }
    } else {
        quote!((|| { #fake_return #body })())
    };

    let describe = quote!(|__retry_e| (&#rt::__private::Describe(__retry_e)).__retry_describe());
    let judge = if let Some(when) = &args.when {
        let path = &when.value;
        let predicate = quote_spanned!(when.span=> #path);
        let rt_at = crate::errors::respan(rt.clone(), ret_span);
        quote_spanned!(ret_span=> #rt_at::__private::judge_when(&mut #state, &#result, #permit, #predicate, #describe))
    } else {
        let on = match &args.on {
            None => quote!(::core::option::Option::None),
            Some(kinds) => {
                let checks = kinds.value.iter().map(|kind| {
                    quote_spanned!(kind.span()=> __retry_kind == #rt::__private::KindOf::<#ret>::#kind)
                });
                quote!(::core::option::Option::Some(|__retry_kind| false #(|| #checks)*))
            }
        };
        // A call whose every token is spanned at the return type, so that a missing `Classify` or
        // a non-`Result` return type is reported there.
        let rt_at = crate::errors::respan(rt.clone(), ret_span);
        quote_spanned!(ret_span=> #rt_at::__private::judge(&mut #state, &#result, #permit, #on, #describe))
    };

    // What the calls share: a `static` when it holds only statics (no breaker or budget path,
    // which may name a local), so a call stores one pointer instead of four.
    let shared_value = quote! {
        #rt::__private::Shared {
            breaker: #breaker,
            budget: #budget,
            stats: ::core::option::Option::Some(&__RETRY_STATS),
            adaptive: #adaptive,
        }
    };
    let (shared_binding, shared_ref) = if args.breaker.is_none() && args.budget.is_none() {
        (
            quote!(static __RETRY_SHARED: #rt::__private::Shared<'static> = #shared_value;),
            quote!(&__RETRY_SHARED),
        )
    } else {
        let shared = Ident::new("__retry_shared", Span::mixed_site());
        (quote!(let #shared = #shared_value;), quote!(&#shared))
    };
    let (state_type, sleep) = if is_async {
        (quote!(AsyncState), quote!(#rt::__private::sleep(#delay).await;))
    } else {
        (quote!(BlockingState), quote!(#rt::__private::sleep_blocking(#delay);))
    };

    quote! {
        #(#attrs)*
        #vis #sig {
            #[allow(unused_imports)]
            use #rt::__private::{DescribeDebug as _, DescribeOpaque as _};
            #policy
            static __RETRY_STATS: #rt::__private::FnStats = #rt::__private::FnStats::new();
            #adaptive_static
            #shared_binding
            let mut #state = #rt::__private::#state_type::new(#policy_var, #shared_ref, #name);
            loop {
                #acquire
                let #delay = {
                    #[allow(clippy::redundant_closure_call)]
                    let #result: #ret = #attempt;
                    match #judge {
                        #rt::__private::Next::Return => return #result,
                        #rt::__private::Next::Retry(delay) => delay,
                    }
                };
                #sleep
            }
        }
    }
}
