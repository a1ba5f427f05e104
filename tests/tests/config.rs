//! Launch-time validation of the `[security]` configuration (test plan O2): a bad
//! setting stops Rocket from launching and the logged reason names the key; a good one
//! launches. Also: a protected route on a Rocket without the `Security` fairing aborts
//! the launch (Sentinel).
//!
//! Rocket only logs why a fairing refused, so this binary installs a capturing logger
//! (before any Rocket does) and each test looks for its own message in it. The same
//! rules are also checked directly on [`SecurityConfig::validate`] and
//! [`PasswordContext::new`].
#![allow(clippy::unwrap_used)]

use std::sync::{Mutex, Once};

use rocket::error::ErrorKind;
use rocket::figment::Figment;
use rocket::http::{ContentType, Method, Status};
use rocket::local::asynchronous::Client;
use rocket::log::private as log;
use rocket::{Build, Rocket};
use security_runtime::hashing::{HashingConfig, PasswordContext};
use security_runtime::{Security, SecurityConfig};
use security_tests::{app, backends, create_user_in, fresh_database, Backend};

// ---- log capture ----

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.level() <= log::Level::Warn {
            if let Ok(mut lines) = LINES.lock() {
                lines.push(format!("{}: {}", record.target(), record.args()));
            }
        }
    }

    fn flush(&self) {}
}

/// Installs the capturing logger once, before any Rocket installs its own.
fn capture_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        log::set_boxed_logger(Box::new(Capture)).expect("no logger installed yet");
        log::set_max_level(log::LevelFilter::Warn);
    });
}

/// How many captured lines contain `needle`.
fn logged(needle: &str) -> usize {
    LINES
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(needle))
        .count()
}

// ---- launching ----

