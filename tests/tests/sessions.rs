//! Server-side sessions (issue 11, item 1; plan S3, S5, S7, S8): logout ends a session
//! on every instance, idle and absolute lifetimes hold to the second, remember-me
//! tokens are stored, rotated and revoked. Each runs on the SQL store of every backend,
//! and on Redis when `SECURITY_TEST_REDIS_URL` is set.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use rocket::figment::Figment;
use rocket::http::{ContentType, Cookie, Status};
use rocket::local::asynchronous::Client;
use rocket::serde::json::{json, Value};

use security_runtime::datastore::{NewSeries, RememberUse, SessionBackend, StoredSession};
use security_runtime::session::ServerStore;
use security_runtime::{Result as SecResult, Security, SecurityConfig, SecurityState};
use security_tests::{backends, Backend, Clock, TestApp};

const EMAIL: &str = "matt@lp.com";
const PASSWORD: &str = "password123";

/// The stores to test: SQL on each backend, and Redis (on SQLite) when configured.
fn stores() -> Vec<(Backend, &'static str)> {
    let mut v: Vec<_> = backends().into_iter().map(|b| (b, "sql")).collect();
    if std::env::var("SECURITY_TEST_REDIS_URL").is_ok() {
        v.push((backends()[0], "redis"));
    }
    v
}

/// The store under test. These tests promise a logout or deactivation through one
/// instance is refused by the other on the very next request: on PostgreSQL and MariaDB
/// that is the auth cache's strict mode (its default follows notifications or the change
/// counters, a little behind: `security-runtime/tests/auth_cache.rs`); SQLite is exact
/// either way.
fn store_settings(f: Figment, store: &str) -> Figment {
    let f = f
        .merge(("security.session_store", store))
        .merge(("security.auth_cache_strict", true));
    match std::env::var("SECURITY_TEST_REDIS_URL") {
        Ok(url) if store == "redis" => f.merge(("security.session_redis_url", url)),
        _ => f,
    }
}

async fn app_on(b: Backend, store: &str, clock: &Clock) -> TestApp {
    let app = TestApp::with(
        b,
        |f| store_settings(f, store),
        clock.install(Security::new()),
    )
    .await;
    app.user(EMAIL, PASSWORD, &[]).await;
    app
}

/// A second server process on the same database (and Redis), with its own clock view.
async fn second_instance(app: &TestApp, clock: &Clock) -> Client {
    let figment = app.client.rocket().figment().clone();
    let rocket = security_tests::app(app.backend, figment, clock.install(Security::new()));
    Client::tracked(rocket).await.unwrap()
}

/// The browser's raw (encrypted) cookie, as a thief would copy it.
fn copy(client: &Client, name: &str) -> Cookie<'static> {
    client.cookies().get(name).unwrap().clone().into_owned()
}

