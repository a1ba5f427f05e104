//! Accessibility of the built-in HTML pages: axe-core (WCAG 2.x A/AA and best-practice
//! rules) runs in headless Chromium on every default page of a running server, once as the
//! page is first shown and once after an empty submit (so field errors show), and must
//! report no violation. A PNG of each page goes to `target/a11y-screenshots/` for a person
//! to look at.
//!
//! Runs when `CHROMEDRIVER` names the chromedriver binary and `AXE_CORE_JS` the
//! `axe.min.js` of the `axe-core` npm package (`.ci/run` installs both and sets them);
//! under `CI=true` a missing one fails the test.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocket::serde::json::{json, Value};
use security_runtime::mail::CapturingMailer;
use security_runtime::Security;
use security_tests::flows::features;
use security_tests::webdriver::{on_loopback, required_env, while_serving, Driver};
use security_tests::{app, find_link, fresh_database, path_of, test_figment, Backend};

const EMAIL: &str = "a11y@example.com";
const PASSWORD: &str = "battery staple 9";

/// The pages a visitor reaches: (screenshot name, path).
const ANONYMOUS_PAGES: &[(&str, &str)] = &[
    ("login", "/login"),
    ("register", "/register"),
    ("forgot_password", "/reset"),
    ("send_confirmation", "/confirm"),
    ("recover_username", "/recover-username"),
];

/// The pages of a signed-in user: (screenshot name, path).
const SIGNED_IN_PAGES: &[(&str, &str)] = &[
    ("change_password", "/change"),
    ("change_email", "/change-email"),
    ("change_username", "/change-username"),
    ("wan_register", "/wan-register"),
];

/// Runs axe on the page (after `axe.min.js` was injected) and hands its violations,
/// trimmed to what a failure message shows, to WebDriver's callback.
const AXE_RUN: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document, {
  runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']},
  resultTypes: ['violations']
}).then(r => done(r.violations.map(v => ({
  id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
  nodes: v.nodes.map(n => ({target: n.target, html: n.html, summary: n.failureSummary}))
})))).catch(e => done([{id: 'axe-error', impact: null, help: String(e), helpUrl: '', nodes: []}]));
"#;

#[rocket::async_test]
async fn default_pages_have_no_axe_violations() {
    let test = "the accessibility test";
    let Some(driver_bin) = required_env("CHROMEDRIVER", test) else {
        return;
    };
    let Some(axe_path) = required_env("AXE_CORE_JS", test) else {
        return;
    };
    assert!(
        Path::new(&driver_bin).is_file(),
        "CHROMEDRIVER={driver_bin} does not exist"
    );
    let axe = std::fs::read_to_string(&axe_path)
        .unwrap_or_else(|e| panic!("AXE_CORE_JS={axe_path} cannot be read: {e}"));
    let url = fresh_database(Backend::Sqlite).await;
    // Every page with a default template: registration, confirmation, recovery, the
    // changes, username recovery (`features` adds all but confirmation) and passkeys.
    let all_pages = features(test_figment(&url))
        .merge(("security.confirmable", true))
        .merge(("security.webauthn", true));
    let (figment, port) = on_loopback(all_pages);
    let mailer = CapturingMailer::new();
    let security = Security::new().mail_util(Arc::new(mailer.clone()));
    let rocket = app(Backend::Sqlite, figment, security)
        .ignite()
        .await
        .unwrap();
    let st = rocket.state::<security_runtime::SecurityState>().unwrap();
    let hash = st.hash_password(PASSWORD).await.unwrap();
    st.datastore
        .create_user(security_runtime::NewUser {
            email: EMAIL.into(),
            username: Some("a11y".into()),
            password: Some(hash),
            // Confirmed, so that the login form signs in with `confirmable` on.
            confirmed_at: Some(security_runtime::chrono::Utc::now().naive_utc()),
            ..Default::default()
        })
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let failures =
        while_serving(rocket, move || audit_all(&driver_bin, &axe, &base, &mailer)).await;
    assert!(
        failures.is_empty(),
        "axe-core found violations (screenshots in {}):\n\n{}",
        screenshot_dir().display(),
        failures.join("\n\n")
    );
}

