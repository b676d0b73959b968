//! The derive's input as it matters here: the type, its variants and each variant's class marker.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Attribute, Data, DeriveInput, Fields, Ident, Member, Path, Type};

use crate::errors::Errors;

/// The type the derive is on.
pub struct Input<'a> {
    pub original: &'a DeriveInput,
    /// The runtime's path (`#[classify(crate = ..)]`).
    pub krate: TokenStream,
    /// Variants (a struct is one variant named after it).
    pub variants: Vec<Variant<'a>>,
    /// `true` for a struct.
    pub is_struct: bool,
    /// The class of unmarked variants.
    pub default_transient: bool,
}

/// One variant and how it is classified.
pub struct Variant<'a> {
    pub ident: &'a Ident,
    pub fields: &'a Fields,
    pub marker: Marker,
}

/// How a variant is classified.
pub enum Marker {
    /// No marker: the type's default class.
    Default,
    /// `#[transient]`, with an optional `retry_after` field.
    Transient { retry_after: Option<FieldRef> },
    /// `#[permanent]`.
    Permanent,
    /// `#[classify(with = path)]`.
    With(Path),
    /// `#[classify(source)]` or `#[classify(source = field)]`.
    Source(FieldRef),
}

/// A field of a variant, with the span of the attribute that named it.
pub struct FieldRef {
    pub member: Member,
    pub ty: Type,
    pub span: Span,
}

/// Which attribute a marker came from, for "two markers" errors.
fn marker_name(attr: &Attribute) -> Option<&'static str> {
    let path = attr.path();
    if path.is_ident("transient") {
        Some("#[transient]")
    } else if path.is_ident("permanent") {
        Some("#[permanent]")
    } else if path.is_ident("classify") {
        Some("#[classify(..)]")
    } else {
        None
    }
}

impl<'a> Input<'a> {
    pub fn from_syn(input: &'a DeriveInput, errors: &mut Errors) -> Input<'a> {
        let mut krate = quote!(::retry_runtime);
        let mut default_transient = false;
        let mut type_marker_attrs = Vec::new();
        for attr in &input.attrs {
            if attr.path().is_ident("classify") {
                let mut is_type_setting = false;
                let mut other = false;
                let result = attr.parse_nested_meta(|meta| {
                    if meta.path.is_ident("crate") {
                        is_type_setting = true;
                        let path: Path = meta.value()?.parse()?;
                        krate = quote!(#path);
                    } else if meta.path.is_ident("default") {
                        is_type_setting = true;
                        let value: Ident = meta.value()?.parse()?;
                        match value.to_string().as_str() {
                            "transient" => default_transient = true,
                            "permanent" => default_transient = false,
                            _ => {
                                return Err(syn::Error::new_spanned(
                                    value,
                                    "`default` expects `transient` or `permanent`",
                                ));
                            }
                        }
                    } else {
                        other = true;
                        // `with` and `source` are markers; read them below with the variant's.
                        if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
                            let _: TokenStream = meta.value()?.parse()?;
                        }
                    }
                    Ok(())
                });
                if let Err(e) = result {
                    errors.push(e);
                    continue;
                }
                if other {
                    if is_type_setting {
                        errors.at(attr, "write type settings (`crate`, `default`) and a marker in separate `#[classify(..)]` attributes");
                    }
                    type_marker_attrs.push(attr);
                }
            } else if marker_name(attr).is_some() {
                type_marker_attrs.push(attr);
            }
        }

        let (variants, is_struct) = match &input.data {
            Data::Enum(data) => {
                for attr in &type_marker_attrs {
                    errors.at(
                        attr.path(),
                        "on an enum, class markers go on each variant; to change the class of unmarked variants write `#[classify(default = transient)]`",
                    );
                }
                let variants = data
                    .variants
                    .iter()
                    .map(|v| {
                        check_fields(&v.fields, errors);
                        let marker = read_marker(&v.attrs, &v.ident, &v.fields, errors);
                        Variant { ident: &v.ident, fields: &v.fields, marker }
                    })
                    .collect();
                (variants, false)
            }
            Data::Struct(data) => {
                check_fields(&data.fields, errors);
                let owned: Vec<Attribute> = type_marker_attrs.iter().map(|a| (*a).clone()).collect();
                let marker = read_marker(&owned, &input.ident, &data.fields, errors);
                (vec![Variant { ident: &input.ident, fields: &data.fields, marker }], true)
            }
            Data::Union(data) => {
                errors.at(
                    data.union_token,
                    "`#[derive(Classify)]` supports enums and structs, not unions: an error type needs to say which case it is",
                );
                (Vec::new(), false)
            }
        };
        Input { original: input, krate, variants, is_struct, default_transient }
    }
}

/// A class marker on a field is a mistake: markers go on variants.
fn check_fields(fields: &Fields, errors: &mut Errors) {
    for field in fields {
        for attr in &field.attrs {
            if let Some(name) = marker_name(attr) {
                errors.at(
                    attr.path(),
                    format!("{name} goes on a variant (or on a struct), not on a field; to delegate to a field write `#[classify(source)]` on the variant"),
                );
            }
        }
    }
}

fn read_marker(attrs: &[Attribute], owner: &Ident, fields: &Fields, errors: &mut Errors) -> Marker {
    let mut marker: Option<(Marker, &'static str)> = None;
    for attr in attrs {
        let Some(name) = marker_name(attr) else { continue };
        let parsed = match name {
            "#[transient]" => parse_transient(attr, owner, fields),
            "#[permanent]" => match &attr.meta {
                syn::Meta::Path(_) => Ok(Some(Marker::Permanent)),
                _ => Err(syn::Error::new_spanned(attr, "`#[permanent]` takes no arguments")),
            },
            _ => parse_classify(attr, owner, fields),
        };
        match parsed {
            Ok(None) => {}
            Ok(Some(found)) => {
                if let Some((_, first)) = &marker {
                    errors.at(
                        attr.path(),
                        format!("`{owner}` already has the marker {first}: give each variant one marker"),
                    );
                } else {
                    marker = Some((found, name));
                }
            }
            Err(e) => errors.push(e),
        }
    }
    marker.map_or(Marker::Default, |(m, _)| m)
}

fn parse_transient(attr: &Attribute, owner: &Ident, fields: &Fields) -> syn::Result<Option<Marker>> {
    if let syn::Meta::Path(_) = attr.meta {
        return Ok(Some(Marker::Transient { retry_after: None }));
    }
    let mut retry_after = None;
    attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("retry_after") {
            let member: Member = meta.value()?.parse()?;
            retry_after = Some(field(owner, fields, member)?);
            Ok(())
        } else {
            Err(meta.error("`#[transient]` accepts only `retry_after = field`, naming a `Duration` or `Option<Duration>` field"))
        }
    })?;
    Ok(Some(Marker::Transient { retry_after }))
}