async fn status_with(client: &Client, uri: &str, cookies: &[Cookie<'static>]) -> Status {
    let mut req = client.get(uri.to_owned()).header(ContentType::JSON);
    for c in cookies {
        req = req.cookie(c.clone());
    }
    req.dispatch().await.status()
}

/// A JSON login on `client`, with the CSRF token its own `GET /login` gave.
async fn login_on(client: &Client) -> Status {
    let r = client
        .get("/login")
        .header(ContentType::JSON)
        .dispatch()
        .await;
    let v: Value = r.into_json().await.unwrap();
    let csrf = v["response"]["csrf_token"].as_str().unwrap();
    let body = json!({"email": EMAIL, "password": PASSWORD, "csrf_token": csrf});
    let r = client
        .post("/login")
        .header(ContentType::JSON)
        .body(body.to_string());
    r.dispatch().await.status()
}

async fn login_remembered(app: &TestApp) -> Value {
    let body = json!({"email": EMAIL, "password": PASSWORD, "remember": true});
    let r = app.post_json("/login", body).await;
    assert_eq!(r.status(), Status::Ok);
    r.into_json().await.unwrap()
}

#[rocket::async_test]
async fn a_session_copied_before_logout_is_refused_after_it_on_every_instance() {
    for (b, store) in stores() {
        let clock = Clock::new();
        let app = app_on(b, store, &clock).await;
        let other = second_instance(&app, &clock).await;
        assert_eq!(app.login(EMAIL, PASSWORD).await.0, Status::Ok);
        let stolen = copy(&app.client, "session");
        // The copy works on the other instance while the session lives...
        assert_eq!(
            status_with(&other, "/session", std::slice::from_ref(&stolen)).await,
            Status::Ok
        );
        app.logout().await;
        // ...and after logout through the first, on neither (S3: 0 accepted replays).
        for client in [&app.client, &other] {
            let s = status_with(client, "/session", std::slice::from_ref(&stolen)).await;
            assert_eq!(s, Status::Unauthorized, "{b:?} {store}");
        }
    }
}

/// The store decrypts a session cookie's text once (the fairing tells it its key at
/// lift-off) and then names the session from its memo, which decides nothing: a copy of
/// the cookie, read from the memo, is refused once the session has ended.
#[rocket::async_test]
async fn a_session_cookie_is_decrypted_once_and_its_session_checked_every_time() {
    for (b, store) in stores() {
        let clock = Clock::new();
        let app = app_on(b, store, &clock).await;
        assert_eq!(app.login(EMAIL, PASSWORD).await.0, Status::Ok);
        let state = app.client.rocket().state::<SecurityState>().unwrap();
        let decrypted = || state.sessions.cookie_decryptions().unwrap();
        let before = decrypted();
        for _ in 0..3 {
            assert_eq!(status_with(&app.client, "/session", &[]).await, Status::Ok);
        }
        assert_eq!(decrypted(), before + 1, "{b:?} {store}");
        let copied = copy(&app.client, "session");
        app.logout().await;
        let s = status_with(&app.client, "/session", &[copied]).await;
        assert_eq!(s, Status::Unauthorized, "{b:?} {store}");
    }
}

#[rocket::async_test]
async fn two_devices_have_two_sessions_and_one_logout_leaves_the_other() {
    for (b, store) in stores() {
        let clock = Clock::new();
        let app = app_on(b, store, &clock).await;
        let phone = second_instance(&app, &clock).await;
        assert_eq!(app.login(EMAIL, PASSWORD).await.0, Status::Ok);
        assert_eq!(login_on(&phone).await, Status::Ok);
        assert_ne!(
            copy(&app.client, "session").value(),
            copy(&phone, "session").value()
        );
        app.logout().await;
        let r = phone
            .get("/session")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        assert_eq!(
            r.status(),
            Status::Ok,
            "{b:?} {store}: the phone stays signed in"
        );
        assert_eq!(app.status("/session").await, Status::Unauthorized);
    }
}

#[rocket::async_test]
async fn deactivation_through_one_instance_is_refused_by_the_other() {
    for (b, store) in stores() {
        let clock = Clock::new();
        let app = app_on(b, store, &clock).await;
        let other = second_instance(&app, &clock).await;
        assert_eq!(app.login(EMAIL, PASSWORD).await.0, Status::Ok);
        let session = copy(&app.client, "session");
        assert_eq!(
            status_with(&other, "/session", std::slice::from_ref(&session)).await,
            Status::Ok
        );
        let mut user = app.by_email(EMAIL, false).await.unwrap();
        app.datastore().deactivate_user(&mut user).await.unwrap();
        let s = status_with(&other, "/session", &[session]).await;
        assert_eq!(s, Status::Unauthorized, "{b:?} {store}");
    }
}

#[rocket::async_test]
async fn an_idle_session_ends_to_the_second() {
    for (b, store) in stores() {
        let clock = Clock::new();
        let app = app_on(b, store, &clock).await;
        let idle = app.state().config.session_idle_timeout as u64;
        assert_eq!(idle, 24 * 3600, "the documented default");
        assert_eq!(app.login(EMAIL, PASSWORD).await.0, Status::Ok);
        clock.advance(idle - 1);
        assert_eq!(
            app.status("/session").await,
            Status::Ok,
            "{b:?} {store}: limit - 1 s"
        );
        // That use counts: the idle time starts again from it.
        clock.advance(idle - 1);
        assert_eq!(app.status("/session").await, Status::Ok, "{b:?} {store}");
        clock.advance(idle + 1);
        let s = app.status("/session").await;
        assert_eq!(s, Status::Unauthorized, "{b:?} {store}: limit + 1 s");
    }
}

#[rocket::async_test]
async fn a_session_in_use_ends_at_its_absolute_lifetime() {
    for (b, store) in stores() {
        let clock = Clock::new();
        let app = app_on(b, store, &clock).await;
        let cfg = &app.state().config;
        let (idle, lifetime) = (cfg.session_idle_timeout as u64, cfg.session_lifetime as u64);
        assert_eq!(lifetime, 30 * 24 * 3600, "the documented default");
        assert_eq!(app.login(EMAIL, PASSWORD).await.0, Status::Ok);
        let step = idle / 2;
        let mut elapsed = 0;
        while elapsed + step < lifetime - 1 {
            clock.advance(step);
            elapsed += step;
            assert_eq!(
                app.status("/session").await,
                Status::Ok,
                "{b:?} {store} {elapsed}"
            );
        }
        clock.advance(lifetime - 1 - elapsed);
        assert_eq!(
            app.status("/session").await,
            Status::Ok,
            "{b:?} {store}: limit - 1 s"
        );
        clock.advance(2);
        let s = app.status("/session").await;
        assert_eq!(s, Status::Unauthorized, "{b:?} {store}: limit + 1 s");
    }
}

#[rocket::async_test]
async fn a_signed_in_cookie_written_by_the_cookie_store_signs_no_one_in() {
    // An application moving from `session_store = "cookie"` to server-side sessions:
    // cookies written before (and copies of them) are worth nothing.
    let b = backends()[0];
    let clock = Clock::new();
    let old = app_on(b, "cookie", &clock).await;
    assert_eq!(old.login(EMAIL, PASSWORD).await.0, Status::Ok);
    let cookie = copy(&old.client, "session");
    let figment = store_settings(old.client.rocket().figment().clone(), "sql");
    let rocket = security_tests::app(b, figment, clock.install(Security::new()));
    let new = Client::tracked(rocket).await.unwrap();
    assert_eq!(
        status_with(&new, "/session", &[cookie]).await,
        Status::Unauthorized
    );
}

#[rocket::async_test]
async fn the_cookie_store_stays_available_and_keeps_flasks_behaviour() {
    let b = backends()[0];
    let clock = Clock::new();
    let app = app_on(b, "cookie", &clock).await;
    assert_eq!(app.login(EMAIL, PASSWORD).await.0, Status::Ok);
    let copied = copy(&app.client, "session");
    app.logout().await;
    // Nothing is stored: a copy made before logout goes on working, as in Flask.
    assert_eq!(
        status_with(&app.client, "/session", &[copied]).await,
        Status::Ok
    );
}

#[rocket::async_test]
async fn remember_me_lasts_30_days_rotates_on_use_and_logout_revokes_it() {
    for (b, store) in stores() {
        let clock = Clock::new();
        let app = app_on(b, store, &clock).await;
        let r = app
            .post_json(
                "/login",
                json!({"email": EMAIL, "password": PASSWORD, "remember": true}),
            )
            .await;
        let header: Vec<String> = r.headers().get("Set-Cookie").map(str::to_owned).collect();
        let remember = header
            .iter()
            .find(|c| c.starts_with("remember_token="))
            .unwrap();
        assert!(remember.contains("Max-Age=2592000"), "{remember}");
        let first = copy(&app.client, "remember_token");
        let restarted = second_instance(&app, &clock).await;
        // A browser restarted with only its remember cookie is signed in, and the cookie
        // is replaced by a new token.
        let r = restarted
            .get("/session")
            .cookie(first.clone())
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok, "{b:?} {store}");
        let second = copy(&restarted, "remember_token");
        assert_ne!(second.value(), first.value());
        // The copy taken at login: still good for a request sent alongside...
        let fresh = second_instance(&app, &clock).await;
        assert_eq!(
            status_with(&fresh, "/session", std::slice::from_ref(&first)).await,
            Status::Ok
        );
        // ...but once the grace is over it is a stolen token: refused, and the series
        // ends, so the rotated cookie is refused too.
        clock.advance(31);
        let late = second_instance(&app, &clock).await;
        assert_eq!(
            status_with(&late, "/session", std::slice::from_ref(&first)).await,
            Status::Unauthorized,
            "{b:?} {store}"
        );
        let again = second_instance(&app, &clock).await;
        assert_eq!(
            status_with(&again, "/session", std::slice::from_ref(&second)).await,
            Status::Unauthorized,
            "{b:?} {store}: the series ended"
        );
    }
}