/// Audits every default page; returns one description per page state with violations.
fn audit_all(driver_bin: &str, axe: &str, base: &str, mailer: &CapturingMailer) -> Vec<String> {
    let driver = Driver::start(driver_bin);
    driver.set_script_timeout(Duration::from_secs(60));
    // Tall enough that a screenshot shows a whole form with its errors.
    driver.set_window_size(800, 1400);
    let mut audit = Audit {
        driver: &driver,
        axe,
        shots: screenshot_dir(),
        failures: Vec::new(),
    };
    for (name, path) in ANONYMOUS_PAGES {
        audit.page(name, &format!("{base}{path}"));
    }
    // Its form has no required field: submitted, it starts the browser's ceremony.
    audit.driver.go(&format!("{base}/wan-signin"));
    audit.check("wan_signin-plain");
    // The reset form of a real mailed link: ask for one through the forgot-password form.
    driver.go(&format!("{base}/reset"));
    driver.type_into("#email", EMAIL);
    driver.click("#submit");
    let reset = reset_path(mailer);
    audit.page("reset_password", &format!("{base}{reset}"));
    // Sign in through the login form for the pages of a signed-in user.
    driver.go(&format!("{base}/login"));
    driver.type_into("#email", EMAIL);
    driver.type_into("#password", PASSWORD);
    driver.click("#submit");
    driver.wait_for_url(&format!("{base}/"));
    for (name, path) in SIGNED_IN_PAGES {
        audit.page(name, &format!("{base}{path}"));
    }
    audit.failures
}

struct Audit<'a> {
    driver: &'a Driver,
    axe: &'a str,
    shots: PathBuf,
    failures: Vec<String>,
}

impl Audit<'_> {
    /// Checks the page at `url` as first shown, then after submitting its form empty.
    fn page(&mut self, name: &str, url: &str) {
        self.driver.go(url);
        self.check(&format!("{name}-plain"));
        submit_empty(self.driver);
        let field_errors = self.driver.execute(
            "return document.querySelectorAll('.field-errors li').length;",
            json!([]),
        );
        assert!(
            field_errors.as_u64().unwrap_or(0) > 0,
            "{name}: the empty form came back without field errors: {}",
            self.driver.body_text()
        );
        self.check(&format!("{name}-errors"));
    }

    /// Runs axe-core on the current page, saves its screenshot as `<label>.png`, and
    /// records any violation.
    fn check(&mut self, label: &str) {
        let d = self.driver;
        d.execute(&format!("{}\nreturn true;", self.axe), json!([]));
        let violations = d.execute_async(AXE_RUN, json!([]));
        d.screenshot(&self.shots.join(format!("{label}.png")));
        match violations.as_array() {
            Some(list) if list.is_empty() => {}
            Some(list) => self.failures.push(describe(label, &d.current_url(), list)),
            None => self
                .failures
                .push(format!("{label}: axe-core answered {violations}")),
        }
    }
}

/// Clicks `#submit` without filling anything in and waits for the page that answers.
fn submit_empty(d: &Driver) {
    // A mark on the old document: it is gone once the answer has replaced it.
    d.execute("window.__a11yOldPage = true; return null;", json!([]));
    d.click("#submit");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let fresh = d.execute(
            "return window.__a11yOldPage === undefined && document.readyState === 'complete';",
            json!([]),
        );
        if fresh == json!(true) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the form never came back after an empty submit: {}",
            d.body_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The path of the reset link mailed to `EMAIL` (waits up to 10 s for the mail).
fn reset_path(mailer: &CapturingMailer) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mail = mailer
            .messages()
            .into_iter()
            .find(|m| m.to.contains(EMAIL) && m.template.ends_with("reset_instructions"));
        if let Some(m) = mail {
            let body = m.text.or(m.html).unwrap();
            return path_of(&find_link(&body));
        }
        assert!(
            Instant::now() < deadline,
            "no reset mail arrived: {:?}",
            mailer.messages()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `<target dir>/a11y-screenshots`, created if missing.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("a11y-screenshots");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// A failure message: each violation's rule, impact, help and the nodes it found.
fn describe(label: &str, url: &str, violations: &[Value]) -> String {
    let mut out = format!("{label} ({url}): {} violation(s)", violations.len());
    for v in violations {
        let text = |key: &str| v[key].as_str().unwrap_or_default().to_owned();
        write!(
            out,
            "\n  {} [{}]: {} <{}>",
            text("id"),
            text("impact"),
            text("help"),
            text("helpUrl")
        )
        .unwrap();
        for n in v["nodes"].as_array().into_iter().flatten() {
            write!(
                out,
                "\n    {}  {}\n      {}",
                n["target"],
                n["html"].as_str().unwrap_or_default(),
                n["summary"]
                    .as_str()
                    .unwrap_or_default()
                    .replace('\n', "\n      ")
            )
            .unwrap();
        }
    }
    out
}
