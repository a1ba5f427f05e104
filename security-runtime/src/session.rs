//! Session state in an encrypted cookie, and the remember-me cookie.
//!
//! Parity: Flask's session as Flask-Security uses it (`_user_id` = `fs_uniquifier`,
//! `fs_paa`, `fs_gexp`, `fs_cc`, the CSRF secret) and Flask-Login's `remember_token`.
//! Both cookies are Rocket private cookies (AES-GCM with Rocket's `secret_key`), so their
//! content can be neither read nor forged by the client.

use std::sync::Mutex;

use rocket::http::{Cookie, CookieJar, SameSite};
use serde::{Deserialize, Serialize};

use crate::config::SecurityConfig;

/// What the session cookie holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SessionData {
    /// The logged-in user's `fs_uniquifier`.
    #[serde(rename = "_user_id", default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Primary-authenticated-at, epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_paa: Option<f64>,
    /// Freshness grace expiry, epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_gexp: Option<i64>,
    /// CSRF-cookie state: `set` or `clear`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_cc: Option<String>,
    /// Raw CSRF secret (hex); the wire token is a signed, timed form of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csrf: Option<String>,
    /// How the session was established (`password`, `remember`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authn_via: Option<String>,
}

/// What the remember-me cookie holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RememberData {
    uid: String,
    exp: i64,
}

fn samesite(v: &str) -> SameSite {
    match v.to_ascii_lowercase().as_str() {
        "strict" => SameSite::Strict,
        "none" => SameSite::None,
        _ => SameSite::Lax,
    }
}

/// The request's session as it stands now (Rocket's jar only shows the cookies that
/// arrived, so changes made during the request are kept here). Request-local.
#[derive(Debug, Default)]
pub struct SessionCell(Mutex<Option<SessionData>>);

/// Reads the session; a missing, tampered or unreadable cookie is an empty session.
pub fn load(cell: &SessionCell, jar: &CookieJar<'_>, cfg: &SecurityConfig) -> SessionData {
    let Ok(mut g) = cell.0.lock() else {
        return SessionData::default();
    };
    if let Some(d) = g.as_ref() {
        return d.clone();
    }
    let d: SessionData = jar
        .get_private(&cfg.session_cookie_name)
        .and_then(|c| serde_json::from_str(c.value()).ok())
        .unwrap_or_default();
    *g = Some(d.clone());
    d
}

/// Writes the session cookie (or removes it when the session is empty).
pub fn save(cell: &SessionCell, jar: &CookieJar<'_>, cfg: &SecurityConfig, data: &SessionData) {
    if let Ok(mut g) = cell.0.lock() {
        *g = Some(data.clone());
    }
    if *data == SessionData::default() {
        jar.remove_private(Cookie::build(cfg.session_cookie_name.clone()).path("/"));
        return;
    }
    let value = serde_json::to_string(data).unwrap_or_default();
    // A browser-session cookie, as Flask's default (no `Expires`).
    let cookie = Cookie::build((cfg.session_cookie_name.clone(), value))
        .expires(None)
        .path("/")
        .http_only(true)
        .secure(cfg.session_cookie_secure)
        .same_site(samesite(&cfg.session_cookie_samesite));
    jar.add_private(cookie);
}

/// Sets the remember-me cookie for `fs_uniquifier`, valid `remember_cookie_duration`.
pub fn set_remember(jar: &CookieJar<'_>, cfg: &SecurityConfig, fs_uniquifier: &str, now: f64) {
    let exp = now as i64 + cfg.remember_cookie_duration;
    let data = RememberData {
        uid: fs_uniquifier.to_owned(),
        exp,
    };
    let value = serde_json::to_string(&data).unwrap_or_default();
    let cookie = Cookie::build((cfg.remember_cookie_name.clone(), value))
        .path("/")
        .http_only(true)
        .secure(cfg.session_cookie_secure)
        .same_site(samesite(&cfg.session_cookie_samesite))
        .max_age(rocket::time::Duration::seconds(
            cfg.remember_cookie_duration,
        ));
    jar.add_private(cookie);
}

/// The `fs_uniquifier` of a valid, unexpired remember-me cookie.
pub fn remembered(jar: &CookieJar<'_>, cfg: &SecurityConfig, now: f64) -> Option<String> {
    let c = jar.get_private(&cfg.remember_cookie_name)?;
    let data: RememberData = serde_json::from_str(c.value()).ok()?;
    (data.exp as f64 > now).then_some(data.uid)
}

/// Removes the remember-me cookie.
pub fn clear_remember(jar: &CookieJar<'_>, cfg: &SecurityConfig) {
    if jar.get(&cfg.remember_cookie_name).is_some() {
        jar.remove_private(Cookie::build(cfg.remember_cookie_name.clone()).path("/"));
    }
}

/// A cookie attribute set for the CSRF cookie.
pub(crate) fn csrf_cookie(cfg: &SecurityConfig, name: &str, value: String) -> Cookie<'static> {
    Cookie::build((name.to_owned(), value))
        .path("/")
        .http_only(cfg.csrf_cookie.httponly)
        .secure(cfg.csrf_cookie.secure)
        .same_site(samesite(&cfg.csrf_cookie.samesite))
        .build()
}
