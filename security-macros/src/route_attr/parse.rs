//! Parses the arguments of one security attribute into a typed value that keeps the spans
//! later checks point at. Checks that concern one attribute alone (a mechanism's spelling,
//! `grace` without `within`) happen here; checks across attributes live in `mod.rs`.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, Lit, LitStr, Token};

use crate::diag::{backticked, did_you_mean, Errors};

/// The ten security attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    AuthRequired,
    LoginRequired,
    AuthTokenRequired,
    HttpAuthRequired,
    RolesRequired,
    RolesAccepted,
    PermissionsRequired,
    PermissionsAccepted,
    AnonymousUserRequired,
    UnauthCsrf,
}

impl Kind {
    const ALL: [Kind; 10] = [
        Kind::AuthRequired,
        Kind::LoginRequired,
        Kind::AuthTokenRequired,
        Kind::HttpAuthRequired,
        Kind::RolesRequired,
        Kind::RolesAccepted,
        Kind::PermissionsRequired,
        Kind::PermissionsAccepted,
        Kind::AnonymousUserRequired,
        Kind::UnauthCsrf,
    ];

    /// The attribute's name as written.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::AuthRequired => "auth_required",
            Kind::LoginRequired => "login_required",
            Kind::AuthTokenRequired => "auth_token_required",
            Kind::HttpAuthRequired => "http_auth_required",
            Kind::RolesRequired => "roles_required",
            Kind::RolesAccepted => "roles_accepted",
            Kind::PermissionsRequired => "permissions_required",
            Kind::PermissionsAccepted => "permissions_accepted",
            Kind::AnonymousUserRequired => "anonymous_user_required",
            Kind::UnauthCsrf => "unauth_csrf",
        }
    }

    /// The attribute called `name`, if it is one of ours.
    pub(crate) fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// True for the attributes that authenticate the caller.
    pub(crate) fn authenticates(self) -> bool {
        matches!(
            self,
            Kind::AuthRequired
                | Kind::LoginRequired
                | Kind::AuthTokenRequired
                | Kind::HttpAuthRequired
        )
    }

    /// True for the attributes that check roles or permissions.
    pub(crate) fn authorizes(self) -> bool {
        matches!(
            self,
            Kind::RolesRequired
                | Kind::RolesAccepted
                | Kind::PermissionsRequired
                | Kind::PermissionsAccepted
        )
    }

    /// True for `permissions_*`, whose names are permissions rather than roles.
    pub(crate) fn names_permissions(self) -> bool {
        matches!(self, Kind::PermissionsRequired | Kind::PermissionsAccepted)
    }

    /// `role` or `permission`, for the attributes that take names.
    pub(crate) fn item_noun(self) -> &'static str {
        if self.names_permissions() {
            "permission"
        } else {
            "role"
        }
    }

    /// A correct use, quoted in messages.
    fn example(self) -> &'static str {
        match self {
            Kind::AuthRequired => "#[auth_required(token, session, within = 10)]",
            Kind::HttpAuthRequired => "#[http_auth_required(\"realm\")]",
            Kind::RolesRequired => "#[roles_required(\"admin\", \"editor\")]",
            Kind::RolesAccepted => "#[roles_accepted(\"editor\", \"author\")]",
            Kind::PermissionsRequired => "#[permissions_required(\"post-read\", \"post-write\")]",
            Kind::PermissionsAccepted => "#[permissions_accepted(\"post-read\", \"post-write\")]",
            Kind::UnauthCsrf => "#[unauth_csrf(fall_through)]",
            Kind::LoginRequired => "#[login_required]",
            Kind::AuthTokenRequired => "#[auth_token_required]",
            Kind::AnonymousUserRequired => "#[anonymous_user_required]",
        }
    }
}

/// An authentication mechanism; the derived order is the order they are tried in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Mechanism {
    Token,
    Session,
    Basic,
}

