// A role model with a renamed name, known optional fields and a skipped field.
#![deny(warnings)]

use chrono::NaiveDateTime;
use security_runtime::{Role, RoleModel};

#[derive(Debug, RoleModel)]
struct AppRole {
    #[security(rename = "name")]
    title: String,
    description: Option<String>,
    permissions: Vec<String>,
    #[security(skip)]
    members_cached: usize,
}

fn main() {
    let role = Role {
        id: 1,
        name: "editor".into(),
        description: Some("Edits".into()),
        permissions: vec!["post-write".into()],
        update_datetime: NaiveDateTime::default(),
    };
    let app = AppRole::from_role(&role);
    assert_eq!(app.title, "editor");
    assert_eq!(app.description.as_deref(), Some("Edits"));
    assert_eq!(app.permissions, ["post-write"]);
    assert_eq!(app.members_cached, 0);
}
