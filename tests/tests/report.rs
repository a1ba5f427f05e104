//! The route security report and the launch-time comparison of the routes' roles and
//! permissions with the datastore.
#![allow(clippy::unwrap_used)]

use rocket::local::asynchronous::Client;
use security_runtime::{route_report, Security};
use security_tests::{app, backends, fresh_database, test_figment, TestApp};

#[rocket::async_test]
async fn report_lists_every_route_with_its_requirement() {
    let app = TestApp::new(backends()[0]).await;
    let report = route_report(app.client.rocket());
    let line = |uri: &str| {
        report
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(uri))
            .unwrap_or_else(|| panic!("{uri} missing from\n{report}"))
            .to_owned()
    };
    assert!(
        line("/admin").ends_with("auth: token, session; roles all of: admin"),
        "{report}"
    );
    assert!(line("/profile").ends_with("auth: token, session"));
    assert!(line("/session").ends_with("auth: session"));
    assert!(line("/http").contains("auth: basic"));
    assert!(line("/http_custom_realm").contains("realm \"My Realm\""));
    assert!(line("/fresh").contains("fresh within 5 min, grace 0 min"));
    assert!(line("/roles_only").ends_with("roles all of: admin"));
    assert!(line("/perms_any").ends_with("permissions any of: full-write, super"));
    assert!(line("/").ends_with("open"));
    assert!(line("/login").ends_with("security endpoint (login)"));
}

#[rocket::async_test]
async fn undeclared_roles_warn_or_refuse() {
    for b in backends() {
        let url = fresh_database(b).await;
        // Default "warn": launches although no role exists yet.
        let client = Client::tracked(app(b, test_figment(&url), Security::new()))
            .await
            .unwrap();
        let st = client
            .rocket()
            .state::<security_runtime::SecurityState>()
            .unwrap();
        let refuse = |u: &str| test_figment(u).merge(("security.undeclared_roles", "refuse"));
        match Client::tracked(app(b, refuse(&url), Security::new())).await {
            Ok(_) => panic!("{b:?}: refuse must stop launch while roles are missing"),
            Err(e) => match e.kind() {
                rocket::error::ErrorKind::FailedFairings(f) => {
                    assert_eq!(f[0].name, "Security")
                }
                k => panic!("{b:?}: {k:?}"),
            },
        }
        // Create what the demo routes name; now "refuse" launches.
        st.datastore
            .find_or_create_role("admin", &["full-write".into()])
            .await
            .unwrap();
        st.datastore
            .find_or_create_role("editor", &["super".into()])
            .await
            .unwrap();
        let ok = Client::tracked(app(b, refuse(&url), Security::new())).await;
        assert!(ok.is_ok(), "{b:?}");
    }
}