impl Mechanism {
    const NAMES: [&'static str; 3] = ["token", "session", "basic"];

    fn from_name(name: &str) -> Option<Mechanism> {
        match name {
            "token" => Some(Mechanism::Token),
            "session" => Some(Mechanism::Session),
            "basic" => Some(Mechanism::Basic),
            _ => None,
        }
    }
}

/// One security attribute, parsed.
pub(crate) struct SecurityAttr {
    pub(crate) kind: Kind,
    /// The whole attribute, for errors about the attribute itself: its tokens, so that the
    /// error spans all of it (a `Span` alone covers one token on stable).
    pub(crate) at: TokenStream,
    pub(crate) args: Args,
}

/// The arguments of one attribute.
pub(crate) enum Args {
    /// `auth_required(...)`.
    Auth(Box<AuthArgs>),
    /// `login_required`, `auth_token_required`, `anonymous_user_required`.
    Bare,
    /// `http_auth_required`, with its realm if given.
    Realm(Option<LitStr>),
    /// The roles or permissions of `roles_*` / `permissions_*`; never empty.
    Names(Vec<LitStr>),
    /// `unauth_csrf`.
    UnauthCsrf { fall_through: bool },
}

/// The arguments of `auth_required`.
pub(crate) struct AuthArgs {
    /// Distinct mechanisms in written order; empty means the default.
    pub(crate) mechanisms: Vec<Mechanism>,
    pub(crate) within: Option<Minutes>,
    pub(crate) grace: Option<Minutes>,
}

/// A `within` or `grace` value.
pub(crate) enum Minutes {
    /// An integer literal, sign included, and its expression for errors.
    Literal { value: i64, expr: Expr },
    /// The path of a constant; rustc checks that it is an `i64`.
    Const(syn::Path),
}

/// Parses the argument tokens of attribute `kind`; `at` is the attribute, for errors about
/// it. Returns `None` when the arguments are unusable; every problem is recorded in `errors`.
pub(crate) fn parse(
    kind: Kind,
    at: TokenStream,
    tokens: TokenStream,
    errors: &mut Errors,
) -> Option<SecurityAttr> {
    let exprs = match Punctuated::<Expr, Token![,]>::parse_terminated.parse2(tokens) {
        Ok(exprs) => exprs,
        Err(error) => {
            errors.at(
                error.span(),
                format!("{error}; expected `{}`", kind.example()),
            );
            return None;
        }
    };
    let exprs: Vec<Expr> = exprs.into_iter().map(ungroup).collect();
    // Errors of this attribute alone, to tell whether its arguments are usable.
    let mut own = Errors::default();
    let args = match kind {
        Kind::AuthRequired => Args::Auth(Box::new(parse_auth(&exprs, &mut own))),
        Kind::LoginRequired | Kind::AuthTokenRequired | Kind::AnonymousUserRequired => {
            if let Some(first) = exprs.first() {
                own.spanned(
                    first,
                    format!(
                        "`#[{}]` takes no arguments; write `{}`",
                        kind.name(),
                        kind.example()
                    ),
                );
            }
            Args::Bare
        }
        Kind::HttpAuthRequired => Args::Realm(parse_realm(&exprs, &mut own)),
        Kind::RolesRequired
        | Kind::RolesAccepted
        | Kind::PermissionsRequired
        | Kind::PermissionsAccepted => Args::Names(parse_names(kind, &at, &exprs, &mut own)),
        Kind::UnauthCsrf => Args::UnauthCsrf {
            fall_through: parse_fall_through(&exprs, &mut own),
        },
    };
    let usable = own.is_empty();
    errors.append(own);
    usable.then_some(SecurityAttr { kind, at, args })
}

/// Sees through the invisible groups `macro_rules!` wraps around `$x:expr`.
fn ungroup(expr: Expr) -> Expr {
    match expr {
        Expr::Group(group) => ungroup(*group.expr),
        other => other,
    }
}

/// The identifier an expression consists of, if any.
fn as_ident(expr: &Expr) -> Option<&syn::Ident> {
    match expr {
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => path.path.get_ident(),
        _ => None,
    }
}

/// The string literal an expression consists of, if any.
fn as_str(expr: &Expr) -> Option<&LitStr> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        }) => Some(lit),
        _ => None,
    }
}

const AUTH_KEYS: [&str; 2] = ["within", "grace"];

