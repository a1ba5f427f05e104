//! A real browser (Debian's headless Chromium through chromedriver, spoken to in the
//! W3C WebDriver protocol) signs in through the HTML login form of a running server.
//!
//! Runs when `CHROMEDRIVER` names the chromedriver binary (`.ci/run` installs Debian's
//! `chromium` and `chromium-driver` and sets it); a set variable whose driver cannot start
//! fails the test.
#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rocket::serde::json::{json, Value};
use security_runtime::Security;
use security_tests::{app, fresh_database, test_figment, Backend};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Driver {
    child: Child,
    base: String,
    session: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn call(method: &str, url: &str, body: Option<Value>) -> Value {
    let req = ureq::request(method, url).timeout(Duration::from_secs(30));
    let resp = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    match resp {
        Ok(r) => r.into_json().unwrap(),
        Err(ureq::Error::Status(code, r)) => {
            panic!(
                "{method} {url}: {code} {}",
                r.into_string().unwrap_or_default()
            )
        }
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

impl Driver {
    fn start(binary: &str) -> Driver {
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("CHROMEDRIVER={binary} does not start: {e}"));
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = ureq::get(&format!("{base}/status")).call() {
                let v: Value = r.into_json().unwrap();
                if v["value"]["ready"] == json!(true) {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver never became ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = std::env::temp_dir().join(format!("chromium-{port}"));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-quic", "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let v = call("POST", &format!("{base}/session"), Some(caps));
        let session = v["value"]["sessionId"].as_str().unwrap().to_owned();
        Driver {
            child,
            base,
            session,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    fn go(&self, to: &str) {
        call("POST", &self.url("/url"), Some(json!({"url": to})));
    }

    fn find(&self, css: &str) -> String {
        let v = call(
            "POST",
            &self.url("/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        let obj = v["value"].as_object().unwrap();
        obj.values().next().unwrap().as_str().unwrap().to_owned()
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        call(
            "POST",
            &self.url(&format!("/element/{id}/value")),
            Some(json!({"text": text})),
        );
    }

    fn click(&self, css: &str) {
        let id = self.find(css);
        call(
            "POST",
            &self.url(&format!("/element/{id}/click")),
            Some(json!({})),
        );
    }

    fn current_url(&self) -> String {
        call("GET", &self.url("/url"), None)["value"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Waits (up to 10 s) for the page at `url`: a click that submits a form returns
    /// before the navigation it starts has always finished.
    fn wait_for_url(&self, url: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.current_url() != url {
            assert!(
                Instant::now() < deadline,
                "still at {} instead of {url}; page: {}",
                self.current_url(),
                self.body_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (up to 10 s) until the page shows `text`.
    fn wait_for_text(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.body_text().contains(text) {
            assert!(
                Instant::now() < deadline,
                "page never showed {text:?}: {}",
                self.body_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The page's text, read by script (no element reference that a navigation could
    /// make stale).
    fn body_text(&self) -> String {
        let v = call(
            "POST",
            &self.url("/execute/sync"),
            Some(
                json!({"script": "return document.body ? document.body.innerText : '';", "args": []}),
            ),
        );
        v["value"].as_str().unwrap_or_default().to_owned()
    }

    fn cookies(&self) -> Vec<Value> {
        call("GET", &self.url("/cookie"), None)["value"]
            .as_array()
            .unwrap()
            .clone()
    }
}

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
    let port = free_port();
    let url = fresh_database(Backend::Sqlite).await;
    let figment = test_figment(&url)
        .merge(("port", port))
        .merge(("address", "127.0.0.1"))
        // Plain HTTP on loopback: the browser would drop a Secure cookie otherwise.
        .merge(("security.session_cookie_secure", false));
    let rocket = app(Backend::Sqlite, figment, Security::new())
        .ignite()
        .await
        .unwrap();
    let st = rocket.state::<security_runtime::SecurityState>().unwrap();
    let hash = st.hash_password("password123").await.unwrap();
    st.datastore
        .create_user(security_runtime::NewUser {
            email: "matt@lp.com".into(),
            password: Some(hash),
            ..Default::default()
        })
        .await
        .unwrap();
    let shutdown = rocket.shutdown();
    let server = rocket::tokio::spawn(rocket.launch());
    let base = format!("http://127.0.0.1:{port}");
    let result = rocket::tokio::task::spawn_blocking(move || {
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
    shutdown.notify();
    let _ = server.await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}