#[rocket::async_test]
async fn a_remember_cookie_copied_before_logout_is_refused_after_it() {
    for (b, store) in stores() {
        let clock = Clock::new();
        let app = app_on(b, store, &clock).await;
        login_remembered(&app).await;
        let copied = copy(&app.client, "remember_token");
        app.logout().await;
        let thief = second_instance(&app, &clock).await;
        let s = status_with(&thief, "/session", &[copied]).await;
        assert_eq!(s, Status::Unauthorized, "{b:?} {store}");
    }
}

#[rocket::async_test]
async fn a_remember_cookie_dies_with_a_password_change_and_at_its_expiry() {
    for (b, store) in stores() {
        let clock = Clock::new();
        let app = app_on(b, store, &clock).await;
        login_remembered(&app).await;
        let copied = copy(&app.client, "remember_token");
        // Expiry: good at 30 days - 1 s, refused after.
        let probe = second_instance(&app, &clock).await;
        clock.advance(30 * 24 * 3600 - 1);
        assert_eq!(
            status_with(&probe, "/session", std::slice::from_ref(&copied)).await,
            Status::Ok
        );
        let rotated = copy(&probe, "remember_token");
        clock.advance(2);
        let late = second_instance(&app, &clock).await;
        let s = status_with(&late, "/session", &[rotated]).await;
        assert_eq!(s, Status::Unauthorized, "{b:?} {store}: expired");

        // A password change (the uniquifier rotates) ends every remember-me sign-in.
        let tweak = |f: Figment| store_settings(f, store).merge(("security.changeable", true));
        let app = TestApp::with(b, tweak, clock.install(Security::new())).await;
        app.user(EMAIL, PASSWORD, &[]).await;
        login_remembered(&app).await;
        let copied = copy(&app.client, "remember_token");
        let new = "new password 456";
        let change =
            json!({"password": PASSWORD, "new_password": new, "new_password_confirm": new});
        assert_eq!(app.post_json("/change", change).await.status(), Status::Ok);
        let thief = second_instance(&app, &clock).await;
        let s = status_with(&thief, "/session", &[copied]).await;
        assert_eq!(s, Status::Unauthorized, "{b:?} {store}: password changed");
    }
}

