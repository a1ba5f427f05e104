//! `#[derive(UserModel)]` and `#[derive(RoleModel)]`.
//!
//! Both derives map the fields of an application struct onto the attributes of the
//! runtime's `User` or `Role` by name, so they share this folder; the two tables of known
//! attributes are the only difference, plus the JSON payload that only users have.

mod parse;
mod shape;

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::DeriveInput;

use crate::diag::{backticked, did_you_mean, Errors};
use parse::{ModelField, ModelInput};
use shape::Shape;

/// Which derive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Model {
    User,
    Role,
}

/// A Flask-Security attribute a model field can hold.
struct Known {
    name: &'static str,
    ty: Ty,
    required: bool,
}

/// The type a known attribute has in the runtime's `User` / `Role`.
#[derive(Debug, Clone, Copy)]
enum Ty {
    String,
    OptString,
    Bool,
    I32,
    OptI32,
    DateTime,
    OptDateTime,
    VecString,
    /// `Vec<R>` with `R: RoleModel`, or `Vec<String>` for role names.
    Roles,
}

const fn known(name: &'static str, ty: Ty) -> Known {
    Known {
        name,
        ty,
        required: false,
    }
}

const fn required(name: &'static str, ty: Ty) -> Known {
    Known {
        name,
        ty,
        required: true,
    }
}

/// Parity: the `fsqla_v3` user columns.
const USER_FIELDS: &[Known] = &[
    known("id", Ty::I32),
    required("email", Ty::String),
    known("username", Ty::OptString),
    required("password", Ty::OptString),
    required("active", Ty::Bool),
    required("fs_uniquifier", Ty::String),
    known("fs_token_uniquifier", Ty::OptString),
    known("confirmed_at", Ty::OptDateTime),
    known("last_login_at", Ty::OptDateTime),
    known("current_login_at", Ty::OptDateTime),
    known("last_login_ip", Ty::OptString),
    known("current_login_ip", Ty::OptString),
    known("login_count", Ty::OptI32),
    known("tf_primary_method", Ty::OptString),
    known("tf_totp_secret", Ty::OptString),
    known("tf_phone_number", Ty::OptString),
    known("us_phone_number", Ty::OptString),
    known("us_totp_secrets", Ty::OptString),
    known("mf_recovery_codes", Ty::OptString),
    known("create_datetime", Ty::DateTime),
    known("update_datetime", Ty::DateTime),
    known("roles", Ty::Roles),
];

/// Parity: the `fsqla_v3` role columns.
const ROLE_FIELDS: &[Known] = &[
    known("id", Ty::I32),
    required("name", Ty::String),
    known("description", Ty::OptString),
    known("permissions", Ty::VecString),
    known("update_datetime", Ty::DateTime),
];

impl Ty {
    fn shape(self) -> Shape {
        let option = |inner| Shape::Option(Box::new(inner));
        match self {
            Ty::String => Shape::String,
            Ty::OptString => option(Shape::String),
            Ty::Bool => Shape::Bool,
            Ty::I32 => Shape::I32,
            Ty::OptI32 => option(Shape::I32),
            Ty::DateTime => Shape::DateTime,
            Ty::OptDateTime => option(Shape::DateTime),
            Ty::VecString => Shape::Vec(Box::new(Shape::String)),
            Ty::Roles => Shape::Vec(Box::new(Shape::Any)),
        }
    }

    fn spelling(self) -> &'static str {
        match self {
            Ty::String => "String",
            Ty::OptString => "Option<String>",
            Ty::Bool => "bool",
            Ty::I32 => "i32",
            Ty::OptI32 => "Option<i32>",
            Ty::DateTime => "NaiveDateTime",
            Ty::OptDateTime => "Option<NaiveDateTime>",
            Ty::VecString => "Vec<String>",
            Ty::Roles => "Vec<R>` (with `R: RoleModel`) or `Vec<String>",
        }
    }
}

