//! The ten security attributes (`auth_required`, `roles_required`, ...).
//!
//! Whichever of them is outermost expands first; it collects every other security
//! attribute on the same handler, checks them together and emits one `Requirement` with
//! one hidden guard parameter. The others stay on the handler marked as merged and expand
//! to nothing, so stacking never adds two guards.

mod parse;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::ext::IdentExt;
use syn::spanned::Spanned;

use crate::diag::Errors;
use crate::roles_file::{self, RolesFile};
pub(crate) use parse::Kind;
use parse::{Args, Mechanism, Minutes, SecurityAttr};

/// Rocket's route attributes; a security attribute must be written above one of them.
const ROUTE_ATTRS: [&str; 8] = [
    "get", "put", "post", "delete", "head", "patch", "options", "route",
];

/// The argument the outermost attribute leaves on the attributes it merged. They stay on
/// the handler, so that their `use` imports count as used, and expand to nothing.
const MERGED: &str = "__security_merged";

/// Expands the security attribute `kind` with arguments `args` on `item`.
pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    if is_merged(&args) {
        return item;
    }
    let mut errors = Errors::default();
    let mut function = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Fn(function)) => function,
        // Not a function (or not valid Rust, which rustc reports itself): leave it as is.
        _ => {
            errors.at(
                Span::call_site(),
                format!(
                    "`#[{}]` can only be used on a Rocket route handler: a `fn` with `#[get]`, `#[post]`, `#[route]`, ...",
                    kind.name()
                ),
            );
            return with_errors(&errors, item);
        }
    };
    let attrs = collect_attrs(kind, args, &mut function, &mut errors);
    check_combination(&attrs, &mut errors);
    let roles_file = match roles_file::load() {
        Ok(file) => file,
        Err(problems) => {
            for problem in problems {
                errors.at(Span::call_site(), problem);
            }
            None
        }
    };
    if let Some(file) = &roles_file {
        for attr in &attrs {
            if let Args::Names(names) = &attr.args {
                file.check(attr.kind.names_permissions(), names, &mut errors);
            }
        }
    }
    if !errors.is_empty() {
        // The handler without a guard: Rocket still sees the handler as it was written,
        // so the only errors are ours.
        return with_errors(&errors, quote!(#function));
    }
    generate(&attrs, roles_file.as_ref(), function)
}

/// True for the arguments of an attribute the outermost one already merged.
fn is_merged(args: &TokenStream) -> bool {
    let mut tokens = args.clone().into_iter();
    matches!(
        (tokens.next(), tokens.next()),
        (Some(proc_macro2::TokenTree::Ident(ident)), None) if ident == MERGED
    )
}

fn with_errors(errors: &Errors, item: TokenStream) -> TokenStream {
    let errors = errors.to_compile_errors();
    quote!(#errors #item)
}

/// Parses the invoking attribute and every other security attribute on `function`,
/// replacing the arguments of the latter with [`MERGED`]. Also checks that they sit above
/// a route attribute.
fn collect_attrs(
    kind: Kind,
    args: TokenStream,
    function: &mut syn::ItemFn,
    errors: &mut Errors,
) -> Vec<SecurityAttr> {
    let mut parsed: Vec<SecurityAttr> = Vec::new();
    // The invoking attribute is gone from the item; the call site spans all of it.
    let invoking = quote::quote_spanned!(Span::call_site()=> attribute);
    parsed.extend(parse::parse(kind, invoking, args, errors));
    let mut route: Option<String> = None;
    let mut kept = Vec::with_capacity(function.attrs.len());
    for attr in std::mem::take(&mut function.attrs) {
        let name = attr
            .path()
            .segments
            .last()
            .map(|segment| segment.ident.to_string());
        let Some(other) = name.as_deref().and_then(Kind::from_name) else {
            if route.is_none() && name.as_deref().is_some_and(|n| ROUTE_ATTRS.contains(&n)) {
                route = name;
            }
            kept.push(attr);
            continue;
        };
        if let syn::Meta::List(list) = &attr.meta {
            if is_merged(&list.tokens) {
                kept.push(attr);
                continue;
            }
        }
        if let Some(route) = &route {
            errors.spanned(
                &attr,
                format!(
                    "`#[{}]` must be written above `#[{route}]`, like every security attribute",
                    other.name()
                ),
            );
        }
        if let Some(tokens) = attr_args(&attr, other, errors) {
            parsed.extend(parse::parse(other, quote!(#attr), tokens, errors));
        }
        let path = attr.path();
        let merged = syn::Ident::new(MERGED, Span::call_site());
        kept.push(syn::parse_quote!(#[#path(#merged)]));
    }
    function.attrs = kept;
    if route.is_none() {
        errors.at(
            Span::call_site(),
            format!(
                "`#[{0}]` must be written above the route attribute of a Rocket handler: `#[{0}] #[get(\"/\")] fn handler() {{}}`",
                kind.name()
            ),
        );
    }
    parsed
}

/// The argument tokens of a stacked attribute: empty for `#[x]`, the list for `#[x(...)]`.
fn attr_args(attr: &syn::Attribute, kind: Kind, errors: &mut Errors) -> Option<TokenStream> {
    match &attr.meta {
        syn::Meta::Path(_) => Some(TokenStream::new()),
        syn::Meta::List(list) if matches!(list.delimiter, syn::MacroDelimiter::Paren(_)) => {
            Some(list.tokens.clone())
        }
        _ => {
            errors.spanned(
                attr,
                format!("expected `#[{0}]` or `#[{0}(...)]`", kind.name()),
            );
            None
        }
    }
}

/// Checks that the attributes on one handler agree with each other.
fn check_combination(attrs: &[SecurityAttr], errors: &mut Errors) {
    for (index, attr) in attrs.iter().enumerate() {
        let earlier = &attrs[..index];
        let kind = attr.kind;
        if earlier.iter().any(|seen| seen.kind == kind) {
            let hint = if kind.authorizes() {
                format!(
                    "list every {} in one `#[{}(...)]`",
                    kind.item_noun(),
                    kind.name()
                )
            } else if kind.authenticates() {
                "a handler takes one authentication attribute, e.g. `#[auth_required(token, session, basic)]`".to_owned()
            } else {
                "write it once".to_owned()
            };
            errors.spanned(&attr.at, format!("duplicate `#[{}]`; {hint}", kind.name()));
        } else if let Some(seen) = earlier
            .iter()
            .find(|seen| kind.authenticates() && seen.kind.authenticates())
        {
            errors.spanned(
                &attr.at,
                format!(
                    "`#[{}]` conflicts with `#[{}]`; a handler takes one authentication attribute, e.g. `#[auth_required(token, session, basic)]`",
                    kind.name(),
                    seen.kind.name()
                ),
            );
        } else if let Some(seen) = earlier.iter().find(|seen| contradicts(kind, seen.kind)) {
            let (anonymous, other) = if kind == Kind::AnonymousUserRequired {
                (kind, seen.kind)
            } else {
                (seen.kind, kind)
            };
            let reason = if other.authorizes() {
                "anonymous callers hold no roles or permissions"
            } else {
                "a caller cannot be both authenticated and anonymous"
            };
            errors.spanned(
                &attr.at,
                format!(
                    "`#[{}]` contradicts `#[{}]`: {reason}",
                    other.name(),
                    anonymous.name()
                ),
            );
        }
    }
}

/// `anonymous_user_required` excludes authentication and authorization.
fn contradicts(a: Kind, b: Kind) -> bool {
    let demands_user = |kind: Kind| kind.authenticates() || kind.authorizes();
    (a == Kind::AnonymousUserRequired && demands_user(b))
        || (b == Kind::AnonymousUserRequired && demands_user(a))
}

/// The hidden requirement type, the report record and the handler with its guard.
fn generate(
    attrs: &[SecurityAttr],
    roles_file: Option<&RolesFile>,
    mut function: syn::ItemFn,
) -> TokenStream {
    let private = quote!(::security_runtime::__private);
    let handler = function.sig.ident.to_string();
    let req = format_ident!("__security_req_{}", function.sig.ident.unraw());
    let vis = function.vis.clone();
    let requirement = requirement_expr(attrs);
    let declared = roles_file.map(RolesFile::expand);
    let track_env = roles_file::track_env();
    function.sig.inputs.insert(
        0,
        syn::parse_quote!(__security_guard: #private::Guard<#req>),
    );
    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #req;

        impl #private::RouteRequirement for #req {
            const REQUIREMENT: #private::Requirement = #requirement;
            const HANDLER: &'static str = #handler;
        }

        #private::inventory::submit! {
            #private::RouteRecord {
                handler: #handler,
                module_path: ::core::module_path!(),
                requirement: &<#req as #private::RouteRequirement>::REQUIREMENT,
            }
        }

        #declared
        #track_env

        #function
    }
}

/// The `Requirement` literal combining every attribute; unset fields come from
/// `Requirement::NONE` so the runtime can add fields without breaking expansions.
fn requirement_expr(attrs: &[SecurityAttr]) -> TokenStream {
    let private = quote!(::security_runtime::__private);
    let fields = attrs.iter().map(|attr| match &attr.args {
        Args::Names(names) => {
            let field = format_ident!("{}", attr.kind.name());
            quote!(#field: &[#(#names),*],)
        }
        Args::UnauthCsrf { fall_through } => quote! {
            unauth_csrf: ::core::option::Option::Some(#private::UnauthCsrf {
                fall_through: #fall_through,
            }),
        },
        Args::Bare if attr.kind == Kind::AnonymousUserRequired => quote!(anonymous_only: true,),
        Args::Auth(_) | Args::Realm(_) | Args::Bare => auth_field(attr),
    });
    quote! {
        #private::Requirement {
            #(#fields)*
            ..#private::Requirement::NONE
        }
    }
}

/// The `auth: Some(AuthRequirement { .. })` field of an authentication attribute.
fn auth_field(attr: &SecurityAttr) -> TokenStream {
    let private = quote!(::security_runtime::__private);
    let default = vec![Mechanism::Token, Mechanism::Session];
    let mut fields = TokenStream::new();
    let mut mechanisms = match &attr.args {
        Args::Auth(args) => {
            if let Some(within) = &args.within {
                fields.extend(minutes_field("within", within));
            }
            if let Some(grace) = &args.grace {
                fields.extend(minutes_field("grace", grace));
            }
            if args.mechanisms.is_empty() {
                default
            } else {
                args.mechanisms.clone()
            }
        }
        Args::Realm(realm) => {
            if let Some(realm) = realm {
                fields.extend(quote!(realm: ::core::option::Option::Some(#realm),));
            }
            vec![Mechanism::Basic]
        }
        _ if attr.kind == Kind::LoginRequired => {
            fields.extend(quote!(login_required: true,));
            default
        }
        _ => vec![Mechanism::Token],
    };
    // The order they are tried in, whatever order they were written in.
    mechanisms.sort();
    let mechanisms = mechanisms.iter().map(|mechanism| {
        let variant = format_ident!("{mechanism:?}");
        quote!(#private::Mechanism::#variant)
    });
    quote! {
        auth: ::core::option::Option::Some(#private::AuthRequirement {
            mechanisms: &[#(#mechanisms),*],
            #fields
            ..#private::AuthRequirement::DEFAULT
        }),
    }
}

/// `within: ...,` or `grace: ...,`. A negative `within` means no freshness check
/// (Flask-Security's `within=-1`), which the runtime spells `None`.
fn minutes_field(key: &str, minutes: &Minutes) -> TokenStream {
    let field = format_ident!("{key}");
    let some = quote!(::core::option::Option::Some);
    let none = quote!(::core::option::Option::None);
    match minutes {
        Minutes::Literal { value, .. } if *value < 0 => TokenStream::new(),
        Minutes::Literal { value, expr } => {
            let value = syn::LitInt::new(&value.to_string(), expr.span());
            quote!(#field: #some(#value),)
        }
        // The `let` makes rustc check the constant's type at the user's path.
        Minutes::Const(path) if key == "within" => quote! {
            #field: {
                let __security_minutes: i64 = #path;
                if __security_minutes < 0 { #none } else { #some(__security_minutes) }
            },
        },
        Minutes::Const(path) => quote! {
            #field: {
                let __security_minutes: i64 = #path;
                ::core::assert!(__security_minutes >= 0, "`grace` must not be negative");
                #some(__security_minutes)
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(kind: Kind, args: TokenStream, item: TokenStream) -> String {
        expand(kind, args, item).to_string()
    }

    #[test]
    fn stacked_attributes_add_one_guard() {
        let out = expand_str(
            Kind::AuthRequired,
            quote!(token, within = 5),
            quote! {
                #[roles_required("admin")]
                #[security_runtime::permissions_accepted("a", "b")]
                #[get("/")]
                async fn index(id: i32) {}
            },
        );
        assert_eq!(out.matches("__security_guard").count(), 1, "{out}");
        assert!(out.contains("roles_required (__security_merged)"), "{out}");
        assert!(out.contains("security_runtime :: permissions_accepted (__security_merged)"));
        assert!(out.contains("roles_required : & [\"admin\"]"), "{out}");
        assert!(
            out.contains("permissions_accepted : & [\"a\" , \"b\"]"),
            "{out}"
        );
        assert!(
            out.contains("within : :: core :: option :: Option :: Some (5)"),
            "{out}"
        );
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn merged_attribute_passes_the_item_through() {
        let item = quote!(
            fn index() {}
        );
        let out = expand(Kind::RolesRequired, quote!(__security_merged), item.clone());
        assert_eq!(out.to_string(), item.to_string());
    }

    #[test]
    fn mechanisms_are_sorted_and_defaulted() {
        let out = expand_str(
            Kind::AuthRequired,
            quote!(basic, token),
            quote!(
                #[get("/")]
                fn index() {}
            ),
        );
        assert!(
            out.contains(
                "Mechanism :: Token , :: security_runtime :: __private :: Mechanism :: Basic"
            ),
            "{out}"
        );
        let out = expand_str(
            Kind::LoginRequired,
            quote!(),
            quote!(
                #[post("/")]
                fn index() {}
            ),
        );
        assert!(
            out.contains(
                "Mechanism :: Token , :: security_runtime :: __private :: Mechanism :: Session"
            ),
            "{out}"
        );
        assert!(out.contains("login_required : true"), "{out}");
    }

    #[test]
    fn errors_keep_the_handler_without_guard() {
        let out = expand_str(
            Kind::AnonymousUserRequired,
            quote!(),
            quote! {
                #[auth_required]
                #[get("/")]
                fn index() {}
            },
        );
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("contradicts"), "{out}");
        assert!(!out.contains("__security_guard"), "{out}");
        assert!(out.contains("# [get (\"/\")] fn index () { }"), "{out}");
    }

    #[test]
    fn conflicts() {
        let check = |kinds: &[Kind]| {
            let attrs: Vec<SecurityAttr> = kinds
                .iter()
                .map(|kind| SecurityAttr {
                    kind: *kind,
                    at: quote!(x),
                    args: Args::Bare,
                })
                .collect();
            let mut errors = Errors::default();
            check_combination(&attrs, &mut errors);
            errors.to_compile_errors().to_string()
        };
        assert!(check(&[Kind::AuthRequired, Kind::HttpAuthRequired]).contains("conflicts"));
        assert!(check(&[Kind::UnauthCsrf, Kind::UnauthCsrf]).contains("duplicate"));
        assert!(
            check(&[Kind::PermissionsRequired, Kind::AnonymousUserRequired])
                .contains("contradicts")
        );
        assert!(check(&[Kind::AnonymousUserRequired, Kind::UnauthCsrf]).is_empty());
        assert!(check(&[Kind::AuthRequired, Kind::RolesRequired, Kind::RolesAccepted]).is_empty());
    }
}
