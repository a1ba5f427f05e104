//! A real browser (Debian's headless Chromium through chromedriver, spoken to in the
//! W3C WebDriver protocol) signs in through the HTML login form of a running server.
//!
//! Runs when `CHROMEDRIVER` names the chromedriver binary (`.ci/run` installs Debian's
//! `chromium` and `chromium-driver` and sets it); a set variable whose driver cannot start
//! fails the test.
#![allow(clippy::unwrap_used)]

use rocket::serde::json::json;
use security_runtime::Security;
use security_tests::webdriver::{on_loopback, while_serving, Driver};
use security_tests::{app, create_user_in, fresh_database, test_figment, Backend};

#[rocket::async_test]
async fn browser_signs_in_through_the_login_form() {
    let Ok(driver_bin) = std::env::var("CHROMEDRIVER") else {
        // CI installs Chromium and its driver: there, a missing one is a failure.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but CHROMEDRIVER is not set: the browser test would check nothing"
        );
        eprintln!("CHROMEDRIVER not set: browser test checked nothing");
        return;
    };
    assert!(
        std::path::Path::new(&driver_bin).is_file(),
        "CHROMEDRIVER={driver_bin} does not exist"
    );
    let url = fresh_database(Backend::Sqlite).await;
    let (figment, port) = on_loopback(test_figment(&url));
    let rocket = app(Backend::Sqlite, figment, Security::new());
    let rocket = rocket.ignite().await.unwrap();
    let st = rocket.state::<security_runtime::SecurityState>().unwrap();
    create_user_in(st, "matt@lp.com", "password123").await;
    let base = format!("http://127.0.0.1:{port}");
    while_serving(rocket, move || {
        let d = Driver::start(&driver_bin);
        // A protected page sends the browser to the login form, carrying `next`.
        d.go(&format!("{base}/profile"));
        let at = d.current_url();
        assert_eq!(at, format!("{base}/login?next=%2Fprofile"));
        // Wrong password: the form again, with Flask-Security's message.
        d.type_into("#email", "matt@lp.com");
        d.type_into("#password", "wrong-password");
        d.click("#submit");
        d.wait_for_text("Invalid password");
        d.type_into("#password", "password123");
        d.click("#submit");
        d.wait_for_url(&format!("{base}/profile"));
        assert_eq!(d.body_text(), "profile matt@lp.com");
        let cookies = d.cookies();
        let session = cookies.iter().find(|c| c["name"] == "session").unwrap();
        assert_eq!(session["httpOnly"], json!(true));
        assert_eq!(session["sameSite"], json!("Lax"));
    })
    .await;
}
