//! The route security report: what every macro-protected handler demands, and the roles
//! the application declares.
//!
//! Each handler carrying a security attribute (`#[auth_required]`, `#[roles_required]`,
//! ...) submits one [`RouteRecord`] at compile time; a crate with a `security-roles.toml`
//! also submits [`DeclaredRoles`]. Both are gathered with `inventory` before `main`, so
//! the report covers every linked crate without registration code. Flask-Security has no
//! equivalent; it is the compile-time counterpart of reading the decorators of each view.

use std::collections::HashSet;
use std::fmt::Write as _;

use crate::guards::requirement::{AuthRequirement, Requirement};

/// What one macro-protected handler demands.
///
/// Built by the attribute macros; the runtime matches it to a mounted Rocket route by
/// [`handler`](Self::handler) (Rocket's route name) and module.
#[derive(Debug)]
pub struct RouteRecord {
    /// The handler function's name, as Rocket names the route.
    pub handler: &'static str,
    /// `module_path!()` where the handler is defined; its first segment is the crate.
    pub module_path: &'static str,
    /// The combined requirement of all the handler's security attributes.
    pub requirement: &'static Requirement,
}

inventory::collect!(RouteRecord);

/// One role declared in `security-roles.toml`.
#[derive(Debug)]
pub struct DeclaredRole {
    /// The role's name.
    pub name: &'static str,
    /// Its `description`, if given.
    pub description: Option<&'static str>,
    /// The permissions it grants, in written order.
    pub permissions: &'static [&'static str],
}

/// The roles a crate declares in its `security-roles.toml`.
///
/// The macros may submit the same declaration several times per crate (once per
/// expansion that read the file); [`declared_roles`] keeps one per crate.
#[derive(Debug)]
pub struct DeclaredRoles {
    /// `module_path!()` of the submitting expansion; its first segment is the crate.
    pub module_path: &'static str,
    /// Absolute path of the file the roles were read from.
    pub source: &'static str,
    /// The declared roles, sorted by name.
    pub roles: &'static [DeclaredRole],
}

inventory::collect!(DeclaredRoles);

impl RouteRecord {
    /// The crate that defines the handler.
    pub fn crate_name(&self) -> &'static str {
        crate_of(self.module_path)
    }
}

impl DeclaredRoles {
    /// The crate whose `security-roles.toml` this is.
    pub fn crate_name(&self) -> &'static str {
        crate_of(self.module_path)
    }

    /// The declared role called `name`.
    pub fn role(&self, name: &str) -> Option<&'static DeclaredRole> {
        self.roles.iter().find(|role| role.name == name)
    }

    /// Every permission some declared role grants, each once, sorted.
    pub fn permissions(&self) -> Vec<&'static str> {
        let mut all: Vec<&'static str> = self
            .roles
            .iter()
            .flat_map(|role| role.permissions.iter().copied())
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }
}

fn crate_of(module_path: &'static str) -> &'static str {
    module_path.split("::").next().unwrap_or(module_path)
}

/// Every macro-protected handler linked into the program, sorted by module and handler.
pub fn route_records() -> impl Iterator<Item = &'static RouteRecord> {
    let mut records: Vec<&'static RouteRecord> = inventory::iter::<RouteRecord>().collect();
    records.sort_by_key(|record| (record.module_path, record.handler));
    records.into_iter()
}

/// The roles declared by each crate that has a `security-roles.toml`, one entry per crate,
/// sorted by crate name.
pub fn declared_roles() -> impl Iterator<Item = &'static DeclaredRoles> {
    let mut seen = HashSet::new();
    let mut declared: Vec<&'static DeclaredRoles> = inventory::iter::<DeclaredRoles>()
        .filter(|declared| seen.insert(declared.crate_name()))
        .collect();
    declared.sort_by_key(|declared| declared.crate_name());
    declared.into_iter()
}

