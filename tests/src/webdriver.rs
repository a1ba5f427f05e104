//! A small W3C WebDriver client for the browser tests: starts chromedriver, opens a
//! headless Chromium session and drives it over HTTP (`ureq`, blocking: call it from
//! `spawn_blocking`).
//!
//! Chromium is `/usr/bin/chromium` unless `CHROMIUM` names another binary.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use rocket::figment::Figment;
use rocket::serde::json::{json, Value};
use rocket::{Ignite, Rocket};

/// A free TCP port on 127.0.0.1 (free when asked; the caller binds it soon after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `figment` serving plain HTTP on a free loopback port (the browser would drop a
/// `Secure` session cookie otherwise); and that port.
pub fn on_loopback(figment: Figment) -> (Figment, u16) {
    let port = free_port();
    let figment = figment
        .merge(("port", port))
        .merge(("address", "127.0.0.1"))
        .merge(("security.session_cookie_secure", false));
    (figment, port)
}

/// Serves `rocket` while `drive` (blocking work, such as a [`Driver`]) runs on another
/// thread, then shuts the server down; returns what `drive` returned, or re-raises its
/// panic.
pub async fn while_serving<T: Send + 'static>(
    rocket: Rocket<Ignite>,
    drive: impl FnOnce() -> T + Send + 'static,
) -> T {
    let shutdown = rocket.shutdown();
    let server = rocket::tokio::spawn(rocket.launch());
    let result = rocket::tokio::task::spawn_blocking(drive).await;
    shutdown.notify();
    let _ = server.await;
    result.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// The value of `var` for a test that needs an outside tool, or `None` to skip.
///
/// CI installs every such tool, so under `CI=true` a missing variable panics: the test
/// would otherwise check nothing there.
pub fn required_env(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but {var} is not set: {test} would check nothing"
            );
            eprintln!("{var} not set: {test} checked nothing");
            None
        }
    }
}

/// A chromedriver process with one browser session; dropping it ends both.
pub struct Driver {
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

/// One WebDriver command; panics with the driver's answer when it fails.
pub fn call(method: &str, url: &str, body: Option<Value>) -> Value {
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
    /// Starts `binary` (chromedriver) on a free port and opens a headless Chromium session
    /// with an 800×900 window.
    pub fn start(binary: &str) -> Driver {
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
                         "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                         "--window-size=800,900",
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

    /// Navigates to `to` and waits for the page to load.
    pub fn go(&self, to: &str) {
        call("POST", &self.url("/url"), Some(json!({"url": to})));
    }

    /// The WebDriver element id of the first element matching `css`.
    pub fn find(&self, css: &str) -> String {
        let v = call(
            "POST",
            &self.url("/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        let obj = v["value"].as_object().unwrap();
        obj.values().next().unwrap().as_str().unwrap().to_owned()
    }

    /// Types `text` into the element matching `css`.
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        call(
            "POST",
            &self.url(&format!("/element/{id}/value")),
            Some(json!({"text": text})),
        );
    }

    /// Clicks the element matching `css`.
    pub fn click(&self, css: &str) {
        let id = self.find(css);
        call(
            "POST",
            &self.url(&format!("/element/{id}/click")),
            Some(json!({})),
        );
    }

    /// The URL the browser is at.
    pub fn current_url(&self) -> String {
        call("GET", &self.url("/url"), None)["value"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Waits (up to 10 s) for the page at `url`: a click that submits a form returns
    /// before the navigation it starts has always finished.
    pub fn wait_for_url(&self, url: &str) {
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
    pub fn wait_for_text(&self, text: &str) {
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
    pub fn body_text(&self) -> String {
        let v = self.execute(
            "return document.body ? document.body.innerText : '';",
            json!([]),
        );
        v.as_str().unwrap_or_default().to_owned()
    }

    /// The browser's cookies for the current page.
    pub fn cookies(&self) -> Vec<Value> {
        call("GET", &self.url("/cookie"), None)["value"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns what it
    /// returns.
    pub fn execute(&self, script: &str, args: Value) -> Value {
        self.run_script("/execute/sync", script, args)
    }

    /// Runs `script` asynchronously: it ends by calling its last argument (the callback
    /// WebDriver appends to `args`) with the result. Waits up to the script timeout.
    pub fn execute_async(&self, script: &str, args: Value) -> Value {
        self.run_script("/execute/async", script, args)
    }

    /// Posts `script` and `args` to the session's `endpoint`; the script's result.
    fn run_script(&self, endpoint: &str, script: &str, args: Value) -> Value {
        let body = json!({"script": script, "args": args});
        let mut v = call("POST", &self.url(endpoint), Some(body));
        v["value"].take()
    }

    /// How long [`execute_async`](Self::execute_async) waits for its callback.
    pub fn set_script_timeout(&self, timeout: Duration) {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        call("POST", &self.url("/timeouts"), Some(json!({"script": ms})));
    }

    /// Resizes the browser window (a screenshot shows the window's viewport only).
    pub fn set_window_size(&self, width: u32, height: u32) {
        call(
            "POST",
            &self.url("/window/rect"),
            Some(json!({"width": width, "height": height})),
        );
    }

    /// Adds Chromium's virtual authenticator to the session: a CTAP2 USB key that keeps
    /// discoverable credentials, verifies its user and consents to every request.
    /// Returns its id.
    pub fn add_virtual_authenticator(&self) -> String {
        let options = json!({
            "protocol": "ctap2",
            "transport": "usb",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserConsenting": true,
            "isUserVerified": true,
        });
        let v = call("POST", &self.url("/webauthn/authenticator"), Some(options));
        v["value"].as_str().unwrap().to_owned()
    }

    /// The credentials the virtual authenticator `id` holds.
    pub fn virtual_credentials(&self, id: &str) -> Vec<Value> {
        let path = format!("/webauthn/authenticator/{id}/credentials");
        call("GET", &self.url(&path), None)["value"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Deletes every cookie of the current page's site (signs the browser out).
    pub fn delete_cookies(&self) {
        call("DELETE", &self.url("/cookie"), None);
    }

    /// Saves a PNG screenshot of the window to `path`.
    pub fn screenshot(&self, path: &Path) {
        let v = call("GET", &self.url("/screenshot"), None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(v["value"].as_str().unwrap())
            .unwrap();
        std::fs::write(path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}
