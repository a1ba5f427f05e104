//! Configuration: the `[security]` table of Rocket's figment.
//!
//! One field per Flask-Security `SECURITY_*` key (lowercase, no prefix) for the features
//! built so far, with Flask-Security 5.9's defaults. Durations are whole seconds.
//! Set them in `Rocket.toml` (`[default.security]`) or the environment
//! (`ROCKET_SECURITY={password_salt="..."}`).

use serde::Deserialize;

use crate::hashing::HashingConfig;
use crate::mechanism::Mechanism;

/// A cookie's `SameSite` attribute, spelt as Flask's settings do (`Strict`, `Lax`,
/// `None`; lowercase is accepted too).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum SameSitePolicy {
    /// `SameSite=Strict`.
    #[serde(alias = "strict")]
    Strict,
    /// `SameSite=Lax`.
    #[serde(alias = "lax")]
    Lax,
    /// `SameSite=None` (needs `Secure`).
    #[serde(alias = "none")]
    None,
}

/// Parity: `SECURITY_REDIRECT_BEHAVIOR`: Flask-Security's default (server-side redirects
/// and pages), or `"spa"`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RedirectBehavior {
    /// Redirects and HTML pages as a server-rendered Flask app (Flask-Security's `None`).
    #[default]
    Server,
    /// Mailed links and form outcomes redirect to the single-page app's views.
    Spa,
}

/// Where sessions are kept (beyond Flask-Security, whose sessions live in the cookie).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SessionStoreKind {
    /// In the application's SQL database (`fs_session`, `fs_remember`): the cookie holds
    /// an id, and logout ends the session everywhere.
    #[default]
    Sql,
    /// In Redis at `session_redis_url` (the `redis` feature).
    Redis,
    /// The whole session in the encrypted cookie, as Flask: nothing is stored, so a copy
    /// of the cookie made before logout keeps working until it expires.
    Cookie,
}

/// What launch does when routes name roles or permissions the datastore lacks.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UndeclaredRoles {
    /// Log a warning and launch.
    #[default]
    Warn,
    /// Refuse to launch.
    Refuse,
}

/// Cookie attributes.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct CookieConfig {
    /// `SameSite` value: `Strict`, `Lax` or `None`.
    pub samesite: SameSitePolicy,
    /// `HttpOnly` flag.
    pub httponly: bool,
    /// `Secure` flag; turn off only for plain-HTTP development.
    pub secure: bool,
}

impl Default for CookieConfig {
    fn default() -> Self {
        CookieConfig {
            samesite: SameSitePolicy::Strict,
            httponly: false,
            secure: true,
        }
    }
}

