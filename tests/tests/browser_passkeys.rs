//! A real browser (Debian's headless Chromium through chromedriver) with Chromium's
//! virtual authenticator: a user adds a passkey on the default `/wan-register` page
//! (whose script calls `navigator.credentials.create`), signs out, and signs in on the
//! default `/wan-signin` page with the passkey alone, no password typed.
//!
//! Runs when `CHROMEDRIVER` names the chromedriver binary (`.ci/run` sets it); under
//! `CI=true` a missing one fails.
#![allow(clippy::unwrap_used)]

use security_runtime::Security;
use security_tests::webdriver::{on_loopback, required_env, while_serving, Driver};
use security_tests::{app, create_user_in, fresh_database, test_figment, Backend};

#[rocket::async_test]
async fn a_passkey_made_on_the_register_page_signs_in_on_the_signin_page() {
    let Some(driver_bin) = required_env("CHROMEDRIVER", "the passkey browser test") else {
        return;
    };
    let url = fresh_database(Backend::Sqlite).await;
    let (figment, port) = on_loopback(test_figment(&url).merge(("security.webauthn", true)));
    let rocket = app(Backend::Sqlite, figment, Security::new());
    let rocket = rocket.ignite().await.unwrap();
    let st = rocket.state::<security_runtime::SecurityState>().unwrap();
    create_user_in(st, "passkey@example.com", "password123").await;
    // `localhost`, not 127.0.0.1: a WebAuthn RP id is a host name.
    let base = format!("http://localhost:{port}");
    while_serving(rocket, move || {
        let d = Driver::start(&driver_bin);
        let authenticator = d.add_virtual_authenticator();
        d.go(&format!("{base}/login"));
        d.type_into("#email", "passkey@example.com");
        d.type_into("#password", "password123");
        d.click("#submit");
        d.wait_for_url(&format!("{base}/"));
        // The register page: a name, then the browser's ceremony, then the list.
        d.go(&format!("{base}/wan-register"));
        d.type_into("#name", "my laptop key");
        d.click("#submit");
        d.wait_for_text("Successfully added the passkey with name: my laptop key");
        assert_eq!(d.virtual_credentials(&authenticator).len(), 1);
        // Signed out, the passkey alone signs in (no identity typed: discoverable).
        d.delete_cookies();
        d.go(&format!("{base}/profile"));
        assert!(d.current_url().starts_with(&format!("{base}/login")));
        d.go(&format!("{base}/wan-signin"));
        d.click("#submit");
        d.wait_for_url(&format!("{base}/"));
        d.go(&format!("{base}/profile"));
        assert_eq!(d.body_text(), "profile passkey@example.com");
        let creds = d.virtual_credentials(&authenticator);
        assert!(
            creds[0]["signCount"].as_u64().unwrap_or(0) >= 1,
            "{creds:?}"
        );
    })
    .await;
}