#[rocket::async_test]
async fn two_requests_with_one_remember_cookie_both_sign_in() {
    for (b, store) in stores() {
        let clock = Clock::new();
        let app = app_on(b, store, &clock).await;
        login_remembered(&app).await;
        let remember = copy(&app.client, "remember_token");
        let browser = second_instance(&app, &clock).await;
        let cookies = [remember];
        let (a, c) = tokio::join!(
            status_with(&browser, "/session", &cookies),
            status_with(&browser, "/profile", &cookies),
        );
        assert_eq!((a, c), (Status::Ok, Status::Ok), "{b:?} {store}");
        // Whichever response the browser kept last, its token is the stored one: a
        // request that lost the race to rotate does not send a token of its own.
        let kept = copy(&browser, "remember_token");
        clock.advance(31);
        let later = second_instance(&app, &clock).await;
        let s = status_with(&later, "/session", &[kept]).await;
        assert_eq!(s, Status::Ok, "{b:?} {store}: the browser's last token");
    }
}

#[rocket::async_test]
async fn a_remember_sign_in_answered_by_an_error_page_keeps_the_browsers_token() {
    for (b, store) in stores() {
        let clock = Clock::new();
        let app = app_on(b, store, &clock).await;
        login_remembered(&app).await;
        let remember = copy(&app.client, "remember_token");
        // Signed in by the cookie, then refused by the role check: Rocket's catcher
        // answers, and the rotated cookie set before it is lost.
        let browser = second_instance(&app, &clock).await;
        let r = browser
            .get("/admin")
            .header(ContentType::JSON)
            .cookie(remember.clone())
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Forbidden);
        let sets: Vec<String> = r.headers().get("Set-Cookie").map(str::to_owned).collect();
        assert!(
            !sets.iter().any(|c| c.starts_with("remember_token=")),
            "{sets:?}"
        );
        // So the token the browser still holds must still be current after the grace.
        clock.advance(31);
        let later = second_instance(&app, &clock).await;
        let s = status_with(&later, "/session", &[remember]).await;
        assert_eq!(s, Status::Ok, "{b:?} {store}");
    }
}

/// A session backend whose remember-me checks wait for each other, so that two requests
/// sent at once both find the token current before either replaces it.
struct Lockstep {
    inner: std::sync::OnceLock<Arc<dyn SessionBackend>>,
    checks: tokio::sync::Barrier,
    /// When set, each replacement is written 31 s later than the one before it (the
    /// second request of the pair flushes after the grace).
    late: bool,
    rotations: std::sync::atomic::AtomicU64,
}

impl Lockstep {
    fn inner(&self) -> &dyn SessionBackend {
        &**self.inner.get().unwrap()
    }
}

