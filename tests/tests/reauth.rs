//! The re-authentication answer announces only what this server offers: the setting it
//! reads (`oauth_enable`) cannot be switched on before its feature exists, so a client
//! is never sent to a sign-in method that is missing. (`unified_signin` and `webauthn`
//! exist: their answers are tested in `unified_signin.rs` and `webauthn.rs`.)
#![allow(clippy::unwrap_used)]

use rocket::local::asynchronous::Client;
use security_runtime::Security;
use security_tests::{app, backends, fresh_database, test_figment};

#[rocket::async_test]
async fn features_the_reauth_payload_would_announce_are_refused_at_launch() {
    let b = backends()[0];
    for key in ["oauth_enable"] {
        let url = fresh_database(b).await;
        let figment = test_figment(&url).merge((format!("security.{key}"), true));
        match Client::tracked(app(b, figment, Security::new())).await {
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    rocket::error::ErrorKind::FailedFairings(f) if f.iter().any(|f| f.name == "Security")
                ),
                "{key}"
            ),
            Ok(_) => panic!("launched with `{key} = true`"),
        }
        // Off, the same settings launch.
        let url = fresh_database(b).await;
        let figment = test_figment(&url).merge((format!("security.{key}"), false));
        assert!(Client::tracked(app(b, figment, Security::new()))
            .await
            .is_ok());
    }
}