fn parse_auth(exprs: &[Expr], errors: &mut Errors) -> AuthArgs {
    let mut args = AuthArgs {
        mechanisms: Vec::new(),
        within: None,
        grace: None,
    };
    // Spans of the `within`/`grace` keys, for errors about their combination.
    let (mut within_key, mut grace_key) = (None, None);
    for expr in exprs {
        if let Expr::Assign(assign) = expr {
            let Some(key) = as_ident(&assign.left) else {
                errors.spanned(&assign.left, "expected `within` or `grace` before `=`");
                continue;
            };
            let (slot, key_span) = match key.to_string().as_str() {
                "within" => (&mut args.within, &mut within_key),
                "grace" => (&mut args.grace, &mut grace_key),
                other => {
                    errors.spanned(
                        key,
                        format!(
                            "unknown argument `{other}`{}; expected `within = <minutes>` or `grace = <minutes>`",
                            did_you_mean(other, AUTH_KEYS)
                        ),
                    );
                    continue;
                }
            };
            if key_span.is_some() {
                errors.spanned(
                    key,
                    format!("duplicate `{key}`; write `{key} = <minutes>` once"),
                );
                continue;
            }
            *key_span = Some(key.span());
            *slot = parse_minutes(&key.to_string(), &assign.right, errors);
            continue;
        }
        let (name, span) = if let Some(ident) = as_ident(expr) {
            (ident.to_string(), ident.span())
        } else if let Some(lit) = as_str(expr) {
            (lit.value(), lit.span())
        } else {
            errors.spanned(
                expr,
                format!(
                    "expected a mechanism ({}) or `within = <minutes>` / `grace = <minutes>`",
                    backticked(Mechanism::NAMES)
                ),
            );
            continue;
        };
        match Mechanism::from_name(&name) {
            Some(mechanism) if args.mechanisms.contains(&mechanism) => errors.at(
                span,
                format!("duplicate mechanism `{name}`; list each mechanism at most once"),
            ),
            Some(mechanism) => args.mechanisms.push(mechanism),
            None => errors.at(
                span,
                format!(
                    "unknown mechanism `{name}`{}; expected one of {}",
                    did_you_mean(&name, Mechanism::NAMES),
                    backticked(Mechanism::NAMES)
                ),
            ),
        }
    }
    check_freshness(&args, grace_key, errors);
    args
}

/// `grace` only makes sense next to a freshness check, and is never negative.
fn check_freshness(args: &AuthArgs, grace_key: Option<Span>, errors: &mut Errors) {
    let Some(grace_key) = grace_key else { return };
    match &args.within {
        None => errors.at(
            grace_key,
            "`grace` needs a freshness check; add `within`: `#[auth_required(within = 10, grace = 5)]`",
        ),
        Some(Minutes::Literal { value, .. }) if *value < 0 => errors.at(
            grace_key,
            "`grace` has no effect when `within` is negative (no freshness check); remove `grace` or write `within = <minutes>` with minutes >= 0",
        ),
        Some(_) => {}
    }
    if let Some(Minutes::Literal { value, expr }) = &args.grace {
        if *value < 0 {
            errors.spanned(
                expr,
                "`grace` must not be negative; write `grace = <minutes>` with minutes >= 0",
            );
        }
    }
}

/// Parses `within`'s or `grace`'s value: an integer literal (negative allowed) or a path.
fn parse_minutes(key: &str, expr: &Expr, errors: &mut Errors) -> Option<Minutes> {
    let expected = || {
        format!(
            "`{key}` must be a whole number of minutes or the path of an `i64` constant: `{key} = 10` or `{key} = FRESHNESS_MINUTES`"
        )
    };
    let (negative, literal) = match expr {
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => (true, &**expr),
        Expr::Path(path) if path.qself.is_none() => return Some(Minutes::Const(path.path.clone())),
        other => (false, other),
    };
    let Expr::Lit(syn::ExprLit {
        lit: Lit::Int(int), ..
    }) = literal
    else {
        errors.spanned(expr, expected());
        return None;
    };
    if !matches!(int.suffix(), "" | "i64") {
        errors.spanned(expr, expected());
        return None;
    }
    let digits = if negative {
        format!("-{}", int.base10_digits())
    } else {
        int.base10_digits().to_owned()
    };
    match digits.parse::<i64>() {
        Ok(value) => Some(Minutes::Literal {
            value,
            expr: expr.clone(),
        }),
        Err(_) => {
            errors.spanned(expr, format!("`{key}` does not fit in `i64` minutes"));
            None
        }
    }
}