#[rocket::async_trait]
impl SessionBackend for Lockstep {
    async fn load_session(&self, id: &str) -> SecResult<Option<StoredSession>> {
        self.inner().load_session(id).await
    }
    async fn insert_session(&self, id: &str, s: &StoredSession) -> SecResult<()> {
        self.inner().insert_session(id, s).await
    }
    async fn update_session(
        &self,
        id: &str,
        user: Option<&str>,
        data: &str,
        now: i64,
    ) -> SecResult<bool> {
        self.inner().update_session(id, user, data, now).await
    }
    async fn touch_session(&self, id: &str, now: i64) -> SecResult<()> {
        self.inner().touch_session(id, now).await
    }
    async fn delete_session(&self, id: &str) -> SecResult<()> {
        self.inner().delete_session(id).await
    }
    async fn delete_user_sessions(&self, user: &str) -> SecResult<u64> {
        self.inner().delete_user_sessions(user).await
    }
    async fn purge(&self, idle: i64, created: i64, now: i64) -> SecResult<()> {
        self.inner().purge(idle, created, now).await
    }
    async fn insert_series(&self, series: &str, new: &NewSeries) -> SecResult<()> {
        self.inner().insert_series(series, new).await
    }
    async fn check_series(
        &self,
        series: &str,
        token: &str,
        now: i64,
        grace: i64,
    ) -> SecResult<RememberUse> {
        let used = self.inner().check_series(series, token, now, grace).await;
        self.checks.wait().await;
        used
    }
    async fn rotate_series(
        &self,
        series: &str,
        token: &str,
        next: &str,
        now: i64,
    ) -> SecResult<bool> {
        let turn = self.rotations.fetch_add(1, SeqCst) as i64;
        let now = if self.late { now + 31 * turn } else { now };
        self.inner().rotate_series(series, token, next, now).await
    }
    async fn delete_series(&self, series: &str) -> SecResult<()> {
        self.inner().delete_series(series).await
    }
}

#[rocket::async_test]
async fn of_two_requests_that_both_found_the_token_current_one_rotates_it() {
    two_requests_found_the_token_current(false).await;
}

/// The loser of the race finishing after the grace (a slow upload) does not end the
/// series: its token was judged when it arrived.
#[rocket::async_test]
async fn a_request_that_found_the_token_current_and_ends_after_the_grace_ends_nothing() {
    two_requests_found_the_token_current(true).await;
}

async fn two_requests_found_the_token_current(slow: bool) {
    for b in backends() {
        let clock = Clock::new();
        let backend = Arc::new(Lockstep {
            inner: std::sync::OnceLock::new(),
            checks: tokio::sync::Barrier::new(2),
            late: slow,
            rotations: std::sync::atomic::AtomicU64::new(0),
        });
        let c = clock.clone();
        let now: security_runtime::state::Clock = Arc::new(move || c.now() as f64);
        let store = Arc::new(ServerStore::new(
            &SecurityConfig::default(),
            backend.clone(),
            now,
        ));
        let security = clock.install(Security::new().session_store(store.clone()));
        let app = TestApp::with(b, |f| f, security).await;
        app.user(EMAIL, PASSWORD, &[]).await;
        let sessions = app.datastore().session_backend().unwrap();
        assert!(backend.inner.set(sessions).is_ok());
        login_remembered(&app).await;
        let token = copy(&app.client, "remember_token");
        // A restarted browser (only the remember cookie) sends two requests at once.
        let figment = app.client.rocket().figment().clone();
        let security = clock.install(Security::new().session_store(store.clone()));
        let rocket = security_tests::app(b, figment, security);
        let browser = Client::untracked(rocket).await.unwrap();
        let (r1, r2) = tokio::join!(
            browser.get("/session").cookie(token.clone()).dispatch(),
            browser.get("/profile").cookie(token.clone()).dispatch(),
        );
        assert_eq!((r1.status(), r2.status()), (Status::Ok, Status::Ok));
        // Both put a new token in the jar; the one whose replacement lost does not send it.
        let sent: Vec<Cookie<'static>> = [&r1, &r2]
            .iter()
            .flat_map(|r| r.headers().get("Set-Cookie"))
            .filter(|c| c.starts_with("remember_token="))
            .map(|c| Cookie::parse_encoded(c.to_owned()).unwrap())
            .collect();
        assert_eq!(sent.len(), 1, "{b:?}");
        let kept = sent[0].clone();
        clock.advance(31);
        let later = second_instance(&app, &clock).await;
        let s = status_with(&later, "/session", &[kept]).await;
        assert_eq!(s, Status::Ok, "{b:?}");
    }
}