impl Model {
    fn derive_name(self) -> &'static str {
        match self {
            Model::User => "UserModel",
            Model::Role => "RoleModel",
        }
    }

    /// The runtime type the model is built from.
    fn source(self) -> &'static str {
        match self {
            Model::User => "User",
            Model::Role => "Role",
        }
    }

    fn known(self) -> &'static [Known] {
        match self {
            Model::User => USER_FIELDS,
            Model::Role => ROLE_FIELDS,
        }
    }
}

/// Expands `#[derive(UserModel)]` or `#[derive(RoleModel)]`.
pub(crate) fn expand(model: Model, input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error(),
    };
    let mut errors = Errors::default();
    let plan = parse::parse(&input, model.derive_name(), &mut errors)
        .map(|parsed| plan(model, &parsed, &mut errors));
    match plan {
        Some(plan) if errors.is_empty() => generate(model, &input, &plan),
        // A stub impl keeps "trait not implemented" errors from piling on top of ours.
        _ => {
            let errors = errors.to_compile_errors();
            let stub = stub(model, &input);
            quote!(#errors #stub)
        }
    }
}

/// What to generate: one initializer per field and the payload entries.
struct Plan {
    inits: Vec<TokenStream>,
    payload: Vec<TokenStream>,
}

fn plan(model: Model, input: &ModelInput, errors: &mut Errors) -> Plan {
    let mut plan = Plan {
        inits: Vec::new(),
        payload: Vec::new(),
    };
    let mut held: Vec<(String, &syn::Ident)> = Vec::new();
    // An unknown field may be the missing required one misspelt: report only the former.
    let mut unknown = false;
    let mut payload_keys: Vec<String> = Vec::new();
    for field in &input.fields {
        if let Some((key, span)) = field.payload_key() {
            if model == Model::Role {
                errors.at(span, "`payload` only applies to `#[derive(UserModel)]`");
            } else if payload_keys.contains(&key) {
                errors.at(span, format!("duplicate payload key `{key}`"));
            } else {
                plan.payload.push(payload_entry(&key, field));
                payload_keys.push(key);
            }
        }
        let ident = &field.ident;
        if field.skip.is_some() {
            plan.inits.push(quote_spanned! {field.ty.span()=>
                #ident: ::core::default::Default::default()
            });
            continue;
        }
        let (target, span) = field.target();
        let Some(known) = model.known().iter().find(|known| known.name == target) else {
            errors.at(span, unknown_field_message(model, field, &target));
            unknown = true;
            continue;
        };
        if let Some((_, first)) = held.iter().find(|(name, _)| *name == target) {
            errors.at(
                span,
                format!(
                    "field `{ident}` maps to `{}.{target}`, which field `{first}` already holds",
                    model.source()
                ),
            );
            continue;
        }
        held.push((target.clone(), ident));
        if !known.ty.shape().admits(&Shape::of(&field.ty)) {
            errors.spanned(
                &field.ty,
                format!(
                    "field `{ident}` holds `{}.{target}` and must have type `{}`: `{ident}: {}`",
                    model.source(),
                    known.ty.spelling(),
                    known.ty.spelling()
                ),
            );
            continue;
        }
        plan.inits.push(conversion(model, known, field));
    }
    for missing in model.known().iter().filter(|known| {
        known.required && !unknown && !held.iter().any(|(name, _)| name == known.name)
    }) {
        errors.spanned(
            &input.ident,
            format!(
                "`#[derive({})]` needs a field for `{}.{name}`: add `{name}: {}` or put `#[security(rename = \"{name}\")]` on the field that holds it",
                model.derive_name(),
                model.source(),
                missing.ty.spelling(),
                name = missing.name,
            ),
        );
    }
    plan
}