fn parse_realm(exprs: &[Expr], errors: &mut Errors) -> Option<LitStr> {
    let expected = "expected `#[http_auth_required]`, `#[http_auth_required(\"realm\")]` or `#[http_auth_required(realm = \"realm\")]`";
    let (realm, value) = match exprs {
        [] => return None,
        [Expr::Assign(assign)] if as_ident(&assign.left).is_some_and(|key| key == "realm") => {
            (as_str(&assign.right), &*assign.right)
        }
        [Expr::Assign(assign)] => {
            let hint = as_ident(&assign.left)
                .map(|key| did_you_mean(&key.to_string(), ["realm"]))
                .unwrap_or_default();
            errors.spanned(&assign.left, format!("{expected}{hint}"));
            return None;
        }
        [single] => (as_str(single), single),
        [_, extra, ..] => {
            errors.spanned(extra, expected);
            return None;
        }
    };
    let Some(realm) = realm else {
        errors.spanned(value, expected);
        return None;
    };
    if realm.value().is_empty() {
        errors.spanned(
            realm,
            "the realm must not be empty; omit it to use `default_http_auth_realm`",
        );
        return None;
    }
    Some(realm.clone())
}

fn parse_names(kind: Kind, at: &TokenStream, exprs: &[Expr], errors: &mut Errors) -> Vec<LitStr> {
    let noun = kind.item_noun();
    if exprs.is_empty() {
        errors.spanned(
            at,
            format!(
                "`#[{}]` needs at least one {noun}: `{}`",
                kind.name(),
                kind.example()
            ),
        );
    }
    let mut names: Vec<LitStr> = Vec::new();
    for expr in exprs {
        let Some(lit) = as_str(expr) else {
            errors.spanned(
                expr,
                format!("{noun}s must be string literals: `{}`", kind.example()),
            );
            continue;
        };
        let name = lit.value();
        if name.trim().is_empty() {
            errors.spanned(lit, format!("{noun} names must not be empty"));
        } else if kind.names_permissions() && name.contains(',') {
            errors.spanned(
                lit,
                "permission names cannot contain `,` (Flask-Security stores them comma-separated); write one string per permission",
            );
        } else if names.iter().any(|seen| seen.value() == name) {
            errors.spanned(
                lit,
                format!("duplicate {noun} `{name}` in `#[{}]`", kind.name()),
            );
        } else {
            names.push(lit.clone());
        }
    }
    names
}

