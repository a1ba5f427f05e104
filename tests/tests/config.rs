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
use rocket::http::{ContentType, Status};
use rocket::local::asynchronous::Client;
use rocket::log::private as log;
use rocket::{Build, Rocket};
use security_runtime::hashing::{HashingConfig, PasswordContext};
use security_runtime::{Security, SecurityConfig};
use security_tests::{app, backends, fresh_database, Backend};

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

// ---- tests ----

#[rocket::async_test]
async fn double_hash_without_password_salt_is_refused() {
    let direct = PasswordContext::new(HashingConfig::default())
        .unwrap_err()
        .to_string();
    assert!(direct.contains("password_salt"), "{direct}");
    let direct = PasswordContext::new(HashingConfig {
        password_salt: Some(String::new()),
        ..HashingConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(direct.contains("password_salt"), "{direct}");

    for b in backends() {
        let needle = "password_salt must be set when password_hash is `argon2`";
        let before = logged(needle);
        let r = launch_with(b, |url| {
            base(url).merge(("security.secret_key", "test-secret-key-0123456789abcdef"))
        })
        .await;
        assert_refused(r, needle, before, &format!("{b:?} no salt"));
        let before = logged(needle);
        let r = launch_with(b, |url| good(url).merge(("security.password_salt", ""))).await;
        assert_refused(r, needle, before, &format!("{b:?} empty salt"));
    }
}

#[rocket::async_test]
async fn password_hash_outside_password_schemes_is_refused() {
    let direct = PasswordContext::new(HashingConfig {
        password_hash: "bcrypt".into(),
        password_schemes: vec!["argon2".into()],
        password_salt: Some("salt".into()),
        ..HashingConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(direct.contains("password_hash"), "{direct}");

    for b in backends() {
        let needle = "password_hash `bcrypt` is not in password_schemes";
        let before = logged(needle);
        let r = launch_with(b, |url| {
            good(url)
                .merge(("security.password_hash", "bcrypt"))
                .merge(("security.password_schemes", ["argon2", "pbkdf2_sha512"]))
        })
        .await;
        assert_refused(r, needle, before, &format!("{b:?}"));
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
        let r = client
            .get("/login")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");

        let missing = "`security.secret_key` must be set outside debug builds";
        let before = logged(missing);
        let r = launch_with(b, |url| {
            release(base(url).merge(("security.password_salt", "test-password-salt")))
        })
        .await;
        assert_refused(r, missing, before, &format!("{b:?} release, no secret_key"));

        let weak = "`security.secret_key` is empty, zero, a well-known default";
        for key in [
            "0000000000000000000000000000000000000000000000000000000000000000",
            "changeme",
            "",
            "secret",
            "short-key",
        ] {
            let before = logged(weak);
            let r = launch_with(b, |url| {
                release(good(url).merge(("security.secret_key", key)))
            })
            .await;
            assert_refused(
                r,
                weak,
                before,
                &format!("{b:?} release, secret_key {key:?}"),
            );
        }

        // The debug profile allows a missing key (a random one is used).
        let client = launch_with(b, |url| {
            base(url).merge(("security.password_salt", "test-password-salt"))
        })
        .await
        .unwrap();
        let r = client
            .get("/login")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
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
        let needle = "unknown mechanism `kerberos` in `security.api_enabled_methods`";
        let before = logged(needle);
        let r = launch_with(b, |url| {
            good(url).merge(("security.api_enabled_methods", ["session", "kerberos"]))
        })
        .await;
        assert_refused(r, needle, before, &format!("{b:?} api_enabled_methods"));
        let needle = "unknown mechanism `Token ` in";
        let before = logged(needle);
        let r = launch_with(b, |url| {
            good(url).merge(("security.csrf_protect_mechanisms", ["Token "]))
        })
        .await;
        assert_refused(r, needle, before, &format!("{b:?} csrf_protect_mechanisms"));
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
            let before = logged(&needle);
            let r = launch_with(b, |url| good(url).merge(("security.login_url", url_value))).await;
            assert_refused(
                r,
                &needle,
                before,
                &format!("{b:?} login_url {url_value:?}"),
            );
        }
        let needle = "`security.logout_url` is not a valid path";
        let before = logged(needle);
        let r = launch_with(b, |url| good(url).merge(("security.logout_url", "logout"))).await;
        assert_refused(r, needle, before, &format!("{b:?} logout_url"));
    }
}

#[rocket::async_test]
async fn invalid_url_prefix_is_refused_not_a_panic() {
    for b in backends() {
        // `url_prefix` + `login_url` is mounted as a route base; without a leading slash
        // that base is no URI, and Rocket's `mount` would panic on it.
        let needle = "`security.url_prefix` must be empty or a path";
        let before = logged(needle);
        let r = launch_with(b, |url| good(url).merge(("security.url_prefix", "api"))).await;
        assert_refused(r, needle, before, &format!("{b:?} url_prefix"));
        // Control: a proper prefix moves the endpoints.
        let client = launch_with(b, |url| good(url).merge(("security.url_prefix", "/auth")))
            .await
            .unwrap();
        let r = client
            .get("/auth/login")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        let r = client
            .get("/login")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::NotFound, "{b:?}");
    }
}

#[rocket::async_test]
async fn unknown_logout_method_is_refused() {
    for b in backends() {
        let needle = "`security.logout_methods`: unknown method `FETCH`";
        let before = logged(needle);
        let r = launch_with(b, |url| {
            good(url).merge(("security.logout_methods", ["POST", "FETCH"]))
        })
        .await;
        assert_refused(r, needle, before, &format!("{b:?}"));
    }
}

#[rocket::async_test]
async fn valid_config_launches_and_empty_logout_methods_remove_logout() {
    for b in backends() {
        let client = launch_with(b, good).await.unwrap();
        let r = client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok, "{b:?} default logout");
        let r = client
            .get("/login")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");

        let empty: Vec<String> = Vec::new();
        let client = launch_with(b, |url| good(url).merge(("security.logout_methods", empty)))
            .await
            .unwrap();
        for method in ["POST", "GET"] {
            let r = match method {
                "POST" => client.post("/logout"),
                _ => client.get("/logout"),
            }
            .header(ContentType::JSON)
            .dispatch()
            .await;
            assert_eq!(r.status(), Status::NotFound, "{b:?} {method} /logout");
        }
        let r = client
            .get("/login")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok, "{b:?} login still mounted");

        // GET-only logout: POST is gone, GET works.
        let client = launch_with(b, |url| {
            good(url).merge(("security.logout_methods", ["GET"]))
        })
        .await
        .unwrap();
        let r = client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        assert_eq!(
            r.status(),
            Status::MethodNotAllowed,
            "{b:?} POST with GET-only logout"
        );
        let r = client
            .get("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok, "{b:?} GET logout");
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
    let before = logged(needle);
    let r = launch_with(b, |url| {
        good(url).merge(("security.reset_salt", "confirm-salt"))
    })
    .await;
    assert_refused(r, needle, before, "duplicate salts");
    let needle = "`security.mail_server` must be set outside debug";
    let before = logged(needle);
    let r = launch_with(b, |url| {
        good(url)
            .merge(("security.registerable", true))
            .select(rocket::Config::RELEASE_PROFILE)
    })
    .await;
    assert_refused(r, needle, before, "release without mail server");
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
    let r = client
        .post("/login")
        .header(ContentType::JSON)
        .body(body.to_string())
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::Ok);
    // The raw (encrypted) value, as a browser stores it.
    r.cookies().get("session").unwrap().value().to_owned()
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
    let pw = one
        .rocket()
        .state::<security_runtime::SecurityState>()
        .unwrap()
        .hash_password("one key pw 1")
        .await
        .unwrap();
    let ds = one
        .rocket()
        .state::<security_runtime::SecurityState>()
        .unwrap()
        .datastore
        .clone();
    ds.create_user(security_runtime::NewUser {
        email: "key@example.com".into(),
        password: Some(pw),
        ..Default::default()
    })
    .await
    .unwrap();
    let cookie = session_cookie(&one, "key@example.com").await;

    // A second instance with the same security key reads the first one's session cookie;
    // one with another key does not.
    for (other_key, signed_in) in [(key, true), ("another-long-random-security-key-987", false)] {
        let other = launch(app(b, figment(other_key), Security::new()))
            .await
            .unwrap();
        let r = other
            .get("/profile")
            .header(ContentType::JSON)
            .cookie(rocket::http::Cookie::new("session", cookie.clone()))
            .dispatch()
            .await;
        let expected = if signed_in {
            Status::Ok
        } else {
            Status::Unauthorized
        };
        assert_eq!(r.status(), expected, "key {other_key}");
    }

    // Release, no Rocket key, a security key too short to derive one from: refused.
    let needle = "too short (under 32 bytes) to derive it from";
    let before = logged(needle);
    let r = launch(app(b, figment("only-20-bytes-long!!"), Security::new())).await;
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
    let state = one
        .rocket()
        .state::<security_runtime::SecurityState>()
        .unwrap();
    let pw = state.hash_password("one key pw 1").await.unwrap();
    state
        .datastore
        .create_user(security_runtime::NewUser {
            email: "set@example.com".into(),
            password: Some(pw),
            ..Default::default()
        })
        .await
        .unwrap();
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
    let r = two
        .get("/profile")
        .header(ContentType::JSON)
        .cookie(rocket::http::Cookie::new("session", cookie))
        .dispatch()
        .await;
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
