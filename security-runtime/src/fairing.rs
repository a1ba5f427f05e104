//! The `Security` fairing: reads config, connects the datastore, mounts the routes,
//! and turns guard denials into Flask-Security's responses.
//!
//! Parity: `flask_security.Security` / `init_app`.

use std::sync::Arc;

use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::figment::Figment;
use rocket::http::Header;
use rocket::{Build, Orbit, Request, Response, Rocket};
use serde_json::Value;

use crate::config::SecurityConfig;
use crate::datastore::{CachedDatastore, SqlDatastore, UserDatastore};
use crate::mail::MailUtil;
use crate::model::User;
use crate::responses::{self, Denial, Reply};
use crate::state::{Hooks, SecurityState};
use crate::validation::{PasswordUtil, PhoneUtil, UsernameUtil};

/// Custom response for a denial; `None` falls back to the default.
pub type DenialHook = Arc<dyn Fn(&Denial, &Request<'_>) -> Option<Reply> + Send + Sync>;
/// What the seed hook returns.
pub type SeedFuture<'a> = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>>
            + Send
            + 'a,
    >,
>;
/// The start-up seed hook ([`Security::seed`]).
pub type SeedHook =
    Arc<dyn for<'a> Fn(&'a SecurityState, &'a Figment) -> SeedFuture<'a> + Send + Sync>;
/// The application's replacements for the default denial answers; the fairing applies
/// them when it answers a denial.
///
/// Parity: `Security.unauthn_handler`, `unauthz_handler`, `reauthn_handler`.
#[derive(Clone, Default)]
struct DenialHooks {
    unauthn: Option<DenialHook>,
    unauthz: Option<DenialHook>,
    reauthn: Option<DenialHook>,
}

type DatastoreSource = Box<dyn Fn(&Rocket<Build>) -> Option<Source> + Send + Sync + 'static>;

/// Where the datastore comes from: a pool (the SQL datastore, cached when `auth_cache`
/// is on) or the application's own.
enum Source {
    Sql(SqlDatastore),
    Ready(Arc<dyn UserDatastore>),
}

/// The security fairing and its builder.
///
/// ```no_run
/// # use rocket_db_pools::Database;
/// #[derive(Database)]
/// #[database("app")]
/// struct Db(security_runtime::db::SqlitePool);
///
/// #[rocket::launch]
/// fn rocket() -> _ {
///     rocket::build()
///         .attach(Db::init())
///         .attach(security_runtime::Security::new().database::<Db>())
/// }
/// ```
pub struct Security {
    source: Option<DatastoreSource>,
    hooks: Hooks,
    denial_hooks: DenialHooks,
    mount_routes: bool,
    mailer: Option<Arc<dyn MailUtil>>,
    password_util: Option<Arc<dyn PasswordUtil>>,
    username_util: Option<Arc<dyn UsernameUtil>>,
    phone_util: Option<Arc<dyn PhoneUtil>>,
    sms_sender: Option<Arc<dyn crate::sms::SmsSender>>,
    seed: Option<SeedHook>,
    templates: Vec<(String, String)>,
    session_store: Option<Arc<dyn crate::session::SessionStore>>,
}

impl Default for Security {
    fn default() -> Self {
        Self::new()
    }
}

impl Security {
    /// A fairing with default hooks; give it a datastore with [`Security::database`] or
    /// [`Security::datastore`].
    pub fn new() -> Self {
        Security {
            source: None,
            hooks: Hooks::default(),
            denial_hooks: DenialHooks::default(),
            mount_routes: true,
            mailer: None,
            password_util: None,
            username_util: None,
            phone_util: None,
            sms_sender: None,
            seed: None,
            templates: Vec::new(),
            session_store: None,
        }
    }

    /// Seeds roles and users at start-up: `f` runs once at ignition, after the schema
    /// migrations and before the launch-time comparison of the routes' roles and
    /// permissions with the datastore's, so `undeclared_roles = "refuse"` starts on a fresh
    /// database. It gets the built state (datastore, `hash_password`, ...) and Rocket's
    /// figment for the application's own settings; an error stops the launch.
    ///
    /// ```no_run
    /// # use rocket_db_pools::Database;
    /// # #[derive(Database)]
    /// # #[database("app")]
    /// # struct Db(security_runtime::db::SqlitePool);
    /// let security = security_runtime::Security::new()
    ///     .database::<Db>()
    ///     .seed(|state, _figment| {
    ///         Box::pin(async move {
    ///             state.datastore.find_or_create_role("admin", &[]).await?;
    ///             Ok(())
    ///         })
    ///     });
    /// ```
    pub fn seed<F>(mut self, f: F) -> Self
    where
        F: for<'a> Fn(&'a SecurityState, &'a Figment) -> SeedFuture<'a> + Send + Sync + 'static,
    {
        self.seed = Some(Arc::new(f));
        self
    }

    /// Uses the pool of a `rocket_db_pools` database attached before this fairing.
    pub fn database<D>(mut self) -> Self
    where
        D: rocket_db_pools::Database,
        D::Pool: Clone + Into<SqlDatastore>,
    {
        self.source = Some(Box::new(|rocket| {
            let db = D::fetch(rocket)?;
            let pool: D::Pool = (**db).clone();
            Some(Source::Sql(pool.into()))
        }));
        self
    }

    /// Replaces a built-in page template (or adds a partial) in code: `name` as
    /// `security/login_user.html`; takes precedence over `templates_dir`. A syntax
    /// error stops launch.
    ///
    /// An application replaces a page by putting a file of the same name under
    /// `<templates_dir>/security/`, or in code with this method;
    /// a page it does not replace keeps the built-in one. Every page gets this context:
    ///
    /// | name | what |
    /// |---|---|
    /// | `lang` | the locale of the answer (`en`, `de`, ...) |
    /// | `_(msgid, **values)` | `msgid` translated into `lang`, `%(name)s` filled in (`_fsdomain` too) |
    /// | `csrf_token` | the form's CSRF token |
    /// | `messages` | flashed messages, `[category, text]` pairs, translated |
    /// | `security` | `urls` (login, logout, register, reset, confirm, change, change_email, change_username, recover_username; absent when off) and the feature switches (`registerable`, `recoverable`, `confirmable`, `changeable`, `change_email`, `change_username`, `username_recovery`, `username_enable`) |
    /// | `current_user` | `{email, username}` of the signed-in user, or none |
    /// | `current_email`, `current_username` | the same, for the change pages |
    /// | `identity_attributes` | `user_identity_attributes` in force |
    /// | `form` | `action`, `values` (field → value; never passwords), `errors` (field → messages), `form_errors`, `all_errors` (everything to list, translated) |
    ///
    /// Parity: `SECURITY_LOGIN_USER_TEMPLATE` and the other `*_TEMPLATE` settings.
    pub fn template(mut self, name: impl Into<String>, source: impl Into<String>) -> Self {
        self.templates.push((name.into(), source.into()));
        self
    }

    /// Keeps sessions in `store` instead of the encrypted session cookie
    /// ([`session::CookieStore`](crate::session::CookieStore)).
    pub fn session_store(mut self, store: Arc<dyn crate::session::SessionStore>) -> Self {
        self.session_store = Some(store);
        self
    }

    /// Uses a ready datastore (any [`UserDatastore`] implementation).
    pub fn datastore(mut self, ds: Arc<dyn UserDatastore>) -> Self {
        self.source = Some(Box::new(move |_| Some(Source::Ready(ds.clone()))));
        self
    }

    /// Parity: `Security(mail_util_cls=...)`: replaces mail sending.
    pub fn mail_util(mut self, m: Arc<dyn MailUtil>) -> Self {
        self.mailer = Some(m);
        self
    }

    /// Sends texted two-factor codes through `s` instead of the `sms_service` setting's
    /// sender.
    ///
    /// Parity: `SmsSenderFactory.senders[...] = MySender`.
    pub fn sms_sender(mut self, s: Arc<dyn crate::sms::SmsSender>) -> Self {
        self.sms_sender = Some(s);
        self
    }

    /// Parity: `Security(password_util_cls=...)`.
    pub fn password_util(mut self, p: Arc<dyn PasswordUtil>) -> Self {
        self.password_util = Some(p);
        self
    }

    /// Parity: `Security(username_util_cls=...)`.
    pub fn username_util(mut self, u: Arc<dyn UsernameUtil>) -> Self {
        self.username_util = Some(u);
        self
    }

    /// Parity: `Security(phone_util_cls=...)`.
    pub fn phone_util(mut self, p: Arc<dyn PhoneUtil>) -> Self {
        self.phone_util = Some(p);
        self
    }

    /// Do not mount the login/logout routes (guards only).
    pub fn without_routes(mut self) -> Self {
        self.mount_routes = false;
        self
    }

    /// Parity: `Security.unauthn_handler`.
    pub fn unauthn_handler(
        mut self,
        f: impl Fn(&Denial, &Request<'_>) -> Option<Reply> + Send + Sync + 'static,
    ) -> Self {
        self.denial_hooks.unauthn = Some(Arc::new(f));
        self
    }

    /// Parity: `Security.unauthz_handler`.
    pub fn unauthz_handler(
        mut self,
        f: impl Fn(&Denial, &Request<'_>) -> Option<Reply> + Send + Sync + 'static,
    ) -> Self {
        self.denial_hooks.unauthz = Some(Arc::new(f));
        self
    }

    /// Parity: `Security.reauthn_handler`.
    pub fn reauthn_handler(
        mut self,
        f: impl Fn(&Denial, &Request<'_>) -> Option<Reply> + Send + Sync + 'static,
    ) -> Self {
        self.denial_hooks.reauthn = Some(Arc::new(f));
        self
    }

    /// Parity: `Security.render_json`.
    pub fn render_json(mut self, f: impl Fn(Value, u16) -> Value + Send + Sync + 'static) -> Self {
        self.hooks.render_json = Arc::new(f);
        self
    }

    /// Parity: `Security.want_json`.
    pub fn want_json(mut self, f: impl Fn(&Request<'_>) -> bool + Send + Sync + 'static) -> Self {
        self.hooks.want_json = Arc::new(f);
        self
    }

    /// Parity: `SECURITY_TOKEN_EXPIRE_TIMESTAMP`.
    pub fn token_expire_timestamp(
        mut self,
        f: impl Fn(&User) -> i64 + Send + Sync + 'static,
    ) -> Self {
        self.hooks.token_expire_timestamp = Arc::new(f);
        self
    }

    /// Parity: `UserMixin.augment_auth_token`.
    pub fn augment_auth_token(
        mut self,
        f: impl Fn(&User, &mut serde_json::Map<String, Value>) + Send + Sync + 'static,
    ) -> Self {
        self.hooks.augment_auth_token = Some(Arc::new(f));
        self
    }

    /// Parity: `UserMixin.verify_auth_token`.
    pub fn verify_auth_token(
        mut self,
        f: impl Fn(&User, &serde_json::Map<String, Value>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.hooks.verify_auth_token = Some(Arc::new(f));
        self
    }

    /// Uses the application's user model for the JSON `user` object of every response
    /// (its [`UserModel::security_payload`](crate::UserModel::security_payload)).
    ///
    /// Parity: `UserMixin.get_security_payload` on the application's `User` class.
    pub fn user_model<U: crate::UserModel>(mut self) -> Self {
        self.hooks.user_payload = Arc::new(|u| U::from_user(u).security_payload());
        self
    }

    /// Subscribes to security signals.
    ///
    /// Parity: connecting to the blinker signals of `flask_security.signals`.
    pub fn on_signal(
        mut self,
        f: impl Fn(&crate::signals::Signal) + Send + Sync + 'static,
    ) -> Self {
        self.hooks.listeners.push(Arc::new(f));
        self
    }

    /// Chooses the locale of each request's answers (pages, JSON messages, mail);
    /// `None` leaves it to `Accept-Language` (when `i18n_negotiate` is on) or
    /// `default_locale`. A locale no catalog has falls back the same way.
    ///
    /// Parity: Flask-Babel's `locale_selector`.
    pub fn locale_selector(
        mut self,
        f: impl Fn(&Request<'_>) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.hooks.locale = Some(Arc::new(f));
        self
    }

    /// Replaces the clock (epoch seconds); for tests of expiry and freshness.
    pub fn clock(mut self, f: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        self.hooks.clock = Arc::new(f);
        self
    }
}

impl Security {
    /// Reads and checks the configuration, opens and upgrades the datastore and builds
    /// the state; an error is the message to log.
    async fn build_state(&self, rocket: &Rocket<Build>) -> Result<SecurityState, String> {
        let mut config = SecurityConfig::from_figment(rocket.figment())?;
        let debug = is_debug(rocket);
        let conf_err = |e: &dyn std::fmt::Display| format!("security configuration: {e}");
        config.validate(debug).map_err(|e| conf_err(&e))?;
        if config.secret_key.is_none() {
            rocket::warn!("`security.secret_key` not set: using a random key (debug only)");
            config.secret_key = Some(crate::datastore::new_uniquifier());
        }
        let source = self.source.as_ref().ok_or(
            "Security fairing has no datastore: call `.database::<Db>()` or `.datastore(..)`",
        )?;
        let source = source(rocket).ok_or(
            "Security fairing: the database is not attached; attach `Db::init()` before \
             `Security`",
        )?;
        let datastore = match source {
            Source::Sql(sql) => {
                crate::launch::schema(&sql, config.migrate_on_launch)
                    .await
                    .map_err(|e| format!("Security fairing: {e}"))?;
                cached(sql, &config).await
            }
            Source::Ready(ds) => {
                crate::launch::schema(&*ds, config.migrate_on_launch)
                    .await
                    .map_err(|e| format!("Security fairing: {e}"))?;
                ds
            }
        };
        if self.mailer.is_none() && config.mail_server.is_none() && !debug && config.sends_mail() {
            return Err(
                "security configuration: `security.mail_server` must be set outside \
                        debug builds when mail flows are enabled (mail with live links would \
                        go to the log)"
                    .into(),
            );
        }
        let mut mailer = match &self.mailer {
            Some(m) => m.clone(),
            None => crate::mail::mailer_from_config(&config)
                .map_err(|e| format!("security configuration (mail): {e}"))?,
        };
        if config.mail_queued() {
            let delay = std::time::Duration::from_millis(config.mail_queue_retry_ms);
            let queue = crate::mail::QueuedMailer::spawn(mailer, config.mail_queue_tries, delay);
            mailer = Arc::new(queue);
        }
        self.assemble(config, datastore, mailer).await
    }

    async fn assemble(
        &self,
        config: SecurityConfig,
        datastore: Arc<dyn UserDatastore>,
        mailer: Arc<dyn MailUtil>,
    ) -> Result<SecurityState, String> {
        let mut state = SecurityState::new(config, datastore, mailer)?;
        if let Some(u) = &self.password_util {
            state.password_util = u.clone();
        }
        if let Some(u) = &self.username_util {
            state.username_util = u.clone();
        }
        if let Some(u) = &self.phone_util {
            state.phone_util = u.clone();
        }
        state.sessions = match &self.session_store {
            Some(store) => store.clone(),
            None => {
                let clock = self.hooks.clock.clone();
                crate::session::store_from_config(&state.config, &*state.datastore, clock).await?
            }
        };
        if let Some(s) = &self.sms_sender {
            state.sms = s.clone();
        }
        state.hooks = self.hooks.clone();
        Ok(state)
    }
}

/// The SQL datastore, behind the auth cache when it is on.
async fn cached(sql: SqlDatastore, config: &SecurityConfig) -> Arc<dyn UserDatastore> {
    if !config.auth_cache {
        return Arc::new(sql);
    }
    let settings = crate::datastore::CacheSettings {
        capacity: usize::try_from(config.auth_cache_capacity).unwrap_or(usize::MAX),
        strict: config.auth_cache_strict,
        retry: std::time::Duration::from_millis(config.auth_cache_retry_ms),
        poll: std::time::Duration::from_millis(config.auth_cache_poll_ms),
    };
    CachedDatastore::over(sql, settings).await
}

/// One secret for the whole stack: when Rocket's own `secret_key` (private cookies: the
/// session and remember-me cookies) is not set, it is derived from `security.secret_key`
/// (HMAC-SHA512 under a fixed label), so the application sets one key. A `secret_key` set
/// for Rocket is left as it is, malformed ones too (Rocket refuses those itself). Outside
/// debug builds a key to derive from must have at least 32 bytes. `None`: nothing to set.
fn derived_rocket_key(
    rocket: &Rocket<Build>,
    config: &SecurityConfig,
    debug: bool,
) -> Result<Option<String>, String> {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    // Rocket's defaults hold a zero key: "not set" is an absent or zero key.
    let unset = rocket.figment().find_value("secret_key").is_err()
        || rocket
            .figment()
            .extract_inner::<rocket::config::SecretKey>("secret_key")
            .is_ok_and(|k| k.is_zero());
    let (true, Some(key)) = (unset, &config.secret_key) else {
        return Ok(None);
    };
    if !debug && key.len() < 32 {
        return Err(
            "security configuration: Rocket's `secret_key` is not set, and \
                    `security.secret_key` is too short (under 32 bytes) to derive it from; \
                    set a longer `security.secret_key` or Rocket's own `secret_key`"
                .into(),
        );
    }
    let mut mac = Hmac::<sha2::Sha512>::new_from_slice(key.as_bytes())
        .map_err(|_| "security configuration: unusable `security.secret_key`".to_owned())?;
    mac.update(b"rocket-security: rocket secret_key v1");
    rocket::info!("Rocket `secret_key` derived from `security.secret_key`");
    Ok(Some(
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()),
    ))
}

/// Replaces `res` by `new`, keeping the headers of `res` that `new` does not set (the
/// security headers Rocket's Shield added, for one), but not its body headers.
fn replace_keeping_headers<'r>(res: &mut Response<'r>, new: Response<'r>) {
    let kept: Vec<Header<'static>> = res
        .headers()
        .iter()
        .filter(|h| {
            !new.headers().contains(h.name()) && {
                let n = h.name();
                !(n == "Content-Type" || n == "Content-Length" || n == "Set-Cookie")
            }
        })
        .map(|h| Header::new(h.name().to_string(), h.value().to_string()))
        .collect();
    *res = new;
    for h in kept {
        res.adjoin_header(h);
    }
}

/// Debug profile, or a debug build not explicitly in the release profile (Rocket's rule
/// for its own key).
fn is_debug(rocket: &Rocket<Build>) -> bool {
    let profile = rocket.figment().profile().clone();
    profile == rocket::Config::DEBUG_PROFILE
        || (cfg!(debug_assertions) && profile != rocket::Config::RELEASE_PROFILE)
}

/// The launch-time comparison of the roles and permissions routes name with the
/// datastore's (`undeclared_roles`); runs after the seed hook.
async fn check_declared_roles(rocket: &Rocket<Build>, state: &SecurityState) -> Result<(), String> {
    let roles = state
        .datastore
        .all_roles()
        .await
        .map_err(|e| format!("Security fairing: reading roles failed: {e}"))?;
    let (r, p) = crate::launch::undeclared(rocket, &roles);
    if r.is_empty() && p.is_empty() {
        return Ok(());
    }
    let msg = format!(
        "routes name roles the datastore lacks: [{}]; permissions no role grants: [{}]",
        r.join(", "),
        p.join(", ")
    );
    if state.config.undeclared_roles == crate::config::UndeclaredRoles::Refuse {
        return Err(format!("{msg} (security.undeclared_roles = \"refuse\")"));
    }
    rocket::warn!("{msg}");
    Ok(())
}

#[rocket::async_trait]
impl Fairing for Security {
    fn info(&self) -> Info {
        Info {
            name: "Security",
            kind: Kind::Ignite | Kind::Liftoff | Kind::Response | Kind::Singleton,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        let state = match self.build_state(&rocket).await {
            Ok(s) => s,
            Err(msg) => {
                rocket::error!("{msg}");
                return Err(rocket);
            }
        };
        // Every configuration refusal comes before the seed hook writes anything.
        let routes = match crate::flows::routes(&state.config) {
            Ok(r) => r,
            Err(e) => {
                rocket::error!("security configuration: {e}");
                return Err(rocket);
            }
        };
        let rocket = match derived_rocket_key(&rocket, &state.config, is_debug(&rocket)) {
            Ok(Some(key)) => {
                let figment = rocket.figment().clone().merge(("secret_key", key));
                rocket.configure(figment)
            }
            Ok(None) => rocket,
            Err(msg) => {
                rocket::error!("{msg}");
                return Err(rocket);
            }
        };
        if let Some(seed) = &self.seed {
            if let Err(e) = seed(&state, rocket.figment()).await {
                rocket::error!("Security fairing: the seed hook failed: {e}");
                return Err(rocket);
            }
        }
        if let Err(msg) = check_declared_roles(&rocket, &state).await {
            rocket::error!("{msg}");
            return Err(rocket);
        }
        let pages = match crate::render::Pages::new(
            &state.config,
            state.catalog.clone(),
            &self.templates,
        ) {
            Ok(p) => p,
            Err(e) => {
                rocket::error!("security configuration (page templates): {e}");
                return Err(rocket);
            }
        };
        let mut rocket = rocket.manage(state).manage(pages);
        if self.mount_routes {
            for (base, r) in routes {
                rocket = rocket.mount(base, r);
            }
        }
        Ok(rocket)
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        if let Some(state) = rocket.state::<SecurityState>() {
            // Rocket's key is final only now (a debug build makes one after ignite).
            state.sessions.serve(&rocket.config().secret_key);
        }
        crate::launch::log_routes(rocket);
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        let Some(state) = req.rocket().state::<SecurityState>() else {
            return;
        };
        // Only a response that is the denial itself (the catcher Rocket ran for the failed
        // guard) is replaced: an `Option<CurrentUser>` that found nobody records a denial
        // too, but its handler answered. Every denial is a 4xx or 5xx: a successful
        // response does not look (a request-local value costs an allocation).
        let denial = (res.status().code >= 400)
            .then(|| crate::guards::GuardLocal::of(req).take_denial())
            .flatten();
        if let Some(d) = denial.filter(|d| d.status() == res.status()) {
            let custom = match &d {
                Denial::Unauthenticated { .. } => self.denial_hooks.unauthn.as_ref(),
                Denial::Unauthorized { .. } => self.denial_hooks.unauthz.as_ref(),
                Denial::Reauthenticate { .. } => self.denial_hooks.reauthn.as_ref(),
                _ => None,
            };
            let reply = custom
                .and_then(|h| h(&d, req))
                .unwrap_or_else(|| responses::default_denial_reply(state, &d, req));
            if let Ok(new) = rocket::response::Responder::respond_to(reply, req) {
                replace_keeping_headers(res, new);
            }
        }
        if crate::flows::is_security_route(req) {
            res.set_header(Header::new(
                "Cache-Control",
                state.config.cache_control.clone(),
            ));
            // Pages reached through mailed links carry their token in the path.
            res.set_header(Header::new("Referrer-Policy", "no-referrer"));
        } else if crate::guards::GuardLocal::of(req).guarded()
            && !crate::headers::has(res.headers(), "Cache-Control")
        {
            // What a guarded route answers depends on who asked: no shared cache keeps it.
            res.set_header(Header::new("Cache-Control", "private, no-store"));
        }
        // A request that never read its session has nothing to store; it is read here only
        // for the CSRF cookie, when one is configured.
        let session = match crate::session::Session::loaded(req, &*state.sessions) {
            Some(s) => s,
            None if state.config.csrf_cookie_name.is_some() => {
                crate::session::Session::of(req, &*state.sessions).await
            }
            None => return,
        };
        let remember = state.config.remember_cookie_name.as_str();
        let flushed = session.flush(sets_cookie(res, remember)).await;
        if flushed.as_ref().is_ok_and(|f| f.stale_remember_cookie) {
            drop_cookie_header(res, remember);
        }
        if let Err(e) = flushed {
            // A sign-out that did not reach the store must not answer as if it had.
            let reply = responses::internal_error(
                state,
                (state.hooks.want_json)(req),
                responses::request_locale(req),
                &e,
            );
            if let Ok(new) = rocket::response::Responder::respond_to(reply, req) {
                replace_keeping_headers(res, new);
            }
        }
        session.read(|data| crate::csrf::sync_cookie(state, data, res));
    }
}

/// The response sets the cookie `name`.
fn sets_cookie(res: &Response<'_>, name: &str) -> bool {
    crate::headers::all(res.headers(), "Set-Cookie").any(|h| {
        h.value()
            .split_once('=')
            .is_some_and(|(n, _)| n.trim() == name)
    })
}

/// Takes the `Set-Cookie` header for `name` out of the response, keeping the others.
fn drop_cookie_header(res: &mut Response<'_>, name: &str) {
    let keep: Vec<String> = res
        .headers()
        .get("Set-Cookie")
        .filter(|v| v.split_once('=').is_none_or(|(n, _)| n.trim() != name))
        .map(str::to_owned)
        .collect();
    res.remove_header("Set-Cookie");
    for v in keep {
        res.adjoin_header(Header::new("Set-Cookie", v));
    }
}
