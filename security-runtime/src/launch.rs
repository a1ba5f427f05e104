//! Launch-time checks and reports built from what the attribute macros recorded.

use std::collections::BTreeSet;

use rocket::{Orbit, Phase, Rocket};

use crate::model::Role;
use crate::report::{describe, route_records, RouteRecord};

/// A mounted route and the security record of its handler.
#[derive(Debug, Clone)]
pub struct ProtectedRoute {
    /// HTTP method.
    pub method: String,
    /// Full URI as mounted.
    pub uri: String,
    /// What the handler demands.
    pub record: &'static RouteRecord,
}

/// Every mounted route whose handler carries security attributes.
pub fn protected_routes<P: Phase>(rocket: &Rocket<P>) -> Vec<ProtectedRoute> {
    let records: Vec<&'static RouteRecord> = route_records().collect();
    let mut out = Vec::new();
    for route in rocket.routes() {
        let Some(name) = route.name.as_deref() else {
            continue;
        };
        for rec in records.iter().filter(|r| r.handler == name) {
            out.push(ProtectedRoute {
                method: route.method.to_string(),
                uri: route.uri.to_string(),
                record: rec,
            });
        }
    }
    out.sort_by(|a, b| (&a.uri, &a.method).cmp(&(&b.uri, &b.method)));
    out
}

/// The route security report: one line per mounted route with its mechanisms,
/// freshness, roles and permissions. Routes without attributes are listed as open.
pub fn route_report<P: Phase>(rocket: &Rocket<P>) -> String {
    let protected = protected_routes(rocket);
    let mut lines = Vec::new();
    for route in rocket.routes() {
        let uri = route.uri.to_string();
        let method = route.method.to_string();
        let found: Vec<&ProtectedRoute> = protected
            .iter()
            .filter(|p| p.uri == uri && p.method == method)
            .collect();
        let what = if let Some(n) = route
            .name
            .as_deref()
            .filter(|n| n.starts_with("security::"))
        {
            format!("security endpoint ({})", n.trim_start_matches("security::"))
        } else if found.is_empty() {
            "open".to_owned()
        } else {
            found
                .iter()
                .map(|p| describe(p.record.requirement))
                .collect::<Vec<_>>()
                .join(" | ")
        };
        lines.push(format!("{method:<7} {uri:<32} {what}"));
    }
    lines.sort();
    format!(
        "route security report ({} routes):\n  {}",
        lines.len(),
        lines.join("\n  ")
    )
}

/// Roles and permissions named by mounted routes that the datastore does not have:
/// `(missing roles, permissions no role grants)`.
pub fn undeclared<P: Phase>(rocket: &Rocket<P>, roles: &[Role]) -> (Vec<String>, Vec<String>) {
    let have_roles: BTreeSet<&str> = roles.iter().map(|r| r.name.as_str()).collect();
    let have_perms: BTreeSet<&str> = roles
        .iter()
        .flat_map(|r| r.permissions.iter().map(String::as_str))
        .collect();
    let mut missing_roles = BTreeSet::new();
    let mut missing_perms = BTreeSet::new();
    for p in protected_routes(rocket) {
        let req = p.record.requirement;
        for r in req.roles_required.iter().chain(req.roles_accepted) {
            if !have_roles.contains(r) {
                missing_roles.insert((*r).to_owned());
            }
        }
        for perm in req
            .permissions_required
            .iter()
            .chain(req.permissions_accepted)
        {
            if !have_perms.contains(perm) {
                missing_perms.insert((*perm).to_owned());
            }
        }
    }
    (
        missing_roles.into_iter().collect(),
        missing_perms.into_iter().collect(),
    )
}

/// Logs the route report at liftoff.
pub fn log_routes(rocket: &Rocket<Orbit>) {
    rocket::info!("{}", route_report(rocket));
}

/// Brings the schema up to date at launch (`migrate_on_launch`), or, when that is off,
/// refuses a schema with pending migrations. Logs what it found and did.
pub(crate) async fn schema(
    datastore: &dyn crate::datastore::UserDatastore,
    migrate_on_launch: bool,
) -> Result<(), String> {
    let fail = |e: crate::SecurityError| format!("schema migration failed: {e}");
    if !migrate_on_launch {
        let status = datastore.schema_status().await.map_err(fail)?;
        if let Some(first) = status.pending.first() {
            return Err(format!(
                "the database schema is at version {} and {} migration(s) are pending, from \
                 {} ({}); run `security-cli db upgrade` or set \
                 `security.migrate_on_launch = true`",
                status.version(),
                status.pending.len(),
                first.version,
                first.name
            ));
        }
        return Ok(());
    }
    let status = datastore.migrate().await.map_err(fail)?;
    if !status.applied_now.is_empty() {
        rocket::info!(
            "security schema: {} upgraded to version {} (applied {:?})",
            status.origin,
            status.version(),
            status.applied_now
        );
    }
    Ok(())
}