/// A plain-text table of `records`: one line per handler with its mechanisms, freshness,
/// roles and permissions.
///
/// ```text
/// route security report: 2 handlers
///   app::admin::users      auth: token, session (fresh within 10 min, grace default); roles all of: admin
///   app::signup            anonymous only; csrf for anonymous callers
/// ```
pub fn format_report<'a>(records: impl IntoIterator<Item = &'a RouteRecord>) -> String {
    let lines: Vec<(String, String)> = records
        .into_iter()
        .map(|record| {
            (
                format!("{}::{}", record.module_path, record.handler),
                describe(record.requirement),
            )
        })
        .collect();
    let width = lines.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    let mut out = format!(
        "route security report: {} handler{}\n",
        lines.len(),
        if lines.len() == 1 { "" } else { "s" }
    );
    for (name, description) in &lines {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "  {name:<width$}  {description}");
    }
    out
}

/// One line describing `requirement`.
pub fn describe(requirement: &Requirement) -> String {
    let mut parts = Vec::new();
    if let Some(auth) = &requirement.auth {
        parts.push(describe_auth(auth));
    }
    let lists = [
        ("roles all of", requirement.roles_required),
        ("roles any of", requirement.roles_accepted),
        ("permissions all of", requirement.permissions_required),
        ("permissions any of", requirement.permissions_accepted),
    ];
    for (label, names) in lists {
        if !names.is_empty() {
            parts.push(format!("{label}: {}", names.join(", ")));
        }
    }
    if requirement.anonymous_only {
        parts.push("anonymous only".to_owned());
    }
    if let Some(csrf) = &requirement.unauth_csrf {
        parts.push(if csrf.fall_through {
            "csrf for anonymous callers (fall through)".to_owned()
        } else {
            "csrf for anonymous callers".to_owned()
        });
    }
    if parts.is_empty() {
        "no requirement".to_owned()
    } else {
        parts.join("; ")
    }
}

fn describe_auth(auth: &AuthRequirement) -> String {
    let mechanisms = if auth.mechanisms.is_empty() {
        "token, session".to_owned()
    } else {
        auth.mechanisms
            .iter()
            .map(|mechanism| mechanism.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut notes = Vec::new();
    if let Some(within) = auth.within {
        let grace = auth
            .grace
            .map_or_else(|| "default".to_owned(), |grace| format!("{grace} min"));
        notes.push(format!("fresh within {within} min, grace {grace}"));
    }
    if let Some(realm) = auth.realm {
        notes.push(format!("realm {realm:?}"));
    }
    if auth.login_required {
        notes.push("skipped when login_disabled".to_owned());
    }
    if notes.is_empty() {
        format!("auth: {mechanisms}")
    } else {
        format!("auth: {mechanisms} ({})", notes.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guards::requirement::{Mechanism, UnauthCsrf};

    static ADMIN: Requirement = Requirement {
        auth: Some(AuthRequirement {
            mechanisms: &[Mechanism::Token, Mechanism::Session],
            within: Some(10),
            ..AuthRequirement::DEFAULT
        }),
        roles_required: &["admin"],
        permissions_accepted: &["user-read", "user-write"],
        ..Requirement::NONE
    };

    static SIGNUP: Requirement = Requirement {
        anonymous_only: true,
        unauth_csrf: Some(UnauthCsrf { fall_through: true }),
        ..Requirement::NONE
    };

    #[test]
    fn describes_requirements() {
        assert_eq!(
            describe(&ADMIN),
            "auth: token, session (fresh within 10 min, grace default); roles all of: admin; permissions any of: user-read, user-write"
        );
        assert_eq!(
            describe(&SIGNUP),
            "anonymous only; csrf for anonymous callers (fall through)"
        );
        assert_eq!(describe(&Requirement::NONE), "no requirement");
    }

    #[test]
    fn formats_a_table() {
        let records = [
            RouteRecord {
                handler: "users",
                module_path: "app::admin",
                requirement: &ADMIN,
            },
            RouteRecord {
                handler: "signup",
                module_path: "app",
                requirement: &SIGNUP,
            },
        ];
        let report = format_report(&records);
        let lines: Vec<&str> = report.lines().collect();
        assert_eq!(lines[0], "route security report: 2 handlers");
        assert!(lines[1].starts_with("  app::admin::users  auth: token, session"));
        assert!(lines[2].starts_with("  app::signup        anonymous only"));
        assert_eq!(records[0].crate_name(), "app");
    }
}
