//! Code generation for `#[derive(Classify)]`: the kind enum and `impl Classify`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::{Fields, Member};

use super::ast::{FieldRef, Input, Marker, Variant};

/// The pattern matching `variant`, binding `field` (if any) to `__retry_field`.
fn pattern(input: &Input<'_>, variant: &Variant<'_>, field: Option<&Member>) -> TokenStream {
    let path = if input.is_struct {
        quote!(Self)
    } else {
        let ident = variant.ident;
        quote!(Self::#ident)
    };
    match (field, variant.fields) {
        (Some(member), _) => quote!(#path { #member: __retry_field, .. }),
        (None, Fields::Unit) => quote!(#path),
        (None, _) => quote!(#path { .. }),
    }
}

pub fn derive(input: &Input<'_>, stub: bool) -> TokenStream {
    let rt = &input.krate;
    let original = input.original;
    let ty = &original.ident;
    let vis = &original.vis;
    let kind = format_ident!("{}Kind", ty);
    let kind_variants: Vec<_> = input.variants.iter().map(|v| v.ident).collect();
    let names: Vec<String> = kind_variants.iter().map(|v| v.to_string()).collect();
    let kind_doc = format!("The kinds of [`{ty}`], one per variant: what `#[retryable(on = [..])]` lists.");

    let kind_enum = quote! {
        #[doc = #kind_doc]
        #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::marker::Copy, ::core::cmp::PartialEq, ::core::cmp::Eq, ::core::hash::Hash)]
        #vis enum #kind {
            #(
                #[allow(missing_docs)]
                #kind_variants,
            )*
        }

        #[automatically_derived]
        impl #kind {
            /// The variant's name.
            #vis const fn as_str(self) -> &'static str {
                match self {
                    #( #kind::#kind_variants => #names, )*
                }
            }
        }

        #[automatically_derived]
        impl ::core::fmt::Display for #kind {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };

    let (impl_generics, ty_generics, where_clause) = original.generics.split_for_impl();
    let mut where_clause = where_clause.cloned().unwrap_or_else(|| syn::parse_quote!(where));
    // A generic source field needs a bound; a concrete one is checked where it is used, so that a
    // missing `Classify` is reported at the field's type.
    let type_params: Vec<String> = original.generics.type_params().map(|p| p.ident.to_string()).collect();
    for variant in &input.variants {
        if let Marker::Source(field) = &variant.marker
            && mentions_any(&field.ty, &type_params)
        {
            let field_ty = &field.ty;
            where_clause.predicates.push(syn::parse_quote!(#field_ty: #rt::Classify));
        }
    }

    if stub {
        return quote! {
            #kind_enum
            #[automatically_derived]
            impl #impl_generics #rt::Classify for #ty #ty_generics #where_clause {
                type Kind = #kind;
                fn kind(&self) -> #kind { ::core::unreachable!() }
                fn class(&self) -> #rt::ErrorClass { ::core::unreachable!() }
            }
        };
    }

    let kind_arms = input.variants.iter().map(|v| {
        let pat = pattern(input, v, None);
        let ident = v.ident;
        quote!(#pat => #kind::#ident,)
    });
    let default_class = if input.default_transient {
        quote!(#rt::ErrorClass::Transient)
    } else {
        quote!(#rt::ErrorClass::Permanent)
    };
    let class_arms = input.variants.iter().map(|v| {
        let field = match &v.marker {
            Marker::Source(f) => Some(&f.member),
            _ => None,
        };
        let pat = pattern(input, v, field);
        let body = match &v.marker {
            Marker::Default => default_class.clone(),
            Marker::Transient { .. } => quote!(#rt::ErrorClass::Transient),
            Marker::Permanent => quote!(#rt::ErrorClass::Permanent),
            Marker::With(path) => quote_spanned! {syn::spanned::Spanned::span(path)=>
                {
                    let __retry_with: fn(&Self) -> #rt::ErrorClass = #path;
                    __retry_with(self)
                }
            },
            Marker::Source(f) => {
                let span = syn::spanned::Spanned::span(&f.ty);
                let rt = crate::errors::respan(rt.clone(), span);
                quote_spanned!(span=> #rt::Classify::class(__retry_field))
            }
        };
        quote!(#pat => #body,)
    });
    let retry_after_arms = input.variants.iter().filter_map(|v| {
        let (field, body): (&FieldRef, TokenStream) = match &v.marker {
            Marker::Transient { retry_after: Some(f) } => {
                let rt = crate::errors::respan(rt.clone(), f.span);
                (f, quote_spanned!(f.span=> #rt::__private::RetryAfterField::retry_after_value(__retry_field)))
            }
            Marker::Source(f) => {
                let span = syn::spanned::Spanned::span(&f.ty);
                let rt = crate::errors::respan(rt.clone(), span);
                (f, quote_spanned!(span=> #rt::Classify::retry_after(__retry_field)))
            }
            _ => return None,
        };
        let pat = pattern(input, v, Some(&field.member));
        Some(quote!(#pat => #body,))
    });
    let fallback = if input
        .variants
        .iter()
        .all(|v| matches!(v.marker, Marker::Transient { retry_after: Some(_) } | Marker::Source(_)))
    {
        quote!()
    } else {
        quote!(_ => ::core::option::Option::None,)
    };
    let kind_match = if input.variants.is_empty() {
        quote!(match *self {})
    } else {
        quote!(match self { #(#kind_arms)* })
    };
    let class_match = if input.variants.is_empty() {
        quote!(match *self {})
    } else {
        quote!(match self { #(#class_arms)* })
    };
    let retry_after_match = if input.variants.is_empty() {
        quote!(match *self {})
    } else {
        quote!(match self { #(#retry_after_arms)* #fallback })
    };

    quote! {
        #kind_enum

        #[automatically_derived]
        impl #impl_generics #rt::Classify for #ty #ty_generics #where_clause {
            type Kind = #kind;

            #[inline]
            fn kind(&self) -> #kind {
                #kind_match
            }

            #[allow(unused_variables)]
            fn class(&self) -> #rt::ErrorClass {
                #class_match
            }

            #[allow(unused_variables)]
            fn retry_after(&self) -> ::core::option::Option<::core::time::Duration> {
                #retry_after_match
            }
        }
    }
}

/// Whether `ty` names one of the type parameters.
fn mentions_any(ty: &syn::Type, params: &[String]) -> bool {
    fn walk(tokens: TokenStream, params: &[String]) -> bool {
        tokens.into_iter().any(|tt| match tt {
            proc_macro2::TokenTree::Ident(i) => params.iter().any(|p| i == p),
            proc_macro2::TokenTree::Group(g) => walk(g.stream(), params),
            _ => false,
        })
    }
    !params.is_empty() && walk(quote!(#ty), params)
}