/// Why a launch failed.
#[derive(Debug)]
enum Refused {
    /// These fairings refused (their names).
    Fairings(Vec<&'static str>),
    /// These sentinels aborted (their type names).
    Sentinels(Vec<&'static str>),
    /// Anything else (shown by `Debug` in failure messages).
    Other(#[allow(dead_code)] String),
}

/// Launches `rocket` on another task, so a panic during launch fails the test with a
/// clear message instead of passing for a refusal.
async fn launch(rocket: Rocket<Build>) -> Result<Client, Refused> {
    rocket::tokio::spawn(async move {
        Client::tracked(rocket).await.map_err(|e| match e.kind() {
            ErrorKind::FailedFairings(f) => Refused::Fairings(f.iter().map(|i| i.name).collect()),
            ErrorKind::SentinelAborts(s) => {
                Refused::Sentinels(s.iter().map(|s| s.type_name).collect())
            }
            other => Refused::Other(other.to_string()),
        })
    })
    .await
    .expect("launching must not panic")
}

/// A 512-bit Rocket `secret_key` (not Rocket's published example key).
const ROCKET_KEY: &str =
    "A6W/kpIW747UQyU6p2S9uyqToVYJTe1WjvYuFQBwN4nig8KEkbh+ZKJ1cj/ivBwgdP9xn8K3QgTKH1ow4sZ49Q==";

/// The test settings, minus `password_salt` and `secret_key`.
fn base(url: &str) -> Figment {
    rocket::Config::figment()
        .merge(("log_level", "critical"))
        .merge(("secret_key", ROCKET_KEY))
        .merge(("databases.sec.url", url))
        .merge(("databases.sec.max_connections", 2))
        .merge(("security.argon2_memory_cost", 1024))
        .merge(("security.argon2_time_cost", 1))
        .merge(("security.argon2_parallelism", 1))
}

/// The test settings with a salt and a good secret key.
fn good(url: &str) -> Figment {
    base(url)
        .merge(("security.secret_key", "test-secret-key-0123456789abcdef"))
        .merge(("security.password_salt", "test-password-salt"))
}

async fn launch_with(
    backend: Backend,
    figment: impl FnOnce(&str) -> Figment,
) -> Result<Client, Refused> {
    capture_logs();
    let url = fresh_database(backend).await;
    launch(app(backend, figment(&url), Security::new())).await
}

/// Asserts the `Security` fairing refused the launch and logged `needle` once more
/// than before.
fn assert_refused(r: Result<Client, Refused>, needle: &str, before: usize, what: &str) {
    match r {
        Err(Refused::Fairings(names)) => assert_eq!(names, ["Security"], "{what}"),
        Err(other) => panic!("{what}: refused for another reason: {other:?}"),
        Ok(_) => panic!("{what}: launched"),
    }
    assert!(
        logged(needle) > before,
        "{what}: no log line names {needle:?}; captured: {:#?}",
        LINES.lock().unwrap()
    );
}

/// Launches on `backend` with `figment` and asserts the `Security` fairing refused,
/// logging `needle` (see [`assert_refused`]).
async fn assert_launch_refused(
    backend: Backend,
    needle: &str,
    figment: impl FnOnce(&str) -> Figment,
    what: &str,
) {
    let before = logged(needle);
    let r = launch_with(backend, figment).await;
    assert_refused(r, needle, before, what);
}

/// The status `client` gets for a JSON request.
async fn status(client: &Client, method: Method, uri: &'static str) -> Status {
    let r = client
        .req(method, uri)
        .header(ContentType::JSON)
        .dispatch()
        .await;
    r.status()
}

/// Asserts `client` answers a JSON `GET /login`.
async fn assert_login_page(client: &Client, what: &str) {
    assert_eq!(
        status(client, Method::Get, "/login").await,
        Status::Ok,
        "{what}"
    );
}

/// Why `PasswordContext::new` refuses `cfg` (panics when it accepts it).
fn hashing_refused(cfg: HashingConfig) -> String {
    PasswordContext::new(cfg).unwrap_err().to_string()
}

// ---- tests ----

#[rocket::async_test]
async fn double_hash_without_password_salt_is_refused() {
    let direct = hashing_refused(HashingConfig::default());
    assert!(direct.contains("password_salt"), "{direct}");
    let empty_salt = Some(String::new());
    let direct = hashing_refused(HashingConfig {
        password_salt: empty_salt,
        ..HashingConfig::default()
    });
    assert!(direct.contains("password_salt"), "{direct}");

    for b in backends() {
        let needle = "password_salt must be set when password_hash is `argon2`";
        let key = ("security.secret_key", "test-secret-key-0123456789abcdef");
        let no_salt = |url: &str| base(url).merge(key);
        assert_launch_refused(b, needle, no_salt, &format!("{b:?} no salt")).await;
        let empty_salt = |url: &str| good(url).merge(("security.password_salt", ""));
        assert_launch_refused(b, needle, empty_salt, &format!("{b:?} empty salt")).await;
    }
}

#[rocket::async_test]
async fn password_hash_outside_password_schemes_is_refused() {
    let direct = hashing_refused(HashingConfig {
        password_hash: "bcrypt".into(),
        password_schemes: vec!["argon2".into()],
        password_salt: Some("salt".into()),
        ..HashingConfig::default()
    });
    assert!(direct.contains("password_hash"), "{direct}");

    for b in backends() {
        let needle = "password_hash `bcrypt` is not in password_schemes";
        let schemes = ["argon2", "pbkdf2_sha512"];
        let figment = |url: &str| {
            let f = good(url).merge(("security.password_hash", "bcrypt"));
            f.merge(("security.password_schemes", schemes))
        };
        assert_launch_refused(b, needle, figment, &format!("{b:?}")).await;
    }
}

#[rocket::async_test]
async fn release_profile_needs_a_real_secret_key() {
    // The rule itself, without Rocket.
    for key in [
        None,
        Some(""),
        Some("0000000000000000000000000000000000000000"),
        Some("changeme"),
        Some("short-key"),
    ] {
        let cfg = SecurityConfig {
            secret_key: key.map(str::to_owned),
            ..SecurityConfig::default()
        };
        let e = cfg.validate(false).unwrap_err();
        assert!(e.contains("secret_key"), "{key:?}: {e}");
        assert!(cfg.validate(true).is_ok(), "{key:?}: debug builds allow it");
    }
    let cfg = SecurityConfig {
        secret_key: Some("a-long-and-random-secret-key-123".into()),
        ..SecurityConfig::default()
    };
    assert!(cfg.validate(false).is_ok());

    for b in backends() {
        let release = |f: Figment| f.select(rocket::Config::RELEASE_PROFILE);
        // Control: the release profile with good keys launches, so the refusals below are
        // the security key's doing (Rocket's own `secret_key` is set in all of them).
        let client = launch_with(b, |url| release(good(url))).await.unwrap();
        assert_login_page(&client, &format!("{b:?}")).await;

        let missing = "`security.secret_key` must be set outside debug builds";
        let salt = ("security.password_salt", "test-password-salt");
        let no_key = |url: &str| release(base(url).merge(salt));
        let what = format!("{b:?} release, no secret_key");
        assert_launch_refused(b, missing, no_key, &what).await;

        let weak = "`security.secret_key` is empty, zero, a well-known default";
        for key in [
            "0000000000000000000000000000000000000000000000000000000000000000",
            "changeme",
            "",
            "secret",
            "short-key",
        ] {
            let weak_key = |url: &str| release(good(url).merge(("security.secret_key", key)));
            let what = format!("{b:?} release, secret_key {key:?}");
            assert_launch_refused(b, weak, weak_key, &what).await;
        }

        // The debug profile allows a missing key (a random one is used).
        let client = launch_with(b, |url| base(url).merge(salt)).await.unwrap();
        assert_login_page(&client, &format!("{b:?}")).await;
    }
}

#[rocket::async_test]
async fn unknown_mechanism_is_refused() {
    // Mechanisms are typed: an unknown name fails when the settings are read.
    let figment =
        rocket::Config::figment().merge(("security.api_enabled_methods", ["session", "kerberos"]));
    let e = SecurityConfig::from_figment(&figment).unwrap_err();
    assert!(
        e.contains("kerberos") && e.contains("api_enabled_methods"),
        "{e}"
    );

    for b in backends() {
        for (key, value, needle) in [
            (
                "api_enabled_methods",
                &["session", "kerberos"][..],
                "unknown mechanism `kerberos` in `security.api_enabled_methods`",
            ),
            (
                "csrf_protect_mechanisms",
                &["Token "][..],
                "unknown mechanism `Token ` in",
            ),
        ] {
            let figment = |url: &str| good(url).merge((format!("security.{key}"), value));
            assert_launch_refused(b, needle, figment, &format!("{b:?} {key}")).await;
        }
    }
}

#[rocket::async_test]
async fn invalid_login_url_is_refused() {
    for b in backends() {
        for url_value in [
            "login",
            "",
            "/login/<id>",
            "http://evil.example/login",
            "//evil.example",
        ] {
            let needle = format!("`security.login_url` is not a valid path: `{url_value}`");
            let figment = |url: &str| good(url).merge(("security.login_url", url_value));
            let what = format!("{b:?} login_url {url_value:?}");
            assert_launch_refused(b, &needle, figment, &what).await;
        }
        let needle = "`security.logout_url` is not a valid path";
        let figment = |url: &str| good(url).merge(("security.logout_url", "logout"));
        assert_launch_refused(b, needle, figment, &format!("{b:?} logout_url")).await;
    }
}

#[rocket::async_test]
async fn invalid_url_prefix_is_refused_not_a_panic() {
    for b in backends() {
        // `url_prefix` + `login_url` is mounted as a route base; without a leading slash
        // that base is no URI, and Rocket's `mount` would panic on it.
        let needle = "`security.url_prefix` must be empty or a path";
        let figment = |url: &str| good(url).merge(("security.url_prefix", "api"));
        assert_launch_refused(b, needle, figment, &format!("{b:?} url_prefix")).await;
        // Control: a proper prefix moves the endpoints.
        let prefixed = |url: &str| good(url).merge(("security.url_prefix", "/auth"));
        let client = launch_with(b, prefixed).await.unwrap();
        let moved = status(&client, Method::Get, "/auth/login").await;
        assert_eq!(moved, Status::Ok, "{b:?}");
        let old = status(&client, Method::Get, "/login").await;
        assert_eq!(old, Status::NotFound, "{b:?}");
    }
}

#[rocket::async_test]
async fn unknown_logout_method_is_refused() {
    for b in backends() {
        let needle = "`security.logout_methods`: unknown method `FETCH`";
        let figment = |url: &str| good(url).merge(("security.logout_methods", ["POST", "FETCH"]));
        assert_launch_refused(b, needle, figment, &format!("{b:?}")).await;
    }
}

#[rocket::async_test]
async fn valid_config_launches_and_empty_logout_methods_remove_logout() {
    for b in backends() {
        let client = launch_with(b, good).await.unwrap();
        let logout = status(&client, Method::Post, "/logout").await;
        assert_eq!(logout, Status::Ok, "{b:?} default logout");
        assert_login_page(&client, &format!("{b:?}")).await;

        let empty: Vec<String> = Vec::new();
        let no_logout = |url: &str| good(url).merge(("security.logout_methods", empty));
        let client = launch_with(b, no_logout).await.unwrap();
        for method in [Method::Post, Method::Get] {
            let logout = status(&client, method, "/logout").await;
            assert_eq!(logout, Status::NotFound, "{b:?} {method} /logout");
        }
        assert_login_page(&client, &format!("{b:?} login still mounted")).await;

        // GET-only logout: POST is gone, GET works.
        let get_only = |url: &str| good(url).merge(("security.logout_methods", ["GET"]));
        let client = launch_with(b, get_only).await.unwrap();
        let post = status(&client, Method::Post, "/logout").await;
        let not_allowed = Status::MethodNotAllowed;
        assert_eq!(post, not_allowed, "{b:?} POST with GET-only logout");
        let get = status(&client, Method::Get, "/logout").await;
        assert_eq!(get, Status::Ok, "{b:?} GET logout");
    }
}

#[rocket::async_test]
async fn protected_routes_without_the_fairing_abort_launch() {
    capture_logs();
    let url = fresh_database(Backend::Sqlite).await;
    let needle = "is protected but the `Security` fairing is not attached";
    let before = logged(needle);
    let r = launch(rocket::custom(good(&url)).mount("/", security_tests::demo_routes())).await;
    match r {
        Err(Refused::Sentinels(types)) => {
            assert!(
                types.iter().any(|t| t.contains("Guard")),
                "the security guard aborted: {types:?}"
            );
        }
        Err(other) => panic!("refused for another reason: {other:?}"),
        Ok(_) => panic!("launched without the Security fairing"),
    }
    assert!(logged(needle) > before, "{:#?}", LINES.lock().unwrap());
}

#[rocket::async_test]
async fn review_fixes_salts_and_mail_server_in_release() {
    let b = backends()[0];
    let needle = "`security.confirm_salt` and `security.reset_salt` must differ";
    let same_salts = |url: &str| good(url).merge(("security.reset_salt", "confirm-salt"));
    assert_launch_refused(b, needle, same_salts, "duplicate salts").await;
    let needle = "`security.mail_server` must be set outside debug";
    let no_mail = |url: &str| {
        let f = good(url).merge(("security.registerable", true));
        f.select(rocket::Config::RELEASE_PROFILE)
    };
    assert_launch_refused(b, needle, no_mail, "release without mail server").await;
}

#[test]
fn choices_are_typed_and_a_bad_one_names_its_key() {
    use security_runtime::config::{RedirectBehavior, SameSitePolicy, UndeclaredRoles};
    for (key, bad) in [
        ("redirect_behavior", "SPA!"),
        ("undeclared_roles", "explode"),
        ("session_cookie_samesite", "sideways"),
        ("csrf_cookie.samesite", "sideways"),
    ] {
        let figment = rocket::Config::figment().merge((format!("security.{key}"), bad));
        let e = SecurityConfig::from_figment(&figment).unwrap_err();
        let leaf = key.rsplit('.').next().unwrap();
        assert!(e.contains(leaf) && e.contains(bad), "{key}: {e}");
    }
    let figment = rocket::Config::figment()
        .merge(("security.redirect_behavior", "spa"))
        .merge(("security.undeclared_roles", "refuse"))
        .merge(("security.session_cookie_samesite", "none"))
        .merge(("security.csrf_cookie.samesite", "Lax"));
    let cfg = SecurityConfig::from_figment(&figment).unwrap();
    assert_eq!(cfg.redirect_behavior, RedirectBehavior::Spa);
    assert_eq!(cfg.undeclared_roles, UndeclaredRoles::Refuse);
    assert_eq!(cfg.session_cookie_samesite, SameSitePolicy::None);
    assert_eq!(cfg.csrf_cookie.samesite, SameSitePolicy::Lax);
}

/// Logs in as `email` on `client` and returns the session cookie's value.
async fn session_cookie(client: &Client, email: &str) -> String {
    let r = client
        .get("/login")
        .header(ContentType::JSON)
        .dispatch()
        .await;
    let v: rocket::serde::json::Value = r.into_json().await.unwrap();
    let body = rocket::serde::json::json!({
        "email": email, "password": "one key pw 1", "csrf_token": v["response"]["csrf_token"]
    });
    let login = client.post("/login").header(ContentType::JSON);
    let r = login.body(body.to_string()).dispatch().await;
    assert_eq!(r.status(), Status::Ok);
    // The raw (encrypted) value, as a browser stores it.
    r.cookies().get("session").unwrap().value().to_owned()
}

/// A JSON `GET /profile` on `client` carrying the raw session cookie `cookie`.
async fn profile_with(
    client: &Client,
    cookie: String,
) -> rocket::local::asynchronous::LocalResponse<'_> {
    let profile = client.get("/profile").header(ContentType::JSON);
    let session = rocket::http::Cookie::new("session", cookie);
    profile.cookie(session).dispatch().await
}

#[rocket::async_test]
async fn rocket_secret_key_is_derived_from_the_security_key() {
    capture_logs();
    let b = Backend::Sqlite;
    let url = fresh_database(b).await;
    // Release profile, no Rocket `secret_key`: Rocket alone would refuse to launch.
    let figment = |key: &str| {
        rocket::Config::figment()
            .merge(("log_level", "critical"))
            .merge(("databases.sec.url", url.clone()))
            .merge(("security.secret_key", key.to_owned()))
            .merge(("security.password_salt", "test-password-salt"))
            .merge(("security.session_cookie_secure", false))
            .merge(("security.argon2_memory_cost", 1024))
            .merge(("security.argon2_time_cost", 1))
            .merge(("security.argon2_parallelism", 1))
            .select(rocket::Config::RELEASE_PROFILE)
    };
    let key = "one-long-random-security-key-0123456789";
    let one = launch(app(b, figment(key), Security::new())).await.unwrap();
    let state = one.rocket().state::<security_runtime::SecurityState>();
    create_user_in(state.unwrap(), "key@example.com", "one key pw 1").await;
    let cookie = session_cookie(&one, "key@example.com").await;

    // A second instance with the same security key reads the first one's session cookie;
    // one with another key does not.
    for (other_key, signed_in) in [(key, true), ("another-long-random-security-key-987", false)] {
        let other = launch(app(b, figment(other_key), Security::new()))
            .await
            .unwrap();
        let r = profile_with(&other, cookie.clone()).await;
        let expected = if signed_in {
            Status::Ok
        } else {
            Status::Unauthorized
        };
        assert_eq!(r.status(), expected, "key {other_key}");
    }

    // Release, no Rocket key, a security key too short to derive one from: refused.
    let needle = "too short (under 32 bytes) to derive it from";
    let short = figment("only-20-bytes-long!!");
    let before = logged(needle);
    let r = launch(app(b, short, Security::new())).await;
    assert_refused(r, needle, before, "short security key");
}

#[rocket::async_test]
async fn a_rocket_secret_key_that_is_set_is_used_as_it_is() {
    capture_logs();
    let b = Backend::Sqlite;
    let url = fresh_database(b).await;
    let figment = |security_key: &str, rocket_key: &str| {
        good(&url)
            .merge(("security.secret_key", security_key.to_owned()))
            .merge(("secret_key", rocket_key.to_owned()))
            .merge(("security.session_cookie_secure", false))
            .select(rocket::Config::RELEASE_PROFILE)
    };
    let one = launch(app(
        b,
        figment("first-security-key-0123456789abcdef", ROCKET_KEY),
        Security::new(),
    ))
    .await
    .unwrap();
    let state = one.rocket().state::<security_runtime::SecurityState>();
    create_user_in(state.unwrap(), "set@example.com", "one key pw 1").await;
    let cookie = session_cookie(&one, "set@example.com").await;
    // Another security key but the same Rocket key: the session cookie still reads, so
    // Rocket's key was not replaced by a derived one.
    let two = launch(app(
        b,
        figment("second-security-key-0123456789abcde", ROCKET_KEY),
        Security::new(),
    ))
    .await
    .unwrap();
    let r = profile_with(&two, cookie).await;
    assert_eq!(r.status(), Status::Ok);
    // A malformed Rocket key is not silently replaced: Rocket refuses it.
    let r = launch(app(
        b,
        figment(
            "first-security-key-0123456789abcdef",
            "0123456789abcdef0123456789abcdef",
        ),
        Security::new(),
    ))
    .await;
    match r {
        Err(Refused::Other(_)) => {}
        Err(other) => panic!("refused for another reason: {other:?}"),
        Ok(_) => panic!("launched with a malformed Rocket key"),
    }
}
