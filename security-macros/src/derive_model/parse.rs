//! Parses a model struct and its `#[security(...)]` field attributes.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, LitStr, Token, Type};

use crate::diag::{did_you_mean, Errors};

/// A struct with named fields.
pub(crate) struct ModelInput {
    pub(crate) ident: Ident,
    pub(crate) fields: Vec<ModelField>,
}

/// One field and its `#[security(...)]` options.
pub(crate) struct ModelField {
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
    /// `skip`: filled with `Default::default()`.
    pub(crate) skip: Option<Span>,
    /// `rename = "..."`: the Flask-Security attribute this field holds.
    pub(crate) rename: Option<LitStr>,
    /// `payload` or `payload = "key"`: included in the JSON `user` object.
    pub(crate) payload: Option<Payload>,
}

/// A `payload` option.
pub(crate) struct Payload {
    pub(crate) span: Span,
    pub(crate) key: Option<LitStr>,
}

impl ModelField {
    /// The Flask-Security attribute name this field maps to, and the token to point at.
    pub(crate) fn target(&self) -> (String, Span) {
        match &self.rename {
            Some(rename) => (rename.value(), rename.span()),
            None => (self.ident.unraw().to_string(), self.ident.span()),
        }
    }

    /// The payload key, if the field is part of the payload.
    pub(crate) fn payload_key(&self) -> Option<(String, Span)> {
        self.payload.as_ref().map(|payload| match &payload.key {
            Some(key) => (key.value(), key.span()),
            None => (self.ident.unraw().to_string(), payload.span),
        })
    }
}

const OPTIONS: [&str; 3] = ["skip", "rename", "payload"];

/// Parses the derive input of `#[derive(<derive>)]`; `None` if it is not a struct with
/// named fields. Every problem is recorded in `errors`.
pub(crate) fn parse(input: &DeriveInput, derive: &str, errors: &mut Errors) -> Option<ModelInput> {
    let expected = format!(
        "`#[derive({derive})]` needs a struct with named fields: `struct App{} {{ ... }}`",
        derive.strip_suffix("Model").unwrap_or(derive)
    );
    let fields = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(fields) => fields,
            Fields::Unnamed(fields) => {
                errors.spanned(fields, expected);
                return None;
            }
            Fields::Unit => {
                errors.spanned(&input.ident, expected);
                return None;
            }
        },
        Data::Enum(data) => {
            errors.spanned(data.enum_token, expected);
            return None;
        }
        Data::Union(data) => {
            errors.spanned(data.union_token, expected);
            return None;
        }
    };
    for attr in input
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("security"))
    {
        errors.spanned(
            attr,
            "`#[security(...)]` goes on fields: `#[security(skip)]`, `#[security(rename = \"email\")]`, `#[security(payload)]`",
        );
    }
    let fields = fields
        .named
        .iter()
        .filter_map(|field| parse_field(field, errors))
        .collect();
    Some(ModelInput {
        ident: input.ident.clone(),
        fields,
    })
}

fn parse_field(field: &syn::Field, errors: &mut Errors) -> Option<ModelField> {
    let mut parsed = ModelField {
        ident: field.ident.clone()?,
        ty: field.ty.clone(),
        skip: None,
        rename: None,
        payload: None,
    };
    let mut broken = None;
    for attr in field
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("security"))
    {
        let result = attr.parse_nested_meta(|meta| {
            let duplicate = || meta.error("duplicate option in `#[security(...)]`");
            let name = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            match name.as_str() {
                "skip" if parsed.skip.is_some() => return Err(duplicate()),
                "skip" => parsed.skip = Some(meta.path.span()),
                "rename" if parsed.rename.is_some() => return Err(duplicate()),
                "rename" => {
                    let rename: LitStr = meta.value()?.parse()?;
                    if rename.value().is_empty() {
                        return Err(syn::Error::new(
                            rename.span(),
                            "`rename` needs a Flask-Security attribute name: `#[security(rename = \"email\")]`",
                        ));
                    }
                    parsed.rename = Some(rename);
                }
                "payload" if parsed.payload.is_some() => return Err(duplicate()),
                "payload" => {
                    let key = if meta.input.peek(Token![=]) {
                        Some(meta.value()?.parse::<LitStr>()?)
                    } else {
                        None
                    };
                    parsed.payload = Some(Payload {
                        span: meta.path.span(),
                        key,
                    });
                }
                other => {
                    return Err(meta.error(format!(
                        "unknown option `{other}`{}; expected `skip`, `rename = \"...\"`, `payload` or `payload = \"key\"`",
                        did_you_mean(other, OPTIONS)
                    )))
                }
            }
            Ok(())
        });
        if let Err(error) = result {
            errors.push(error);
            broken = Some(attr.span());
        }
    }
    if broken.is_some() {
        // Its options are unknown: check nothing else about the field.
        parsed.skip = broken;
        parsed.rename = None;
        parsed.payload = None;
        return Some(parsed);
    }
    if let (Some(_), Some(rename)) = (parsed.skip, &parsed.rename) {
        errors.spanned(
            rename,
            "a skipped field is not read from Flask-Security; remove `skip` or `rename`",
        );
    }
    Some(parsed)
}
