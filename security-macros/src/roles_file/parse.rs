//! Parses the text of `security-roles.toml`:
//!
//! ```toml
//! [roles.admin]
//! description = "Full access"
//! permissions = ["user-read", "user-write"]
//!
//! [roles.reader]
//! permissions = ["user-read"]
//! ```

use toml::{Table, Value};

use crate::diag::did_you_mean;

/// The roles an application declares, sorted by name.
#[derive(Debug)]
pub(crate) struct DeclaredRoles {
    pub(crate) roles: Vec<DeclaredRole>,
}

/// One declared role.
#[derive(Debug)]
pub(crate) struct DeclaredRole {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    /// Distinct permissions in written order.
    pub(crate) permissions: Vec<String>,
}

impl DeclaredRoles {
    /// Every declared role name.
    pub(crate) fn role_names(&self) -> impl Iterator<Item = &str> {
        self.roles.iter().map(|role| role.name.as_str())
    }

    /// Every permission some role grants, each once, sorted.
    pub(crate) fn permissions(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self
            .roles
            .iter()
            .flat_map(|role| role.permissions.iter().map(String::as_str))
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }
}

const ROLE_KEYS: [&str; 2] = ["description", "permissions"];

/// Parses the file's text; on failure returns every problem found, without location prefix.
pub(crate) fn parse(text: &str) -> Result<DeclaredRoles, Vec<String>> {
    let table: Table = text.parse().map_err(|error: toml::de::Error| {
        let position = error
            .span()
            .map(|span| line_column(text, span.start))
            .map(|(line, column)| format!("line {line}, column {column}: "))
            .unwrap_or_default();
        let message = error.message().trim().replace('\n', "; ");
        vec![format!("{position}{message}")]
    })?;
    let mut problems = Vec::new();
    let mut roles = Vec::new();
    for (key, value) in &table {
        if key != "roles" {
            problems.push(format!(
                "unknown key `{key}`{}; expected `[roles.<name>]` tables",
                did_you_mean(key, ["roles"])
            ));
            continue;
        }
        let Value::Table(declared) = value else {
            problems.push("`roles` must be a table of roles: `[roles.admin]`".to_owned());
            continue;
        };
        for (name, role) in declared {
            if let Some(role) = parse_role(name, role, &mut problems) {
                roles.push(role);
            }
        }
    }
    if problems.is_empty() {
        Ok(DeclaredRoles { roles })
    } else {
        Err(problems)
    }
}

fn parse_role(name: &str, value: &Value, problems: &mut Vec<String>) -> Option<DeclaredRole> {
    if name.trim().is_empty() {
        problems.push("role names must not be empty".to_owned());
        return None;
    }
    let Value::Table(fields) = value else {
        problems.push(format!(
            "role `{name}` must be a table: `[roles.{name}]` with optional `description` and `permissions`"
        ));
        return None;
    };
    let mut role = DeclaredRole {
        name: name.to_owned(),
        description: None,
        permissions: Vec::new(),
    };
    let before = problems.len();
    for (key, value) in fields {
        match (key.as_str(), value) {
            ("description", Value::String(text)) => role.description = Some(text.clone()),
            ("description", _) => problems.push(format!(
                "role `{name}`: `description` must be a string: `description = \"...\"`"
            )),
            ("permissions", Value::Array(items)) => {
                role.permissions = parse_permissions(name, items, problems);
            }
            ("permissions", _) => problems.push(format!(
                "role `{name}`: `permissions` must be an array of strings: `permissions = [\"post-read\"]`"
            )),
            (other, _) => problems.push(format!(
                "role `{name}`: unknown key `{other}`{}; expected `description` or `permissions`",
                did_you_mean(other, ROLE_KEYS)
            )),
        }
    }
    (problems.len() == before).then_some(role)
}

fn parse_permissions(role: &str, items: &[Value], problems: &mut Vec<String>) -> Vec<String> {
    let mut permissions: Vec<String> = Vec::new();
    for item in items {
        let Value::String(permission) = item else {
            problems.push(format!(
                "role `{role}`: `permissions` must be an array of strings: `permissions = [\"post-read\"]`"
            ));
            continue;
        };
        if permission.trim().is_empty() {
            problems.push(format!("role `{role}`: permission names must not be empty"));
        } else if permission.contains(',') {
            problems.push(format!(
                "role `{role}`: permission `{permission}` cannot contain `,` (Flask-Security stores permissions comma-separated)"
            ));
        } else if permissions.contains(permission) {
            problems.push(format!(
                "role `{role}`: duplicate permission `{permission}`"
            ));
        } else {
            permissions.push(permission.clone());
        }
    }
    permissions
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_roles() {
        let declared = parse(
            r#"
            [roles.admin]
            description = "Full access"
            permissions = ["user-read", "user-write"]

            [roles.reader]
            permissions = ["user-read"]

            [roles.guest]
            "#,
        )
        .expect("valid file");
        assert_eq!(
            declared.role_names().collect::<Vec<_>>(),
            ["admin", "guest", "reader"]
        );
        assert_eq!(declared.permissions(), ["user-read", "user-write"]);
        assert_eq!(
            declared.roles[0].description.as_deref(),
            Some("Full access")
        );
        assert!(declared.roles[1].permissions.is_empty());
    }

    #[test]
    fn empty_file_declares_nothing() {
        assert!(parse("").expect("valid file").roles.is_empty());
    }

    #[test]
    fn reports_every_problem() {
        let problems = parse(
            r#"
            rols = 1
            [roles.admin]
            permisions = ["a"]
            [roles.editor]
            permissions = ["a", "a", "b,c", 3]
            description = 5
            "#,
        )
        .expect_err("invalid file");
        let all = problems.join("\n");
        assert_eq!(problems.len(), 6, "{all}");
        assert!(all.contains("unknown key `rols` (did you mean `roles`?)"));
        assert!(all.contains("unknown key `permisions` (did you mean `permissions`?)"));
        assert!(all.contains("duplicate permission `a`"));
        assert!(all.contains("cannot contain `,`"));
        assert!(all.contains("`description` must be a string"));
    }

    #[test]
    fn syntax_error_has_position() {
        let problems = parse("[roles.admin]\npermissions = [\"a\"\n").expect_err("invalid file");
        assert!(
            problems[0].starts_with("line 3, column 1: "),
            "{problems:?}"
        );
        assert!(!problems[0].contains('\n'));
    }

    #[test]
    fn roles_must_be_tables() {
        let problems = parse("roles = [\"admin\"]").expect_err("invalid file");
        assert!(problems[0].contains("`roles` must be a table"));
        let problems = parse("[roles]\nadmin = \"x\"").expect_err("invalid file");
        assert!(problems[0].contains("role `admin` must be a table"));
    }
}