fn unknown_field_message(model: Model, field: &ModelField, target: &str) -> String {
    let names = model.known().iter().map(|known| known.name);
    let suggestion = did_you_mean(target, names.clone());
    let source = model.source();
    match &field.rename {
        Some(_) => format!(
            "`{target}` is not an attribute of Flask-Security's `{source}`{suggestion}; `rename` takes one of {}",
            backticked(names)
        ),
        None => format!(
            "field `{target}` is not an attribute of Flask-Security's `{source}`{suggestion}; mark it `#[security(skip)]` (filled with `Default::default()`) or map it with `#[security(rename = \"...\")]` to one of {}",
            backticked(names)
        ),
    }
}

/// `field: <value read from the runtime's User/Role>`, spanned at the field's type so
/// that a type error points there.
fn conversion(model: Model, known: &Known, field: &ModelField) -> TokenStream {
    let private = quote!(::security_runtime::__private);
    let ident = &field.ident;
    // Every token of the value carries the field type's span, so a type error points there.
    let span = field.ty.span();
    let source = match model {
        Model::User => syn::Ident::new("__security_user", span),
        Model::Role => syn::Ident::new("__security_role", span),
    };
    let attribute = syn::Ident::new(known.name, span);
    let value = match known.ty {
        Ty::Roles => {
            let names = Shape::vec_element(&field.ty).map(Shape::of) == Some(Shape::String);
            let each = if names {
                quote!(|__security_each| ::core::clone::Clone::clone(&__security_each.name))
            } else {
                quote!(#private::RoleModel::from_role)
            };
            quote_spanned! {span=>
                ::core::iter::Iterator::collect(
                    ::core::iter::Iterator::map(#source.#attribute.iter(), #each)
                )
            }
        }
        _ => quote_spanned! {span=> ::core::clone::Clone::clone(&#source.#attribute) },
    };
    quote!(#ident: #value)
}

/// One `insert` into the payload map.
fn payload_entry(key: &str, field: &ModelField) -> TokenStream {
    let private = quote!(::security_runtime::__private);
    let ident = &field.ident;
    let value = quote_spanned! {field.ty.span()=>
        #private::serde_json::to_value(&self.#ident)
    };
    quote! {
        __security_payload.insert(
            ::std::string::String::from(#key),
            ::core::result::Result::unwrap_or(#value, #private::serde_json::Value::Null),
        );
    }
}

fn generate(model: Model, input: &DeriveInput, plan: &Plan) -> TokenStream {
    let private = quote!(::security_runtime::__private);
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let inits = &plan.inits;
    match model {
        Model::User => {
            let payload = (!plan.payload.is_empty()).then(|| {
                let entries = &plan.payload;
                quote! {
                    fn security_payload(
                        &self,
                    ) -> #private::serde_json::Map<::std::string::String, #private::serde_json::Value> {
                        let mut __security_payload = #private::serde_json::Map::new();
                        #(#entries)*
                        __security_payload
                    }
                }
            });
            quote! {
                #[automatically_derived]
                impl #impl_generics #private::UserModel for #ident #ty_generics #where_clause {
                    fn from_user(__security_user: &#private::User) -> Self {
                        Self { #(#inits,)* }
                    }
                    #payload
                }
            }
        }
        Model::Role => quote! {
            #[automatically_derived]
            impl #impl_generics #private::RoleModel for #ident #ty_generics #where_clause {
                fn from_role(__security_role: &#private::Role) -> Self {
                    Self { #(#inits,)* }
                }
            }
        },
    }
}

/// An impl that type-checks whatever the input, emitted beside the errors.
fn stub(model: Model, input: &DeriveInput) -> TokenStream {
    let private = quote!(::security_runtime::__private);
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let (trait_name, method, source) = match model {
        Model::User => (quote!(UserModel), quote!(from_user), quote!(User)),
        Model::Role => (quote!(RoleModel), quote!(from_role), quote!(Role)),
    };
    quote! {
        #[automatically_derived]
        impl #impl_generics #private::#trait_name for #ident #ty_generics #where_clause {
            fn #method(_: &#private::#source) -> Self {
                ::core::unimplemented!()
            }
        }
    }
}
