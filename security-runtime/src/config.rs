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

/// The `[security]` configuration table.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SecurityConfig {
    /// Flask's `SECRET_KEY`: signs tokens. Required outside debug builds.
    pub secret_key: Option<String>,
    /// Parity: `SECRET_KEY_FALLBACKS`; verify-only older keys.
    pub secret_key_fallbacks: Vec<String>,
    /// Parity: `SECURITY_PASSWORD_HASH`.
    pub password_hash: String,
    /// Parity: `SECURITY_PASSWORD_SCHEMES`.
    pub password_schemes: Vec<String>,
    /// Parity: `SECURITY_PASSWORD_SALT`; required for double hashing.
    pub password_salt: Option<String>,
    /// Parity: `SECURITY_PASSWORD_SINGLE_HASH`.
    pub password_single_hash: Vec<String>,
    /// Parity: `SECURITY_PASSWORD_NORMALIZE_FORM`.
    pub password_normalize_form: String,
    /// Parity: `SECURITY_PASSWORD_LENGTH_MIN`.
    pub password_length_min: usize,
    /// Parity: `SECURITY_PASSWORD_HASH_PASSLIB_OPTIONS` `argon2__memory_cost` (KiB).
    pub argon2_memory_cost: u32,
    /// Parity: `argon2__time_cost`.
    pub argon2_time_cost: u32,
    /// Parity: `argon2__parallelism`.
    pub argon2_parallelism: u32,
    /// Parity: `bcrypt__rounds`.
    pub bcrypt_rounds: u32,
    /// Maximum concurrent password hashes; excess requests wait.
    pub max_concurrent_hashes: usize,

    /// Parity: `SECURITY_USER_IDENTITY_ATTRIBUTES` (attribute names, looked up
    /// case-insensitively as Flask-Security's defaults do).
    pub user_identity_attributes: Vec<String>,
    /// Parity: `SECURITY_USERNAME_ENABLE`.
    pub username_enable: bool,
    /// Parity: `SECURITY_TRACKABLE`.
    pub trackable: bool,
    /// Parity: `SECURITY_CONFIRMABLE`.
    pub confirmable: bool,
    /// Parity: `SECURITY_LOGIN_WITHOUT_CONFIRMATION`.
    pub login_without_confirmation: bool,
    /// Parity: `SECURITY_RETURN_GENERIC_RESPONSES`.
    pub return_generic_responses: bool,
    /// Parity: `SECURITY_FLASH_MESSAGES`. Form flows flash their outcome through Rocket's
    /// flash cookie (read it with `rocket::request::FlashMessage`).
    pub flash_messages: bool,
    /// Parity: Flask-Login `LOGIN_DISABLED`: `login_required` lets everyone in.
    pub login_disabled: bool,

    /// Parity: `SECURITY_TOKEN_AUTHENTICATION_KEY`.
    pub token_authentication_key: String,
    /// Parity: `SECURITY_TOKEN_AUTHENTICATION_HEADER`.
    pub token_authentication_header: String,
    /// Parity: `SECURITY_TOKEN_MAX_AGE` (seconds).
    pub token_max_age: u64,
    /// Parity: `SECURITY_BACKWARDS_COMPAT_AUTH_TOKEN`.
    pub backwards_compat_auth_token: bool,
    /// Parity: `SECURITY_REMEMBER_SALT`.
    pub remember_salt: String,
    /// Parity: `SECURITY_API_ENABLED_METHODS`.
    pub api_enabled_methods: Vec<Mechanism>,
    /// Parity: `SECURITY_DEFAULT_REMEMBER_ME`.
    pub default_remember_me: bool,
    /// Parity: `SECURITY_DEFAULT_HTTP_AUTH_REALM`.
    pub default_http_auth_realm: String,

    /// Parity: `SECURITY_FRESHNESS` (seconds; negative disables).
    pub freshness: i64,
    /// Parity: `SECURITY_FRESHNESS_GRACE_PERIOD` (seconds).
    pub freshness_grace_period: i64,
    /// Parity: `SECURITY_FRESHNESS_ALLOW_AUTH_TOKEN`.
    pub freshness_allow_auth_token: bool,

    /// Parity: `WTF_CSRF_ENABLED`.
    pub csrf_enabled: bool,
    /// Parity: `WTF_CSRF_TIME_LIMIT` (seconds).
    pub csrf_time_limit: u64,
    /// Parity: `SECURITY_CSRF_PROTECT_MECHANISMS`.
    pub csrf_protect_mechanisms: Vec<Mechanism>,
    /// Parity: `SECURITY_CSRF_IGNORE_UNAUTH_ENDPOINTS`.
    pub csrf_ignore_unauth_endpoints: bool,
    /// Parity: `SECURITY_CSRF_COOKIE_NAME` (unset = no CSRF cookie).
    pub csrf_cookie_name: Option<String>,
    /// Parity: `SECURITY_CSRF_COOKIE`.
    pub csrf_cookie: CookieConfig,
    /// Parity: `SECURITY_CSRF_HEADER`.
    pub csrf_header: String,
    /// Parity: `SECURITY_CSRF_COOKIE_REFRESH_EACH_REQUEST`.
    pub csrf_cookie_refresh_each_request: bool,

    /// Parity: `SESSION_COOKIE_NAME`.
    pub session_cookie_name: String,
    /// Parity: `SESSION_COOKIE_SECURE` (on by default here).
    pub session_cookie_secure: bool,
    /// Parity: `SESSION_COOKIE_SAMESITE`.
    pub session_cookie_samesite: SameSitePolicy,
    /// Parity: `REMEMBER_COOKIE_NAME`.
    pub remember_cookie_name: String,
    /// Parity: `REMEMBER_COOKIE_DURATION` (seconds, default 365 days).
    pub remember_cookie_duration: i64,

    /// Parity: `SECURITY_URL_PREFIX`.
    pub url_prefix: String,
    /// Parity: `SECURITY_LOGIN_URL`.
    pub login_url: String,
    /// Parity: `SECURITY_LOGOUT_URL`.
    pub logout_url: String,
    /// Parity: `SECURITY_LOGOUT_CSRF`: logout requires a CSRF token.
    pub logout_csrf: bool,
    /// Parity: `SECURITY_LOGOUT_METHODS` (empty disables the route).
    pub logout_methods: Vec<String>,
    /// Parity: `SECURITY_VERIFY_URL`.
    pub verify_url: String,
    /// Parity: `SECURITY_POST_LOGIN_VIEW`.
    pub post_login_view: String,
    /// Parity: `SECURITY_POST_LOGOUT_VIEW`.
    pub post_logout_view: String,
    /// Parity: `SECURITY_UNAUTHORIZED_VIEW`.
    pub unauthorized_view: Option<String>,
    /// Parity: `SECURITY_REDIRECT_HOST`.
    pub redirect_host: Option<String>,
    /// Parity: `SECURITY_REDIRECT_ALLOW_SUBDOMAINS`.
    pub redirect_allow_subdomains: bool,
    /// Parity: Flask `SERVER_NAME`, used by subdomain redirect checks.
    pub server_name: Option<String>,
    /// Parity: `SECURITY_REDIRECT_BASE_DOMAIN`.
    pub redirect_base_domain: Option<String>,
    /// Parity: `SECURITY_REDIRECT_ALLOWED_SUBDOMAINS`.
    pub redirect_allowed_subdomains: Vec<String>,
    /// Parity: `SECURITY_CACHE_CONTROL` as a header value.
    pub cache_control: String,
    /// Parity: `SECURITY_REGISTERABLE`.
    pub registerable: bool,
    /// Parity: `SECURITY_RECOVERABLE`.
    pub recoverable: bool,
    /// Parity: `SECURITY_CHANGEABLE`.
    pub changeable: bool,
    /// Parity: `SECURITY_CHANGE_EMAIL`.
    pub change_email: bool,
    /// Parity: `SECURITY_CHANGE_USERNAME`.
    pub change_username: bool,
    /// Parity: `SECURITY_USERNAME_RECOVERY`.
    pub username_recovery: bool,
    /// Parity: `SECURITY_USERNAME_REQUIRED`.
    pub username_required: bool,
    /// Parity: `SECURITY_USERNAME_MIN_LENGTH`.
    pub username_min_length: usize,
    /// Parity: `SECURITY_USERNAME_MAX_LENGTH`.
    pub username_max_length: usize,
    /// Parity: `SECURITY_AUTO_LOGIN_AFTER_CONFIRM`.
    pub auto_login_after_confirm: bool,
    /// Parity: `SECURITY_PASSWORD_CONFIRM_REQUIRED`.
    pub password_confirm_required: bool,
    /// Parity: `SECURITY_PASSWORD_REQUIRED`.
    pub password_required: bool,
    /// Parity: `SECURITY_PASSWORD_COMPLEXITY_CHECKER` (`"zxcvbn"` or unset).
    pub password_complexity_checker: Option<String>,
    /// Parity: `SECURITY_ZXCVBN_MINIMUM_SCORE`.
    pub zxcvbn_minimum_score: u8,
    /// Parity: `SECURITY_PASSWORD_CHECK_BREACHED`: `"false"`, `"true"` or `"strict"`.
    pub password_check_breached: String,
    /// Parity: `SECURITY_PASSWORD_BREACHED_COUNT`.
    pub password_breached_count: u64,
    /// Base URL of the k-anonymity range API (HIBP's by default).
    pub password_breached_url: String,
    /// Parity: `SECURITY_PHONE_REGION_DEFAULT`.
    pub phone_region_default: String,
    /// Parity: `SECURITY_SEND_REGISTER_EMAIL`.
    pub send_register_email: bool,
    /// Parity: `SECURITY_SEND_PASSWORD_CHANGE_EMAIL`.
    pub send_password_change_email: bool,
    /// Parity: `SECURITY_SEND_PASSWORD_RESET_EMAIL`.
    pub send_password_reset_email: bool,
    /// Parity: `SECURITY_SEND_PASSWORD_RESET_NOTICE_EMAIL`.
    pub send_password_reset_notice_email: bool,
    /// Parity: `SECURITY_SEND_USERNAME_CHANGE_EMAIL`.
    pub send_username_change_email: bool,
    /// Parity: `SECURITY_EMAIL_SENDER`.
    pub email_sender: String,
    /// Parity: `SECURITY_EMAIL_PLAINTEXT`.
    pub email_plaintext: bool,
    /// Parity: `SECURITY_EMAIL_HTML`.
    pub email_html: bool,
    /// Parity: `SECURITY_EMAIL_SUBJECT_REGISTER`.
    pub email_subject_register: String,
    /// Parity: `SECURITY_EMAIL_SUBJECT_CONFIRM`.
    pub email_subject_confirm: String,
    /// Parity: `SECURITY_EMAIL_SUBJECT_PASSWORD_NOTICE`.
    pub email_subject_password_notice: String,
    /// Parity: `SECURITY_EMAIL_SUBJECT_PASSWORD_CHANGE_NOTICE`.
    pub email_subject_password_change_notice: String,
    /// Parity: `SECURITY_EMAIL_SUBJECT_PASSWORD_RESET`.
    pub email_subject_password_reset: String,
    /// Parity: `SECURITY_EMAIL_SUBJECT_USERNAME_CHANGE_NOTICE`.
    pub email_subject_username_change_notice: String,
    /// Parity: `SECURITY_EMAIL_SUBJECT_USERNAME_RECOVERY`.
    pub email_subject_username_recovery: String,
    /// Parity: `SECURITY_CHANGE_EMAIL_SUBJECT`.
    pub change_email_subject: String,
    /// Parity: `SECURITY_CONFIRM_EMAIL_WITHIN` (seconds).
    pub confirm_email_within: u64,
    /// Parity: `SECURITY_RESET_PASSWORD_WITHIN` (seconds).
    pub reset_password_within: u64,
    /// Parity: `SECURITY_CHANGE_EMAIL_WITHIN` (seconds).
    pub change_email_within: u64,
    /// Parity: `SECURITY_CONFIRM_SALT`.
    pub confirm_salt: String,
    /// Parity: `SECURITY_RESET_SALT`.
    pub reset_salt: String,
    /// Parity: `SECURITY_CHANGE_EMAIL_SALT`.
    pub change_email_salt: String,
    /// Parity: `SECURITY_REGISTER_URL`.
    pub register_url: String,
    /// Parity: `SECURITY_RESET_URL`.
    pub reset_url: String,
    /// Parity: `SECURITY_CHANGE_URL`.
    pub change_url: String,
    /// Parity: `SECURITY_CONFIRM_URL`.
    pub confirm_url: String,
    /// Parity: `SECURITY_CHANGE_EMAIL_URL`.
    pub change_email_url: String,
    /// Parity: `SECURITY_CHANGE_USERNAME_URL`.
    pub change_username_url: String,
    /// Parity: `SECURITY_USERNAME_RECOVERY_URL`.
    pub username_recovery_url: String,
    /// Parity: `SECURITY_REDIRECT_BEHAVIOR` (`"spa"` or unset).
    pub redirect_behavior: RedirectBehavior,
    /// Parity: `SECURITY_POST_REGISTER_VIEW`.
    pub post_register_view: Option<String>,
    /// Parity: `SECURITY_POST_CONFIRM_VIEW`.
    pub post_confirm_view: Option<String>,
    /// Parity: `SECURITY_CONFIRM_ERROR_VIEW`.
    pub confirm_error_view: Option<String>,
    /// Parity: `SECURITY_RESET_VIEW`.
    pub reset_view: Option<String>,
    /// Parity: `SECURITY_RESET_ERROR_VIEW`.
    pub reset_error_view: Option<String>,
    /// Parity: `SECURITY_POST_RESET_VIEW`.
    pub post_reset_view: Option<String>,
    /// Parity: `SECURITY_POST_CHANGE_VIEW`.
    pub post_change_view: Option<String>,
    /// Parity: `SECURITY_POST_CHANGE_EMAIL_VIEW`.
    pub post_change_email_view: Option<String>,
    /// Parity: `SECURITY_CHANGE_EMAIL_ERROR_VIEW`.
    pub change_email_error_view: Option<String>,
    /// Parity: `SECURITY_POST_CHANGE_USERNAME_VIEW`.
    pub post_change_username_view: Option<String>,
    /// Parity: `SECURITY_REQUIRES_CONFIRMATION_ERROR_VIEW`.
    pub requires_confirmation_error_view: Option<String>,
    /// Base URL for links in mail (`https://app.example.com`); never taken from the request.
    pub external_url: Option<String>,
    /// SMTP host (Flask-Mail `MAIL_SERVER`); unset = mail written to the log.
    pub mail_server: Option<String>,
    /// SMTP port (`MAIL_PORT`).
    pub mail_port: u16,
    /// `"none"`, `"starttls"` or `"tls"` (`MAIL_USE_TLS` / `MAIL_USE_SSL`).
    pub mail_security: String,
    /// SMTP user (`MAIL_USERNAME`).
    pub mail_username: Option<String>,
    /// SMTP password (`MAIL_PASSWORD`).
    pub mail_password: Option<String>,
    /// SMTP timeout in seconds.
    pub mail_timeout: u64,
    /// Folder with `security/email/*.txt|html` overrides.
    pub mail_templates_dir: Option<String>,
    /// What to do at launch when routes name roles or permissions the datastore lacks:
    /// `"warn"` or `"refuse"`.
    pub undeclared_roles: UndeclaredRoles,
    /// Apply the shipped schema migrations at launch (default). When `false`, launch
    /// is refused while any is pending: run `security-cli db upgrade` first.
    pub migrate_on_launch: bool,
    /// Folder whose `security/<name>.html` files replace the built-in pages of the same
    /// name (an application's templates folder, as Flask's template search).
    pub templates_dir: Option<String>,
    /// Where translations come from, in order: `"builtin"` (this crate's catalogs) and
    /// folders holding `<locale>/LC_MESSAGES/*.po` (gettext PO files, such as an
    /// application's Flask-Security catalogs). Earlier entries win.
    ///
    /// Parity: `SECURITY_I18N_DIRNAME`.
    pub i18n_dirname: Vec<String>,
    /// The locale when nothing else chooses one (Flask-Babel's `BABEL_DEFAULT_LOCALE`).
    pub default_locale: String,
    /// Choose the locale from the request's `Accept-Language` when the application's
    /// locale hook does not (off by default: every answer in `default_locale`).
    pub i18n_negotiate: bool,
    /// Replacement texts for messages, by Flask-Security name:
    /// `[security.messages] INVALID_PASSWORD = "Wrong password"` (or `["text", "error"]`,
    /// Flask-Security's tuple). The replacement is translated like the original.
    ///
    /// Parity: `SECURITY_MSG_<NAME>`.
    pub messages: std::collections::BTreeMap<String, MessageOverride>,
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