fn parse_fall_through(exprs: &[Expr], errors: &mut Errors) -> bool {
    let expected = "expected `#[unauth_csrf]`, `#[unauth_csrf(fall_through)]` or `#[unauth_csrf(fall_through = true)]`";
    match exprs {
        [] => false,
        [single] if as_ident(single).is_some_and(|key| key == "fall_through") => true,
        [Expr::Assign(assign)]
            if as_ident(&assign.left).is_some_and(|key| key == "fall_through") =>
        {
            match &*assign.right {
                Expr::Lit(syn::ExprLit {
                    lit: Lit::Bool(value),
                    ..
                }) => value.value,
                other => {
                    errors.spanned(other, expected);
                    false
                }
            }
        }
        [single] => {
            let message = match as_ident(single) {
                Some(ident) => format!(
                    "unknown argument `{ident}`{}; {expected}",
                    did_you_mean(&ident.to_string(), ["fall_through"])
                ),
                None => expected.to_owned(),
            };
            errors.spanned(single, message);
            false
        }
        [_, extra, ..] => {
            errors.spanned(extra, expected);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn run(kind: Kind, tokens: TokenStream) -> (Option<SecurityAttr>, String) {
        let mut errors = Errors::default();
        let parsed = parse(kind, quote!(#[attr]), tokens, &mut errors);
        (parsed, errors.to_compile_errors().to_string())
    }

    fn auth(tokens: TokenStream) -> AuthArgs {
        match run(Kind::AuthRequired, tokens) {
            (
                Some(SecurityAttr {
                    args: Args::Auth(args),
                    ..
                }),
                _,
            ) => *args,
            (_, errors) => panic!("unexpected errors: {errors}"),
        }
    }

    fn error(kind: Kind, tokens: TokenStream) -> String {
        let (parsed, errors) = run(kind, tokens);
        assert!(parsed.is_none(), "expected an error");
        errors
    }

    #[test]
    fn mechanisms_as_idents_or_strings() {
        let args = auth(quote!(basic, "token"));
        assert_eq!(args.mechanisms, [Mechanism::Basic, Mechanism::Token]);
        assert!(auth(quote!()).mechanisms.is_empty());
    }

    #[test]
    fn within_and_grace() {
        let args = auth(quote!(session, within = 10, grace = 0));
        assert!(matches!(
            args.within,
            Some(Minutes::Literal { value: 10, .. })
        ));
        assert!(matches!(
            args.grace,
            Some(Minutes::Literal { value: 0, .. })
        ));
        let args = auth(quote!(within = -1));
        assert!(matches!(
            args.within,
            Some(Minutes::Literal { value: -1, .. })
        ));
        let args = auth(quote!(within = config::FRESH, grace = GRACE));
        assert!(matches!(args.within, Some(Minutes::Const(_))));
        assert!(matches!(args.grace, Some(Minutes::Const(_))));
    }

    #[test]
    fn auth_errors() {
        assert!(error(Kind::AuthRequired, quote!(tokn)).contains("did you mean `token`"));
        assert!(error(Kind::AuthRequired, quote!(token, token)).contains("duplicate mechanism"));
        assert!(error(Kind::AuthRequired, quote!(within = 1.5)).contains("whole number"));
        assert!(error(Kind::AuthRequired, quote!(within = 5u8)).contains("whole number"));
        assert!(error(Kind::AuthRequired, quote!(grace = 5)).contains("needs a freshness"));
        assert!(error(Kind::AuthRequired, quote!(within = 5, grace = -1)).contains("negative"));
        assert!(error(Kind::AuthRequired, quote!(within = -1, grace = 1)).contains("no effect"));
        assert!(error(Kind::AuthRequired, quote!(whithin = 1)).contains("did you mean `within`"));
        assert!(error(Kind::AuthRequired, quote!(within = 1, within = 2)).contains("duplicate"));
    }

    #[test]
    fn three_mistakes_give_three_errors() {
        let errors = error(Kind::AuthRequired, quote!(tokn, sesion, within = "x"));
        assert_eq!(errors.matches("compile_error").count(), 3, "{errors}");
    }

    #[test]
    fn names() {
        let (parsed, _) = run(Kind::RolesAccepted, quote!("a", "b"));
        let Some(SecurityAttr {
            args: Args::Names(names),
            ..
        }) = parsed
        else {
            panic!("expected names")
        };
        assert_eq!(names.len(), 2);
        assert!(error(Kind::RolesRequired, quote!()).contains("at least one role"));
        assert!(error(Kind::RolesRequired, quote!(admin)).contains("string literals"));
        assert!(error(Kind::RolesRequired, quote!("a", "a")).contains("duplicate role `a`"));
        assert!(error(Kind::PermissionsRequired, quote!("")).contains("must not be empty"));
        assert!(error(Kind::PermissionsRequired, quote!("a,b")).contains("`,`"));
    }

    #[test]
    fn realm_and_csrf_and_bare() {
        for tokens in [quote!(), quote!("api"), quote!(realm = "api")] {
            assert!(run(Kind::HttpAuthRequired, tokens).0.is_some());
        }
        assert!(error(Kind::HttpAuthRequired, quote!("")).contains("must not be empty"));
        assert!(error(Kind::HttpAuthRequired, quote!(realm = 1)).contains("expected"));
        for tokens in [quote!(), quote!(fall_through), quote!(fall_through = false)] {
            assert!(run(Kind::UnauthCsrf, tokens).0.is_some());
        }
        assert!(error(Kind::UnauthCsrf, quote!(fallthrough)).contains("did you mean"));
        assert!(error(Kind::LoginRequired, quote!(within = 5)).contains("takes no arguments"));
    }
}