/// Declares the settings struct with each setting's default beside it, and the
/// `Default` that collects them.
macro_rules! settings {
    (
        $(#[$attr:meta])*
        pub struct $name:ident {
            $( $(#[$fattr:meta])* pub $field:ident: $ty:ty = $default:expr, )*
        }
    ) => {
        $(#[$attr])*
        pub struct $name {
            $( $(#[$fattr])* pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $field: $default, )* }
            }
        }

        /// Every setting, with the secrets ([`REDACTED`]) shown as `"***"`.
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut d = f.debug_struct(stringify!($name));
                $(
                    if REDACTED.contains(&stringify!($field)) {
                        d.field(stringify!($field), &"***");
                    } else {
                        d.field(stringify!($field), &self.$field);
                    }
                )*
                d.finish()
            }
        }
    };
}

/// Settings whose values never appear in `{:?}` output (logs, panics).
pub const REDACTED: &[&str] = &[
    "secret_key",
    "secret_key_fallbacks",
    "password_salt",
    "mail_password",
    "totp_secrets",
    "sms_service_config",
    "multi_factor_recovery_codes_keys",
    "session_redis_url",
];

settings! {
    /// The `[security]` configuration table.
    #[derive(Clone, Deserialize)]
    #[serde(default)]
    pub struct SecurityConfig {
        /// Flask's `SECRET_KEY`: signs tokens. Required outside debug builds.
        pub secret_key: Option<String> = None,
        /// Parity: `SECRET_KEY_FALLBACKS`; verify-only older keys.
        pub secret_key_fallbacks: Vec<String> = Vec::new(),
        /// Parity: `SECURITY_PASSWORD_HASH`.
        pub password_hash: String = HashingConfig::default().password_hash,
        /// Parity: `SECURITY_PASSWORD_SCHEMES`.
        pub password_schemes: Vec<String> = HashingConfig::default().password_schemes,
        /// Parity: `SECURITY_PASSWORD_SALT`; required for double hashing.
        pub password_salt: Option<String> = None,
        /// Parity: `SECURITY_PASSWORD_SINGLE_HASH`.
        pub password_single_hash: Vec<String> = HashingConfig::default().password_single_hash,
        /// Parity: `SECURITY_PASSWORD_NORMALIZE_FORM`.
        pub password_normalize_form: String = HashingConfig::default().password_normalize_form,
        /// Parity: `SECURITY_PASSWORD_LENGTH_MIN`.
        pub password_length_min: usize = 8,
        /// Parity: `SECURITY_PASSWORD_HASH_PASSLIB_OPTIONS` `argon2__memory_cost` (KiB).
        pub argon2_memory_cost: u32 = HashingConfig::default().argon2_memory_cost,
        /// Parity: `argon2__time_cost`.
        pub argon2_time_cost: u32 = HashingConfig::default().argon2_time_cost,
        /// Parity: `argon2__parallelism`.
        pub argon2_parallelism: u32 = HashingConfig::default().argon2_parallelism,
        /// Parity: `bcrypt__rounds`.
        pub bcrypt_rounds: u32 = HashingConfig::default().bcrypt_rounds,
        /// Maximum concurrent password hashes; excess requests wait.
        pub max_concurrent_hashes: usize = 4,
        /// Parity: `SECURITY_USER_IDENTITY_ATTRIBUTES` (attribute names, looked up
        /// case-insensitively as Flask-Security's defaults do).
        pub user_identity_attributes: Vec<String> = vec!["email".into()],
        /// Parity: `SECURITY_USERNAME_ENABLE`.
        pub username_enable: bool = false,
        /// Parity: `SECURITY_TRACKABLE`.
        pub trackable: bool = false,
        /// Parity: `SECURITY_CONFIRMABLE`.
        pub confirmable: bool = false,
        /// Parity: `SECURITY_LOGIN_WITHOUT_CONFIRMATION`.
        pub login_without_confirmation: bool = false,
        /// Parity: `SECURITY_RETURN_GENERIC_RESPONSES`.
        pub return_generic_responses: bool = false,
        /// Parity: `SECURITY_FLASH_MESSAGES`. Form flows flash their outcome through Rocket's
        /// flash cookie (read it with `rocket::request::FlashMessage`).
        pub flash_messages: bool = true,
        /// Parity: Flask-Login `LOGIN_DISABLED`: `login_required` lets everyone in.
        pub login_disabled: bool = false,
        /// Parity: `SECURITY_TOKEN_AUTHENTICATION_KEY`.
        pub token_authentication_key: String = "auth_token".into(),
        /// Read auth tokens from the query string (`?auth_token=`), as Flask-Security does.
        /// `false` accepts them only in the `token_authentication_header`: a request with
        /// a query token is then unauthenticated (even with a valid header). Beyond
        /// Flask-Security.
        pub token_in_query: bool = true,
        /// Count consecutive failed attempts per account and factor (passwords; one-time
        /// and recovery codes) in the database, shared by every instance, and refuse
        /// attempts while the account waits or is locked (429 with `Retry-After`, or the
        /// generic failure in generic mode). A success resets the count; a new code does
        /// not. Beyond Flask-Security (NIST SP 800-63B §3.2.2).
        pub lockout_enabled: bool = true,
        /// Failures after which the factor is locked until a password reset or
        /// `security-cli users unlock` (at most 100, NIST's bound).
        pub lockout_max_failures: u32 = 100,
        /// Failures allowed before any wait.
        pub lockout_free_failures: u32 = 10,
        /// The first wait (seconds) after `lockout_free_failures`; each further failure
        /// doubles it, up to `lockout_max_delay`.
        pub lockout_delay: u64 = 30,
        /// The longest wait between attempts (seconds).
        pub lockout_max_delay: u64 = 3600,
        /// Failed credential attempts allowed per client address and minute (0: no limit,
        /// the default, since offices share one address). Per process. Beyond
        /// Flask-Security.
        pub failed_attempts_per_address: u32 = 0,
        /// Proxies whose `X-Forwarded-For` names the client (IP addresses); from any other
        /// peer the header is ignored.
        pub trusted_proxies: Vec<std::net::IpAddr> = Vec::new(),
        /// Mails anyone can trigger to one address (reset and confirmation instructions,
        /// codes, username recovery, "you already have an account") allowed per address
        /// in any hour (0: no cap). Over the cap the mail is dropped and the request
        /// answers as if it were sent. Per process. Beyond Flask-Security.
        pub mail_max_per_hour: u32 = 5,
        /// Parity: `SECURITY_TOKEN_AUTHENTICATION_HEADER`.
        pub token_authentication_header: String = "Authentication-Token".into(),
        /// Parity: `SECURITY_TOKEN_MAX_AGE` (seconds).
        pub token_max_age: u64 = 15 * 60,
        /// Parity: `SECURITY_BACKWARDS_COMPAT_AUTH_TOKEN`.
        pub backwards_compat_auth_token: bool = false,
        /// Parity: `SECURITY_REMEMBER_SALT`.
        pub remember_salt: String = "remember-salt".into(),
        /// Parity: `SECURITY_API_ENABLED_METHODS`.
        pub api_enabled_methods: Vec<Mechanism> = vec![Mechanism::Session, Mechanism::Token],
        /// Parity: `SECURITY_DEFAULT_REMEMBER_ME`.
        pub default_remember_me: bool = false,
        /// Parity: `SECURITY_DEFAULT_HTTP_AUTH_REALM`.
        pub default_http_auth_realm: String = "Login Required".into(),
        /// Parity: `SECURITY_FRESHNESS` (seconds; negative disables).
        pub freshness: i64 = 24 * 3600,
        /// Parity: `SECURITY_FRESHNESS_GRACE_PERIOD` (seconds).
        pub freshness_grace_period: i64 = 3600,
        /// Parity: `SECURITY_FRESHNESS_ALLOW_AUTH_TOKEN`.
        pub freshness_allow_auth_token: bool = true,
        /// Parity: `WTF_CSRF_ENABLED`.
        pub csrf_enabled: bool = true,
        /// Parity: `WTF_CSRF_TIME_LIMIT` (seconds).
        pub csrf_time_limit: u64 = 3600,
        /// Parity: `SECURITY_CSRF_PROTECT_MECHANISMS`.
        pub csrf_protect_mechanisms: Vec<Mechanism> = vec![Mechanism::Basic, Mechanism::Session, Mechanism::Token],
        /// Parity: `SECURITY_CSRF_IGNORE_UNAUTH_ENDPOINTS`.
        pub csrf_ignore_unauth_endpoints: bool = false,
        /// Parity: `SECURITY_CSRF_COOKIE_NAME` (unset = no CSRF cookie).
        pub csrf_cookie_name: Option<String> = None,
        /// Parity: `SECURITY_CSRF_COOKIE`.
        pub csrf_cookie: CookieConfig = CookieConfig::default(),
        /// Parity: `SECURITY_CSRF_HEADER`.
        pub csrf_header: String = "X-XSRF-Token".into(),
        /// Parity: `SECURITY_CSRF_COOKIE_REFRESH_EACH_REQUEST`.
        pub csrf_cookie_refresh_each_request: bool = false,
        /// Parity: `SESSION_COOKIE_NAME`.
        pub session_cookie_name: String = "session".into(),
        /// Parity: `SESSION_COOKIE_SECURE` (on by default here).
        pub session_cookie_secure: bool = true,
        /// Parity: `SESSION_COOKIE_SAMESITE`.
        pub session_cookie_samesite: SameSitePolicy = SameSitePolicy::Lax,
        /// Parity: `REMEMBER_COOKIE_NAME`.
        pub remember_cookie_name: String = "remember_token".into(),
        /// Parity: `REMEMBER_COOKIE_DURATION` (seconds). 30 days here (Flask-Login's is
        /// 365): a remember-me cookie signs in without a password for that long.
        pub remember_cookie_duration: i64 = 30 * 24 * 3600,
        /// How long a remember-me token already replaced stays good for a request sent
        /// alongside the one that replaced it (seconds). Beyond Flask-Security.
        pub remember_rotation_grace: i64 = 30,
        /// Where sessions and remember-me series are kept: `sql` (the application's
        /// database), `redis` or `cookie` (Flask's way, nothing stored server-side).
        pub session_store: SessionStoreKind = SessionStoreKind::Sql,
        /// Redis URL for `session_store = "redis"` (`redis://host:port/db`).
        pub session_redis_url: Option<String> = None,
        /// A stored session unused this long ends (seconds; checked to within
        /// `session_touch_interval`). Beyond Flask-Security.
        pub session_idle_timeout: i64 = 24 * 3600,
        /// A stored session ends this long after sign-in whatever its use (seconds).
        pub session_lifetime: i64 = 30 * 24 * 3600,
        /// A stored session's last use is written at most this often (seconds).
        pub session_touch_interval: i64 = 60,
        /// Keep the users that sessions and auth tokens name in memory: dropped on every
        /// write to users, roles and grants by this process before it returns, and on
        /// writes by another (SQLite: a change check at a request's first cached lookup,
        /// exact; PostgreSQL: notifications, a few milliseconds behind, no cache while
        /// the channel is down; MySQL and MariaDB: change counters read every
        /// `auth_cache_poll_ms`, at most three periods behind). Beyond Flask-Security.
        pub auth_cache: bool = true,
        /// Users the auth cache keeps (per identity kind: sessions, auth tokens).
        pub auth_cache_capacity: u64 = 100_000,
        /// No auth cache where it could lag behind a write by another instance
        /// (PostgreSQL: the notification's travel time; MySQL and MariaDB: up to a poll
        /// period); every lookup reads the database.
        pub auth_cache_strict: bool = false,
        /// PostgreSQL: milliseconds before listening again once the notification channel was
        /// lost (the cache does not serve meanwhile).
        pub auth_cache_retry_ms: u64 = 1000,
        /// MySQL and MariaDB: milliseconds between two reads of the change counters. A
        /// write by another instance, the CLI or plain SQL is seen by the next read,
        /// usually within one period; the cache stops serving when no read started in the
        /// last three periods succeeded, so three periods is the bound.
        pub auth_cache_poll_ms: u64 = 100,
        /// Parity: `SECURITY_URL_PREFIX`.
        pub url_prefix: String = String::new(),
        /// Parity: `SECURITY_LOGIN_URL`.
        pub login_url: String = "/login".into(),
        /// Parity: `SECURITY_LOGOUT_URL`.
        pub logout_url: String = "/logout".into(),
        /// Parity: `SECURITY_LOGOUT_CSRF`: logout requires a CSRF token.
        pub logout_csrf: bool = false,
        /// Parity: `SECURITY_LOGOUT_METHODS` (empty disables the route).
        pub logout_methods: Vec<String> = vec!["POST".into()],
        /// Parity: `SECURITY_VERIFY_URL`.
        pub verify_url: String = "/verify".into(),
        /// Parity: `SECURITY_US_VERIFY_URL`: where a stale session re-authenticates when
        /// unified sign-in is on.
        pub us_verify_url: String = "/us-verify".into(),
        /// Parity: `SECURITY_UNIFIED_SIGNIN`: one sign-in form for a password or a code
        /// (email, SMS, authenticator), and magic links.
        pub unified_signin: bool = false,
        /// Parity: `SECURITY_US_ENABLED_METHODS` (`password`, `email`, `authenticator`,
        /// `sms`).
        pub us_enabled_methods: Vec<String> = vec!["password".into(), "email".into(), "authenticator".into(), "sms".into()],
        /// Parity: `SECURITY_US_MFA_REQUIRED`: the methods after which a user with a
        /// second factor must give it too.
        pub us_mfa_required: Vec<String> = vec!["password".into(), "email".into()],
        /// Parity: `SECURITY_US_TOKEN_VALIDITY`: ± seconds a unified sign-in code (and a
        /// magic link) is accepted.
        pub us_token_validity: u64 = 120,
        /// Parity: `SECURITY_US_EMAIL_SUBJECT`.
        pub us_email_subject: String = "Verification Code".into(),
        /// Parity: `SECURITY_US_SETUP_WITHIN` (seconds).
        pub us_setup_within: i64 = 1800,
        /// Parity: `SECURITY_US_SETUP_SALT`.
        pub us_setup_salt: String = "us-setup-salt".into(),
        /// Parity: `SECURITY_US_SIGNIN_URL`.
        pub us_signin_url: String = "/us-signin".into(),
        /// Parity: `SECURITY_US_SIGNIN_SEND_CODE_URL`.
        pub us_signin_send_code_url: String = "/us-signin/send-code".into(),
        /// Parity: `SECURITY_US_SETUP_URL`.
        pub us_setup_url: String = "/us-setup".into(),
        /// Parity: `SECURITY_US_VERIFY_SEND_CODE_URL`.
        pub us_verify_send_code_url: String = "/us-verify/send-code".into(),
        /// Parity: `SECURITY_US_VERIFY_LINK_URL`.
        pub us_verify_link_url: String = "/us-verify-link".into(),
        /// Mailed sign-in codes carry a magic link (`/us-verify-link`), as Flask-Security's
        /// always do; `false` mails the code alone and unmounts the link's route.
        pub us_magic_link: bool = true,
        /// Parity: `SECURITY_US_POST_SETUP_VIEW` (default: the setup page).
        pub us_post_setup_view: Option<String> = None,
        /// Parity: `SECURITY_US_SIGNIN_REPLACES_LOGIN`: unauthenticated visitors are sent
        /// to `/us-signin` instead of `/login`.
        pub us_signin_replaces_login: bool = false,
        /// Wrong passcodes per identity and code window after which codes are refused
        /// until a new one is sent (or the window has passed). Beyond Flask-Security.
        pub us_max_code_failures: u32 = 10,
        /// Parity: `SECURITY_LOGIN_ERROR_VIEW`: where a failed magic link goes (SPA).
        pub login_error_view: Option<String> = None,
        /// Parity: `SECURITY_PASSWORDLESS` (deprecated there in favour of unified
        /// sign-in): `/login` mails a sign-in link instead of asking for a password.
        pub passwordless: bool = false,
        /// Parity: `SECURITY_LOGIN_WITHIN` (seconds): how long a passwordless link works.
        pub login_within: i64 = 24 * 3600,
        /// Parity: `SECURITY_LOGIN_SALT`.
        pub login_salt: String = "login-salt".into(),
        /// Parity: `SECURITY_EMAIL_SUBJECT_PASSWORDLESS`.
        pub email_subject_passwordless: String = "Login instructions".into(),
        /// Parity: `SECURITY_WEBAUTHN`: passkeys and security keys (`/wan-*`). Needs the
        /// crate feature `webauthn`; without it `true` is refused at launch.
        pub webauthn: bool = false,
        /// Parity: `SECURITY_WAN_RP_NAME`.
        pub wan_rp_name: String = "My Flask App".into(),
        /// The relying party id (a host name). Default: the request's host without its
        /// port, as Flask-Security takes it.
        pub wan_rp_id: Option<String> = None,
        /// The origin the browser must report (`https://example.com`). Default: the
        /// request's host, `http://` for localhost and `https://` otherwise.
        pub wan_origin: Option<String> = None,
        /// Parity: `SECURITY_WAN_REGISTER_TIMEOUT` (ms).
        pub wan_register_timeout: u64 = 60000,
        /// Parity: `SECURITY_WAN_SIGNIN_TIMEOUT` (ms).
        pub wan_signin_timeout: u64 = 60000,
        /// Parity: `SECURITY_WAN_REGISTER_WITHIN` (seconds).
        pub wan_register_within: i64 = 1800,
        /// Parity: `SECURITY_WAN_SIGNIN_WITHIN` (seconds; sign-in and verify).
        pub wan_signin_within: i64 = 60,
        /// Parity: `SECURITY_WAN_SALT`.
        pub wan_salt: String = "wan-salt".into(),
        /// Parity: `SECURITY_WAN_CHALLENGE_BYTES` (default 32).
        pub wan_challenge_bytes: Option<usize> = None,
        /// Parity: `SECURITY_WAN_ALLOW_AS_FIRST_FACTOR`.
        pub wan_allow_as_first_factor: bool = true,
        /// Parity: `SECURITY_WAN_ALLOW_AS_MULTI_FACTOR`: a user-verified passkey sign-in
        /// needs no second factor.
        pub wan_allow_as_multi_factor: bool = true,
        /// Parity: `SECURITY_WAN_ALLOW_USER_HINTS`: `/wan-signin` takes an identity to
        /// list its keys; off, passkeys must be discoverable.
        pub wan_allow_user_hints: bool = true,
        /// Parity: `SECURITY_WAN_NAME_ALLOWED_CHARS` (Unicode general categories).
        pub wan_name_allowed_chars: Vec<String> = vec!["L".into(), "N".into(), "Pc".into(), "Pd".into(), "Zs".into()],
        /// Parity: `SECURITY_WAN_NAME_MAX_LENGTH`.
        pub wan_name_max_length: usize = 64,
        /// Parity: `SECURITY_WAN_REGISTER_URL`.
        pub wan_register_url: String = "/wan-register".into(),
        /// Parity: `SECURITY_WAN_SIGNIN_URL`.
        pub wan_signin_url: String = "/wan-signin".into(),
        /// Parity: `SECURITY_WAN_DELETE_URL`.
        pub wan_delete_url: String = "/wan-delete".into(),
        /// Parity: `SECURITY_WAN_VERIFY_URL`.
        pub wan_verify_url: String = "/wan-verify".into(),
        /// Parity: `SECURITY_WAN_POST_REGISTER_VIEW` (default: the register page).
        pub wan_post_register_view: Option<String> = None,
        /// Parity: `SECURITY_STATIC_FOLDER_URL`: where the runtime serves the pages'
        /// scripts (`js/webauthn.js`).
        pub static_folder_url: String = "/fs-static".into(),
        /// Parity: `SECURITY_WAN_ALLOW_AS_VERIFY`: the WebAuthn credential usages that
        /// may re-authenticate (`first`, `secondary`).
        pub wan_allow_as_verify: Vec<String> = vec!["first".into(), "secondary".into()],
        /// Parity: `SECURITY_OAUTH_ENABLE`. Not available in this release: `true` is
        /// refused at launch.
        pub oauth_enable: bool = false,
        /// Parity: `SECURITY_OAUTH_BUILTIN_PROVIDERS`.
        pub oauth_builtin_providers: Vec<String> = vec!["github".into(), "google".into()],
        /// Parity: `SECURITY_POST_LOGIN_VIEW`.
        pub post_login_view: String = "/".into(),
        /// Parity: `SECURITY_POST_LOGOUT_VIEW`.
        pub post_logout_view: String = "/".into(),
        /// Parity: `SECURITY_UNAUTHORIZED_VIEW`.
        pub unauthorized_view: Option<String> = None,
        /// Parity: `SECURITY_REDIRECT_HOST`.
        pub redirect_host: Option<String> = None,
        /// Parity: `SECURITY_REDIRECT_ALLOW_SUBDOMAINS`.
        pub redirect_allow_subdomains: bool = false,
        /// Parity: Flask `SERVER_NAME`, used by subdomain redirect checks.
        pub server_name: Option<String> = None,
        /// Parity: `SECURITY_REDIRECT_BASE_DOMAIN`.
        pub redirect_base_domain: Option<String> = None,
        /// Parity: `SECURITY_REDIRECT_ALLOWED_SUBDOMAINS`.
        pub redirect_allowed_subdomains: Vec<String> = Vec::new(),
        /// Parity: `SECURITY_CACHE_CONTROL` as a header value.
        pub cache_control: String = "private, no-store".into(),
        /// Parity: `SECURITY_REGISTERABLE`.
        pub registerable: bool = false,
        /// Parity: `SECURITY_RECOVERABLE`.
        pub recoverable: bool = false,
        /// Parity: `SECURITY_CHANGEABLE`.
        pub changeable: bool = false,
        /// Parity: `SECURITY_CHANGE_EMAIL`.
        pub change_email: bool = false,
        /// Parity: `SECURITY_CHANGE_USERNAME`.
        pub change_username: bool = false,
        /// Parity: `SECURITY_USERNAME_RECOVERY`.
        pub username_recovery: bool = false,
        /// Parity: `SECURITY_USERNAME_REQUIRED`.
        pub username_required: bool = false,
        /// Parity: `SECURITY_USERNAME_MIN_LENGTH`.
        pub username_min_length: usize = 4,
        /// Parity: `SECURITY_USERNAME_MAX_LENGTH`.
        pub username_max_length: usize = 32,
        /// Parity: `SECURITY_AUTO_LOGIN_AFTER_CONFIRM`.
        pub auto_login_after_confirm: bool = false,
        /// Parity: `SECURITY_PASSWORD_CONFIRM_REQUIRED`.
        pub password_confirm_required: bool = true,
        /// Parity: `SECURITY_PASSWORD_REQUIRED`.
        pub password_required: bool = true,
        /// Parity: `SECURITY_PASSWORD_COMPLEXITY_CHECKER` (`"zxcvbn"` or unset).
        pub password_complexity_checker: Option<String> = None,
        /// Parity: `SECURITY_ZXCVBN_MINIMUM_SCORE`.
        pub zxcvbn_minimum_score: u8 = 3,
        /// Parity: `SECURITY_PASSWORD_CHECK_BREACHED`: `"false"`, `"true"` or `"strict"`.
        pub password_check_breached: String = "false".into(),
        /// Parity: `SECURITY_PASSWORD_BREACHED_COUNT`.
        pub password_breached_count: u64 = 1,
        /// Base URL of the k-anonymity range API (HIBP's by default).
        pub password_breached_url: String = "https://api.pwnedpasswords.com/range/".into(),
        /// Parity: `SECURITY_PHONE_REGION_DEFAULT`.
        pub phone_region_default: String = "US".into(),
        /// Parity: `SECURITY_SEND_REGISTER_EMAIL`.
        pub send_register_email: bool = true,
        /// Parity: `SECURITY_SEND_PASSWORD_CHANGE_EMAIL`.
        pub send_password_change_email: bool = true,
        /// Parity: `SECURITY_SEND_PASSWORD_RESET_EMAIL`.
        pub send_password_reset_email: bool = true,
        /// Parity: `SECURITY_SEND_PASSWORD_RESET_NOTICE_EMAIL`.
        pub send_password_reset_notice_email: bool = true,
        /// Parity: `SECURITY_SEND_USERNAME_CHANGE_EMAIL`.
        pub send_username_change_email: bool = true,
        /// Parity: `SECURITY_EMAIL_SENDER`.
        pub email_sender: String = "no-reply@localhost".into(),
        /// Parity: `SECURITY_EMAIL_PLAINTEXT`.
        pub email_plaintext: bool = true,
        /// Parity: `SECURITY_EMAIL_HTML`.
        pub email_html: bool = true,
        /// Parity: `SECURITY_EMAIL_SUBJECT_REGISTER`.
        pub email_subject_register: String = "Welcome".into(),
        /// Parity: `SECURITY_EMAIL_SUBJECT_CONFIRM`.
        pub email_subject_confirm: String = "Please confirm your email".into(),
        /// Parity: `SECURITY_EMAIL_SUBJECT_PASSWORD_NOTICE`.
        pub email_subject_password_notice: String = "Your password has been reset".into(),
        /// Parity: `SECURITY_EMAIL_SUBJECT_PASSWORD_CHANGE_NOTICE`.
        pub email_subject_password_change_notice: String = "Your password has been changed".into(),
        /// Parity: `SECURITY_EMAIL_SUBJECT_PASSWORD_RESET`.
        pub email_subject_password_reset: String = "Password reset instructions".into(),
        /// Parity: `SECURITY_EMAIL_SUBJECT_USERNAME_CHANGE_NOTICE`.
        pub email_subject_username_change_notice: String = "Your username has been changed".into(),
        /// Parity: `SECURITY_EMAIL_SUBJECT_USERNAME_RECOVERY`.
        pub email_subject_username_recovery: String = "Your requested username".into(),
        /// Parity: `SECURITY_CHANGE_EMAIL_SUBJECT`.
        pub change_email_subject: String = "Confirm your new email address".into(),
        /// Parity: `SECURITY_CONFIRM_EMAIL_WITHIN` (seconds).
        pub confirm_email_within: u64 = 2 * 24 * 3600,
        /// Parity: `SECURITY_RESET_PASSWORD_WITHIN` (seconds).
        pub reset_password_within: u64 = 24 * 3600,
        /// Parity: `SECURITY_CHANGE_EMAIL_WITHIN` (seconds).
        pub change_email_within: u64 = 2 * 3600,
        /// Parity: `SECURITY_CONFIRM_SALT`.
        pub confirm_salt: String = "confirm-salt".into(),
        /// Parity: `SECURITY_RESET_SALT`.
        pub reset_salt: String = "reset-salt".into(),
        /// Parity: `SECURITY_CHANGE_EMAIL_SALT`.
        pub change_email_salt: String = "change-email-salt".into(),
        /// Parity: `SECURITY_REGISTER_URL`.
        pub register_url: String = "/register".into(),
        /// Parity: `SECURITY_RESET_URL`.
        pub reset_url: String = "/reset".into(),
        /// Parity: `SECURITY_CHANGE_URL`.
        pub change_url: String = "/change".into(),
        /// Parity: `SECURITY_CONFIRM_URL`.
        pub confirm_url: String = "/confirm".into(),
        /// Parity: `SECURITY_CHANGE_EMAIL_URL`.
        pub change_email_url: String = "/change-email".into(),
        /// Parity: `SECURITY_CHANGE_USERNAME_URL`.
        pub change_username_url: String = "/change-username".into(),
        /// Parity: `SECURITY_USERNAME_RECOVERY_URL`.
        pub username_recovery_url: String = "/recover-username".into(),
        /// Parity: `SECURITY_REDIRECT_BEHAVIOR` (`"spa"` or unset).
        pub redirect_behavior: RedirectBehavior = RedirectBehavior::Server,
        /// Parity: `SECURITY_POST_REGISTER_VIEW`.
        pub post_register_view: Option<String> = None,
        /// Parity: `SECURITY_POST_CONFIRM_VIEW`.
        pub post_confirm_view: Option<String> = None,
        /// Parity: `SECURITY_CONFIRM_ERROR_VIEW`.
        pub confirm_error_view: Option<String> = None,
        /// Parity: `SECURITY_RESET_VIEW`.
        pub reset_view: Option<String> = None,
        /// Parity: `SECURITY_RESET_ERROR_VIEW`.
        pub reset_error_view: Option<String> = None,
        /// Parity: `SECURITY_POST_RESET_VIEW`.
        pub post_reset_view: Option<String> = None,
        /// Parity: `SECURITY_POST_CHANGE_VIEW`.
        pub post_change_view: Option<String> = None,
        /// Parity: `SECURITY_POST_CHANGE_EMAIL_VIEW`.
        pub post_change_email_view: Option<String> = None,
        /// Parity: `SECURITY_CHANGE_EMAIL_ERROR_VIEW`.
        pub change_email_error_view: Option<String> = None,
        /// Parity: `SECURITY_POST_CHANGE_USERNAME_VIEW`.
        pub post_change_username_view: Option<String> = None,
        /// Parity: `SECURITY_REQUIRES_CONFIRMATION_ERROR_VIEW`.
        pub requires_confirmation_error_view: Option<String> = None,
        /// Base URL for links in mail (`https://app.example.com`); never taken from the request.
        pub external_url: Option<String> = None,
        /// SMTP host (Flask-Mail `MAIL_SERVER`); unset = mail written to the log.
        pub mail_server: Option<String> = None,
        /// SMTP port (`MAIL_PORT`).
        pub mail_port: u16 = 25,
        /// `"none"`, `"starttls"` or `"tls"` (`MAIL_USE_TLS` / `MAIL_USE_SSL`).
        pub mail_security: String = "none".into(),
        /// SMTP user (`MAIL_USERNAME`).
        pub mail_username: Option<String> = None,
        /// SMTP password (`MAIL_PASSWORD`).
        pub mail_password: Option<String> = None,
        /// SMTP timeout in seconds.
        pub mail_timeout: u64 = 10,
        /// Send mail from a background queue instead of inside the request, so an answer
        /// takes the same time whether a mail went out or not and a slow SMTP server never
        /// delays it; a failed send is retried and logged, never reported to the client.
        /// Unset: on exactly when `return_generic_responses` is. Beyond Flask-Security.
        pub mail_queue: Option<bool> = None,
        /// With `return_generic_responses`, the fewest milliseconds `/reset`, `/confirm`,
        /// `/recover-username`, `/register` and `/change-email` take to answer a POST, so
        /// that what is left of the difference between a registered and an unknown
        /// identity (reading the found row) does not show in the answer's timing; 0: off.
        /// Beyond Flask-Security.
        pub generic_response_floor_ms: u64 = 10,
        /// Tries per queued mail before it is given up (and logged).
        pub mail_queue_tries: u32 = 5,
        /// Milliseconds before the first retry of a queued mail; doubled for each next one.
        pub mail_queue_retry_ms: u64 = 2000,
        /// Folder with `security/email/*.txt|html` overrides.
        pub mail_templates_dir: Option<String> = None,
        /// What to do at launch when routes name roles or permissions the datastore lacks:
        /// `"warn"` or `"refuse"`.
        pub undeclared_roles: UndeclaredRoles = UndeclaredRoles::Warn,
        /// Apply the shipped schema migrations at launch (default). When `false`, launch
        /// is refused while any is pending: run `security-cli db upgrade` first.
        pub migrate_on_launch: bool = true,
        /// Folder whose `security/<name>.html` files replace the built-in pages of the same
        /// name (an application's templates folder, as Flask's template search).
        pub templates_dir: Option<String> = None,
        /// Where translations come from, in order: `"builtin"` (this crate's catalogs) and
        /// folders holding `<locale>/LC_MESSAGES/*.po` (gettext PO files, such as an
        /// application's Flask-Security catalogs). Earlier entries win.
        ///
        /// Parity: `SECURITY_I18N_DIRNAME`.
        pub i18n_dirname: Vec<String> = vec!["builtin".into()],
        /// The locale when nothing else chooses one (Flask-Babel's `BABEL_DEFAULT_LOCALE`).
        pub default_locale: String = "en".into(),
        /// Choose the locale from the request's `Accept-Language` when the application's
        /// locale hook does not (off by default: every answer in `default_locale`).
        pub i18n_negotiate: bool = false,
        /// Replacement texts for messages, by Flask-Security name:
        /// `[security.messages] INVALID_PASSWORD = "Wrong password"` (or `["text", "error"]`,
        /// Flask-Security's tuple). The replacement is translated like the original.
        ///
        /// Parity: `SECURITY_MSG_<NAME>`.
        pub messages: std::collections::BTreeMap<String, MessageOverride> = std::collections::BTreeMap::new(),
        /// Parity: `SECURITY_TWO_FACTOR`: the second factor after the password.
        pub two_factor: bool = false,
        /// Parity: `SECURITY_TWO_FACTOR_REQUIRED`: every user must set one up.
        pub two_factor_required: bool = false,
        /// Parity: `SECURITY_TWO_FACTOR_ENABLED_METHODS` (`email`, `authenticator`, `sms`).
        pub two_factor_enabled_methods: Vec<String> = vec!["email".into(), "authenticator".into(), "sms".into()],
        /// Parity: `SECURITY_TWO_FACTOR_AUTHENTICATOR_VALIDITY`: ± seconds an authenticator
        /// code is accepted.
        pub two_factor_authenticator_validity: u64 = 120,
        /// Parity: `SECURITY_TWO_FACTOR_MAIL_VALIDITY`: ± seconds an emailed code is accepted.
        pub two_factor_mail_validity: u64 = 300,
        /// Parity: `SECURITY_TWO_FACTOR_SMS_VALIDITY`: ± seconds a texted code is accepted.
        pub two_factor_sms_validity: u64 = 120,
        /// Parity: `SECURITY_TWO_FACTOR_ALWAYS_VALIDATE`: off lets a remembered browser skip
        /// the second factor for `two_factor_login_validity`.
        pub two_factor_always_validate: bool = true,
        /// Parity: `SECURITY_TWO_FACTOR_LOGIN_VALIDITY` (seconds; 30 days).
        pub two_factor_login_validity: i64 = 30 * 24 * 3600,
        /// Parity: `SECURITY_TWO_FACTOR_VALIDITY_COOKIE_NAME`.
        pub two_factor_validity_cookie_name: String = "tf_validity".into(),
        /// Parity: `SECURITY_TWO_FACTOR_VALIDITY_SALT`.
        pub two_factor_validity_salt: String = "tf-validity-salt".into(),
        /// Parity: `SECURITY_TWO_FACTOR_SETUP_SALT`.
        pub two_factor_setup_salt: String = "tf-setup-salt".into(),
        /// Parity: `SECURITY_TWO_FACTOR_SETUP_WITHIN` (seconds).
        pub two_factor_setup_within: i64 = 1800,
        /// Parity: `SECURITY_TWO_FACTOR_RESCUE_EMAIL`: `/tf-rescue` offers a code by mail.
        pub two_factor_rescue_email: bool = true,
        /// Parity: `SECURITY_TWO_FACTOR_RESCUE_MAIL`: where help requests go.
        pub two_factor_rescue_mail: String = "no-reply@localhost".into(),
        /// Parity: `SECURITY_TWO_FACTOR_POST_SETUP_VIEW` (default: the setup page).
        pub two_factor_post_setup_view: Option<String> = None,
        /// Parity: `SECURITY_TWO_FACTOR_ERROR_VIEW` (default: the login page).
        pub two_factor_error_view: Option<String> = None,
        /// Parity: `SECURITY_TWO_FACTOR_SETUP_URL`.
        pub two_factor_setup_url: String = "/tf-setup".into(),
        /// Parity: `SECURITY_TWO_FACTOR_TOKEN_VALIDATION_URL`.
        pub two_factor_token_validation_url: String = "/tf-validate".into(),
        /// Parity: `SECURITY_TWO_FACTOR_RESCUE_URL`.
        pub two_factor_rescue_url: String = "/tf-rescue".into(),
        /// Parity: `SECURITY_TWO_FACTOR_SELECT_URL`.
        pub two_factor_select_url: String = "/tf-select".into(),
        /// Wrong codes after which a partial sign-in is voided (the user starts again from
        /// the password). Beyond Flask-Security.
        pub two_factor_max_code_failures: u32 = 10,
        /// Parity: `SECURITY_EMAIL_SUBJECT_TWO_FACTOR`.
        pub email_subject_two_factor: String = "Two-Factor Login".into(),
        /// Parity: `SECURITY_EMAIL_SUBJECT_TWO_FACTOR_RESCUE`.
        pub email_subject_two_factor_rescue: String = "Two-Factor Rescue".into(),
        /// Subject of the notice that a recovery code was used. Beyond Flask-Security.
        pub email_subject_recovery_code_used: String = "A recovery code was used".into(),
        /// Subject of the notice that two-factor was turned off. Beyond Flask-Security.
        pub email_subject_two_factor_disabled: String = "Two-factor sign-in turned off".into(),
        /// Parity: `SECURITY_TOTP_SECRETS`: tag → secret that encrypts stored TOTP secrets;
        /// the newest (numerically largest) tag encrypts, every tag decrypts.
        pub totp_secrets: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new(),
        /// Parity: `SECURITY_TOTP_ISSUER`: the name authenticator apps show.
        pub totp_issuer: Option<String> = None,
        /// Parity: `SECURITY_SMS_SERVICE`: `Dummy` (development) or `Twilio`.
        pub sms_service: String = "Dummy".into(),
        /// Parity: `SECURITY_SMS_SERVICE_CONFIG` (`ACCOUNT_SID`, `AUTH_TOKEN`,
        /// `PHONE_NUMBER`; `BASE_URL` overrides Twilio's address).
        pub sms_service_config: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new(),
        /// Parity: `SECURITY_MULTI_FACTOR_RECOVERY_CODES`.
        pub multi_factor_recovery_codes: bool = false,
        /// Parity: `SECURITY_MULTI_FACTOR_RECOVERY_CODES_N`.
        pub multi_factor_recovery_codes_n: usize = 5,
        /// Parity: `SECURITY_MULTI_FACTOR_RECOVERY_CODES_URL`.
        pub multi_factor_recovery_codes_url: String = "/mf-recovery-codes".into(),
        /// Parity: `SECURITY_MULTI_FACTOR_RECOVERY_URL`.
        pub multi_factor_recovery_url: String = "/mf-recovery".into(),
        /// Parity: `SECURITY_MULTI_FACTOR_RECOVERY_CODES_KEYS`: Fernet keys that encrypt
        /// stored codes (first encrypts, all decrypt); empty stores them in the clear.
        pub multi_factor_recovery_codes_keys: Vec<String> = Vec::new(),
        /// Parity: `SECURITY_MULTI_FACTOR_RECOVERY_CODE_TTL` (seconds; encrypted codes only).
        pub multi_factor_recovery_code_ttl: Option<u64> = None,
        /// Parity: `SECURITY_POST_VERIFY_VIEW` (default: `post_login_view`).
        pub post_verify_view: Option<String> = None,
    }
}

/// A `[security.messages]` entry: a text, or Flask-Security's `(text, category)`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum MessageOverride {
    /// The text alone; the category stays the default one.
    Text(String),
    /// Text and category (`error`, `info`, `success`).
    WithCategory(String, String),
}

impl MessageOverride {
    /// The replacement text.
    pub fn text(&self) -> &str {
        match self {
            MessageOverride::Text(t) | MessageOverride::WithCategory(t, _) => t,
        }
    }
}

/// Secret keys that must never be used outside debug builds.
const KNOWN_BAD_SECRETS: &[&str] = &[
    "",
    "secret",
    "changeme",
    "change-me",
    "super-secret",
    "dev",
    "development",
];

impl SecurityConfig {
    /// Reads the `security` table of a Rocket figment, with defaults for absent keys.
    pub fn from_figment(figment: &rocket::figment::Figment) -> Result<Self, String> {
        match figment.find_value("security") {
            Ok(_) => figment
                .extract_inner::<SecurityConfig>("security")
                .map_err(|e| format!("`security` configuration: {e}")),
            Err(_) => Ok(SecurityConfig::default()),
        }
    }

    /// Mail goes through the background queue, and work done only for a known identity
    /// (issuing and mailing a link) runs after the answer: `mail_queue`, which follows
    /// `return_generic_responses` when unset.
    pub fn mail_queued(&self) -> bool {
        self.mail_queue.unwrap_or(self.return_generic_responses)
    }

    /// The password-hashing part of the configuration.
    pub fn hashing(&self) -> HashingConfig {
        HashingConfig {
            password_hash: self.password_hash.clone(),
            password_schemes: self.password_schemes.clone(),
            password_salt: self.password_salt.clone(),
            password_single_hash: self.password_single_hash.clone(),
            password_normalize_form: self.password_normalize_form.clone(),
            argon2_memory_cost: self.argon2_memory_cost,
            argon2_time_cost: self.argon2_time_cost,
            argon2_parallelism: self.argon2_parallelism,
            bcrypt_rounds: self.bcrypt_rounds,
        }
    }

    /// The identity attributes in force: `user_identity_attributes`, plus `username`
    /// when `username_enable` is on (as Flask-Security appends it).
    pub fn identity_attributes(&self) -> Vec<String> {
        let mut v = self.user_identity_attributes.clone();
        if self.username_enable && !v.iter().any(|a| a == "username") {
            v.push("username".into());
        }
        v
    }

    /// The mechanisms whose unsafe requests need a CSRF token (`csrf_protect_mechanisms`).
    pub fn csrf_mechanisms(&self) -> &[Mechanism] {
        &self.csrf_protect_mechanisms
    }

    fn validate_sessions(&self) -> Result<(), String> {
        for (key, v) in [
            ("session_idle_timeout", self.session_idle_timeout),
            ("session_lifetime", self.session_lifetime),
            ("remember_cookie_duration", self.remember_cookie_duration),
        ] {
            if v <= 0 {
                return Err(format!("`security.{key}` must be positive"));
            }
        }
        if self.session_touch_interval < 0
            || self.session_touch_interval >= self.session_idle_timeout
        {
            return Err(
                "`security.session_touch_interval` must be at least 0 and shorter than \
                 `session_idle_timeout`"
                    .into(),
            );
        }
        if self.remember_rotation_grace < 0 {
            return Err("`security.remember_rotation_grace` must be at least 0".into());
        }
        if self.session_store == SessionStoreKind::Redis && self.session_redis_url.is_none() {
            return Err("`security.session_store = \"redis\"` needs `session_redis_url`".into());
        }
        Ok(())
    }

    /// Checks the settings; the error names the offending key.
    ///
    /// `debug` relaxes the secret-key rule, as Rocket does for its own key.
    pub fn validate(&self, debug: bool) -> Result<(), String> {
        let bad_secret = |s: &str| {
            KNOWN_BAD_SECRETS.contains(&s.trim()) || s.bytes().all(|b| b == b'0' || b == 0)
        };
        match &self.secret_key {
            None if !debug => {
                return Err("`security.secret_key` must be set outside debug builds".into())
            }
            Some(k) if !debug && (bad_secret(k) || k.len() < 16) => {
                return Err(
                    "`security.secret_key` is empty, zero, a well-known default or shorter \
                     than 16 characters"
                        .into(),
                )
            }
            _ => {}
        }
        self.validate_sessions()?;
        if self.webauthn && !cfg!(feature = "webauthn") {
            return Err(
                "`security.webauthn` needs security-runtime's crate feature `webauthn`".into(),
            );
        }
        if self.wan_rp_id.is_some() && self.wan_origin.is_none() {
            return Err(
                "`security.wan_rp_id` needs `security.wan_origin`: an origin taken from the \
                 request's Host would let a page on another subdomain pass"
                    .into(),
            );
        }
        if self.oauth_enable {
            return Err(
                "`security.oauth_enable` is not available in this release of rocket-security; \
                 leave it off"
                    .into(),
            );
        }
        for a in &self.user_identity_attributes {
            if !matches!(a.as_str(), "email" | "username" | "us_phone_number") {
                return Err(format!(
                    "`security.user_identity_attributes` entry `{a}` is not supported; \
                     expected `email`, `username` or `us_phone_number`"
                ));
            }
        }
        if self.password_length_min == 0 || self.password_length_min > 128 {
            return Err("`security.password_length_min` must be between 1 and 128".into());
        }
        if self.max_concurrent_hashes == 0 {
            return Err("`security.max_concurrent_hashes` must be at least 1".into());
        }
        let salts = [
            ("remember_salt", &self.remember_salt),
            ("confirm_salt", &self.confirm_salt),
            ("reset_salt", &self.reset_salt),
            ("change_email_salt", &self.change_email_salt),
            ("two_factor_validity_salt", &self.two_factor_validity_salt),
            ("two_factor_setup_salt", &self.two_factor_setup_salt),
            ("us_setup_salt", &self.us_setup_salt),
            ("login_salt", &self.login_salt),
            ("wan_salt", &self.wan_salt),
        ];
        for (i, (k, v)) in salts.iter().enumerate() {
            if v.as_str() == "wtf-csrf-token" {
                return Err(format!("`security.{k}` must differ from the CSRF salt"));
            }
            if let Some((k2, _)) = salts[i + 1..].iter().find(|(_, v2)| v2 == v) {
                return Err(format!(
                    "`security.{k}` and `security.{k2}` must differ: a token of one purpose \
                     would be accepted for the other"
                ));
            }
        }
        if !matches!(
            self.password_check_breached.as_str(),
            "false" | "true" | "strict"
        ) {
            return Err(
                "`security.password_check_breached` must be `false`, `true` or `strict`".into(),
            );
        }
        if self.lockout_max_failures == 0 || self.lockout_max_failures > 100 {
            return Err("`security.lockout_max_failures` must be between 1 and 100".into());
        }
        self.validate_two_factor()?;
        self.validate_unified_signin()
    }

    /// The TOTP factory when two-factor or unified sign-in is on: `totp_secrets` and
    /// `totp_issuer` are then required (the error names the key).
    pub fn totp_factory(&self) -> Result<Option<crate::totp::TotpFactory>, String> {
        if !self.two_factor && !self.unified_signin {
            return Ok(None);
        }
        let issuer = self.totp_issuer.as_deref().unwrap_or("");
        crate::totp::TotpFactory::new(&self.totp_secrets, issuer).map(Some)
    }

    fn validate_two_factor(&self) -> Result<(), String> {
        if self.multi_factor_recovery_codes && !self.two_factor {
            return Err(
                "`security.multi_factor_recovery_codes` needs `security.two_factor`".into(),
            );
        }
        if !self.two_factor {
            return Ok(());
        }
        self.totp_factory()?;
        if self.two_factor_enabled_methods.is_empty() {
            return Err("`security.two_factor_enabled_methods` must name a method".into());
        }
        for m in &self.two_factor_enabled_methods {
            if !matches!(m.as_str(), "email" | "authenticator" | "sms") {
                return Err(format!(
                    "`security.two_factor_enabled_methods` entry `{m}` is not `email`, \
                     `authenticator` or `sms`"
                ));
            }
        }
        if self.two_factor_max_code_failures == 0 {
            return Err("`security.two_factor_max_code_failures` must be at least 1".into());
        }
        Ok(())
    }

    fn validate_unified_signin(&self) -> Result<(), String> {
        if !self.unified_signin {
            return Ok(());
        }
        self.totp_factory()?;
        if self.us_enabled_methods.is_empty() {
            return Err("`security.us_enabled_methods` must name a method".into());
        }
        for (key, list) in [
            ("us_enabled_methods", &self.us_enabled_methods),
            ("us_mfa_required", &self.us_mfa_required),
        ] {
            if let Some(m) = list
                .iter()
                .find(|m| !matches!(m.as_str(), "password" | "email" | "authenticator" | "sms"))
            {
                return Err(format!(
                    "`security.{key}` entry `{m}` is not `password`, `email`, \
                     `authenticator` or `sms`"
                ));
            }
        }
        if self.us_max_code_failures == 0 {
            return Err("`security.us_max_code_failures` must be at least 1".into());
        }
        if self.us_token_validity == 0 || self.us_token_validity > 600 {
            return Err("`security.us_token_validity` must be between 1 and 600 seconds".into());
        }
        Ok(())
    }

    /// True when a flow that sends mail is enabled.
    pub fn sends_mail(&self) -> bool {
        self.registerable
            || self.confirmable
            || self.recoverable
            || self.changeable
            || self.change_email
            || self.change_username
            || self.username_recovery
            || self.two_factor
            || self.unified_signin
            || self.passwordless
    }

    /// The full URL of a security endpoint (prefix + path).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.url_prefix.trim_end_matches('/'), path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_secrets() {
        let cfg = SecurityConfig {
            secret_key: Some("s3cr3t-key-value".into()),
            secret_key_fallbacks: vec!["old-k3y-value".into()],
            password_salt: Some("salty-s4lt".into()),
            mail_password: Some("m4il-pw".into()),
            ..SecurityConfig::default()
        };
        let out = format!("{cfg:?}");
        for secret in ["s3cr3t-key-value", "old-k3y-value", "salty-s4lt", "m4il-pw"] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        assert!(out.contains("secret_key: \"***\""), "{out}");
        assert!(out.contains("login_url: \"/login\""), "{out}");
    }

    #[test]
    fn a_fixed_rp_id_needs_a_fixed_origin() {
        let cfg = SecurityConfig {
            wan_rp_id: Some("example.com".into()),
            ..SecurityConfig::default()
        };
        let e = cfg.validate(true).unwrap_err();
        assert!(e.contains("wan_origin"), "{e}");
        let cfg = SecurityConfig {
            wan_origin: Some("https://example.com".into()),
            ..cfg
        };
        assert_eq!(cfg.validate(true), Ok(()));
    }
}