impl Default for SecurityConfig {
    fn default() -> Self {
        let h = HashingConfig::default();
        SecurityConfig {
            secret_key: None,
            secret_key_fallbacks: Vec::new(),
            password_hash: h.password_hash,
            password_schemes: h.password_schemes,
            password_salt: None,
            password_single_hash: h.password_single_hash,
            password_normalize_form: h.password_normalize_form,
            password_length_min: 8,
            argon2_memory_cost: h.argon2_memory_cost,
            argon2_time_cost: h.argon2_time_cost,
            argon2_parallelism: h.argon2_parallelism,
            bcrypt_rounds: h.bcrypt_rounds,
            max_concurrent_hashes: 4,
            user_identity_attributes: vec!["email".into()],
            username_enable: false,
            trackable: false,
            confirmable: false,
            login_without_confirmation: false,
            return_generic_responses: false,
            flash_messages: true,
            login_disabled: false,
            token_authentication_key: "auth_token".into(),
            token_authentication_header: "Authentication-Token".into(),
            token_max_age: 15 * 60,
            backwards_compat_auth_token: false,
            remember_salt: "remember-salt".into(),
            api_enabled_methods: vec![Mechanism::Session, Mechanism::Token],
            default_remember_me: false,
            default_http_auth_realm: "Login Required".into(),
            freshness: 24 * 3600,
            freshness_grace_period: 3600,
            freshness_allow_auth_token: true,
            csrf_enabled: true,
            csrf_time_limit: 3600,
            csrf_protect_mechanisms: vec![Mechanism::Basic, Mechanism::Session, Mechanism::Token],
            csrf_ignore_unauth_endpoints: false,
            csrf_cookie_name: None,
            csrf_cookie: CookieConfig::default(),
            csrf_header: "X-XSRF-Token".into(),
            csrf_cookie_refresh_each_request: false,
            session_cookie_name: "session".into(),
            session_cookie_secure: true,
            session_cookie_samesite: SameSitePolicy::Lax,
            remember_cookie_name: "remember_token".into(),
            remember_cookie_duration: 365 * 24 * 3600,
            url_prefix: String::new(),
            login_url: "/login".into(),
            logout_url: "/logout".into(),
            logout_csrf: false,
            logout_methods: vec!["POST".into()],
            verify_url: "/verify".into(),
            post_login_view: "/".into(),
            post_logout_view: "/".into(),
            unauthorized_view: None,
            redirect_host: None,
            redirect_allow_subdomains: false,
            server_name: None,
            redirect_base_domain: None,
            redirect_allowed_subdomains: Vec::new(),
            cache_control: "private, no-store".into(),
            registerable: false,
            recoverable: false,
            changeable: false,
            change_email: false,
            change_username: false,
            username_recovery: false,
            username_required: false,
            username_min_length: 4,
            username_max_length: 32,
            auto_login_after_confirm: false,
            password_confirm_required: true,
            password_required: true,
            password_complexity_checker: None,
            zxcvbn_minimum_score: 3,
            password_check_breached: "false".into(),
            password_breached_count: 1,
            password_breached_url: "https://api.pwnedpasswords.com/range/".into(),
            phone_region_default: "US".into(),
            send_register_email: true,
            send_password_change_email: true,
            send_password_reset_email: true,
            send_password_reset_notice_email: true,
            send_username_change_email: true,
            email_sender: "no-reply@localhost".into(),
            email_plaintext: true,
            email_html: true,
            email_subject_register: "Welcome".into(),
            email_subject_confirm: "Please confirm your email".into(),
            email_subject_password_notice: "Your password has been reset".into(),
            email_subject_password_change_notice: "Your password has been changed".into(),
            email_subject_password_reset: "Password reset instructions".into(),
            email_subject_username_change_notice: "Your username has been changed".into(),
            email_subject_username_recovery: "Your requested username".into(),
            change_email_subject: "Confirm your new email address".into(),
            confirm_email_within: 2 * 24 * 3600,
            reset_password_within: 24 * 3600,
            change_email_within: 2 * 3600,
            confirm_salt: "confirm-salt".into(),
            reset_salt: "reset-salt".into(),
            change_email_salt: "change-email-salt".into(),
            register_url: "/register".into(),
            reset_url: "/reset".into(),
            change_url: "/change".into(),
            confirm_url: "/confirm".into(),
            change_email_url: "/change-email".into(),
            change_username_url: "/change-username".into(),
            username_recovery_url: "/recover-username".into(),
            redirect_behavior: RedirectBehavior::Server,
            post_register_view: None,
            post_confirm_view: None,
            confirm_error_view: None,
            reset_view: None,
            reset_error_view: None,
            post_reset_view: None,
            post_change_view: None,
            post_change_email_view: None,
            change_email_error_view: None,
            post_change_username_view: None,
            requires_confirmation_error_view: None,
            external_url: None,
            mail_server: None,
            mail_port: 25,
            mail_security: "none".into(),
            mail_username: None,
            mail_password: None,
            mail_timeout: 10,
            mail_templates_dir: None,
            undeclared_roles: UndeclaredRoles::Warn,
            migrate_on_launch: true,
            templates_dir: None,
            i18n_dirname: vec!["builtin".into()],
            default_locale: "en".into(),
            i18n_negotiate: false,
            messages: std::collections::BTreeMap::new(),
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
        for a in &self.user_identity_attributes {
            if a != "email" && a != "username" {
                return Err(format!(
                    "`security.user_identity_attributes` entry `{a}` is not supported; \
                     expected `email` or `username`"
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
    }

    /// The full URL of a security endpoint (prefix + path).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.url_prefix.trim_end_matches('/'), path)
    }
}