fn parse_classify(attr: &Attribute, owner: &Ident, fields: &Fields) -> syn::Result<Option<Marker>> {
    let mut marker = None;
    attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("with") {
            let path: Path = meta.value()?.parse()?;
            marker = Some(Marker::With(path));
        } else if meta.path.is_ident("source") {
            let span = syn::spanned::Spanned::span(&meta.path);
            let field = if meta.input.peek(syn::Token![=]) {
                let member: Member = meta.value()?.parse()?;
                field(owner, fields, member)?
            } else {
                let mut iter = fields.iter();
                match (iter.next(), iter.next()) {
                    (Some(f), None) => FieldRef {
                        member: f.ident.clone().map_or(Member::Unnamed(0.into()), Member::Named),
                        ty: f.ty.clone(),
                        span,
                    },
                    _ => {
                        return Err(syn::Error::new(
                            span,
                            format!(
                                "`#[classify(source)]` needs `{owner}` to have exactly one field; name the one to delegate to: `#[classify(source = field)]`"
                            ),
                        ));
                    }
                }
            };
            marker = Some(Marker::Source(field));
        } else if meta.path.is_ident("crate") || meta.path.is_ident("default") {
            return Err(meta.error("`crate` and `default` go on the type, not on a variant"));
        } else {
            return Err(meta.error("expected one of: `with = path`, `source`, `source = field` (or on the type: `crate = path`, `default = transient`)"));
        }
        Ok(())
    })?;
    Ok(marker)
}

/// Resolves a field named in an attribute, or explains which fields exist.
fn field(owner: &Ident, fields: &Fields, member: Member) -> syn::Result<FieldRef> {
    let span = syn::spanned::Spanned::span(&member);
    let found = fields.iter().enumerate().find(|(i, f)| match (&member, &f.ident) {
        (Member::Named(name), Some(ident)) => name == ident,
        (Member::Unnamed(index), None) => index.index as usize == *i,
        _ => false,
    });
    match found {
        Some((_, f)) => Ok(FieldRef { member, ty: f.ty.clone(), span }),
        None => {
            let names: Vec<String> = fields
                .iter()
                .enumerate()
                .map(|(i, f)| f.ident.as_ref().map_or(i.to_string(), ToString::to_string))
                .collect();
            let shown = match &member {
                Member::Named(n) => n.to_string(),
                Member::Unnamed(i) => i.index.to_string(),
            };
            let list = if names.is_empty() {
                "it has no fields".to_string()
            } else {
                format!("its fields are: {}", names.join(", "))
            };
            Err(syn::Error::new(span, format!("`{owner}` has no field `{shown}`; {list}")))
        }
    }
}
