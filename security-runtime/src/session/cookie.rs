//! The cookies: the encrypted session store, the remember-me cookie, the flash cookie
//! and the CSRF cookie's attributes.
//!
//! The session and remember-me cookies are Rocket private cookies (AES-GCM with Rocket's
//! `secret_key`), so their content can be neither read nor forged by the client.

use rocket::http::{Cookie, CookieJar, SameSite};
use serde::{Deserialize, Serialize};

use super::{SessionData, SessionKeys, SessionStore};

use crate::config::{SameSitePolicy, SecurityConfig};

/// What the remember-me cookie holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RememberData {
    uid: String,
    exp: i64,
}

pub(crate) fn samesite(v: SameSitePolicy) -> SameSite {
    match v {
        SameSitePolicy::Strict => SameSite::Strict,
        SameSitePolicy::Lax => SameSite::Lax,
        SameSitePolicy::None => SameSite::None,
    }
}

/// The signed-and-encrypted cookie store: the whole session in a Rocket private cookie
/// (AES-GCM with Rocket's `secret_key`), named `session_cookie_name`.
#[derive(Debug, Clone)]
pub struct CookieStore {
    name: String,
    secure: bool,
    same_site: SameSitePolicy,
}

impl CookieStore {
    /// The store the configuration describes (`session_cookie_*`).
    pub fn new(cfg: &SecurityConfig) -> Self {
        CookieStore {
            name: cfg.session_cookie_name.clone(),
            secure: cfg.session_cookie_secure,
            same_site: cfg.session_cookie_samesite,
        }
    }
}

#[rocket::async_trait]
impl SessionStore for CookieStore {
    async fn load(&self, jar: &CookieJar<'_>) -> crate::Result<(SessionData, Option<String>)> {
        Ok((self.read(jar), None))
    }

    fn save(&self, jar: &CookieJar<'_>, data: &SessionData, _keys: &mut SessionKeys) {
        self.write(jar, data);
    }

    /// The whole session is in the cookie, which `save` rewrites (with the new CSRF
    /// secret a sign-in or sign-out brings): nothing of the old one survives.
    fn renew(&self, jar: &CookieJar<'_>, data: &SessionData, _keys: &mut SessionKeys) {
        self.write(jar, data);
    }
}

impl CookieStore {
    /// The session the cookie holds (empty when absent or unreadable).
    pub(crate) fn read(&self, jar: &CookieJar<'_>) -> SessionData {
        jar.get_private(&self.name)
            .map_or_else(SessionData::default, |c| Self::parse(c.value()))
    }

    /// The session a decrypted cookie value holds (empty when it is not one).
    pub(crate) fn parse(value: &str) -> SessionData {
        serde_json::from_str(value).unwrap_or_default()
    }

    /// Writes `data` into the cookie (an empty session removes it).
    pub(crate) fn write(&self, jar: &CookieJar<'_>, data: &SessionData) {
        if *data == SessionData::default() {
            jar.remove_private(Cookie::build(self.name.clone()).path("/"));
            return;
        }
        let value = serde_json::to_string(data).unwrap_or_default();
        jar.add_private(self.build(value));
    }

    /// The session cookie's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Sets the session cookie to `value` as it is (a server-side session's id).
    pub(crate) fn write_raw(&self, jar: &CookieJar<'_>, value: String) {
        jar.add_private(self.build(value));
    }

    /// The session cookie's value as it is.
    pub(crate) fn read_raw(&self, jar: &CookieJar<'_>) -> Option<String> {
        jar.get_private(&self.name).map(|c| c.value().to_owned())
    }

    fn build(&self, value: String) -> Cookie<'static> {
        // A browser-session cookie, as Flask's default (no `Expires`).
        Cookie::build((self.name.clone(), value))
            .expires(None)
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(samesite(self.same_site))
            .build()
    }
}

/// Sets the remember-me cookie for `fs_uniquifier`, valid `remember_cookie_duration`.
pub fn set_remember(jar: &CookieJar<'_>, cfg: &SecurityConfig, fs_uniquifier: &str, now: f64) {
    let exp = now as i64 + cfg.remember_cookie_duration;
    let data = RememberData {
        uid: fs_uniquifier.to_owned(),
        exp,
    };
    let value = serde_json::to_string(&data).unwrap_or_default();
    jar.add_private(remember_cookie(cfg, value));
}

/// The remember-me cookie holding `value`, valid `remember_cookie_duration`.
pub(crate) fn remember_cookie(cfg: &SecurityConfig, value: String) -> Cookie<'static> {
    Cookie::build((cfg.remember_cookie_name.clone(), value))
        .path("/")
        .http_only(true)
        .secure(cfg.session_cookie_secure)
        .same_site(samesite(cfg.session_cookie_samesite))
        .max_age(rocket::time::Duration::seconds(
            cfg.remember_cookie_duration,
        ))
        .build()
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

/// Name of Rocket's flash cookie, which `rocket::request::FlashMessage` reads.
pub(crate) const FLASH_COOKIE: &str = "_flash";

/// A flash message in Rocket's format (`<len(kind)>:<kind><message>`), so the
/// application's `FlashMessage` guard reads it. Unlike Rocket's own (`SameSite=Strict`),
/// it takes the session cookie's SameSite and Secure: a Strict cookie does not come back
/// on the redirect that follows a link clicked in a mail. HttpOnly; five minutes, as Rocket.
pub(crate) fn flash_cookie(
    cfg: Option<&SecurityConfig>,
    kind: &str,
    message: &str,
) -> Cookie<'static> {
    Cookie::build((FLASH_COOKIE, format!("{}:{kind}{message}", kind.len())))
        .path("/")
        .http_only(true)
        .secure(cfg.is_none_or(|c| c.session_cookie_secure))
        .same_site(cfg.map_or(SameSite::Lax, |c| samesite(c.session_cookie_samesite)))
        .max_age(rocket::time::Duration::minutes(5))
        .build()
}

/// Reads the flash cookie as Rocket does, without Rocket's panic on a length that falls
/// inside a multi-byte character. A malformed cookie is removed (so it cannot make the
/// application's own `FlashMessage` guard panic either) and reads as nothing.
pub(crate) fn read_flash(jar: &CookieJar<'_>) -> Option<(String, String)> {
    let value = jar.get(FLASH_COOKIE)?.value().to_owned();
    let parsed = value.split_once(':').and_then(|(len, kv)| {
        let n = len.parse::<usize>().ok()?;
        (n <= kv.len() && kv.is_char_boundary(n)).then(|| (kv[..n].to_owned(), kv[n..].to_owned()))
    });
    if parsed.is_none() {
        jar.remove(Cookie::build(FLASH_COOKIE).path("/"));
    }
    parsed
}

/// Removes the flash cookie once its message has been shown.
pub(crate) fn consume_flash(jar: &CookieJar<'_>) {
    jar.remove(Cookie::build(FLASH_COOKIE).path("/"));
}

/// A cookie attribute set for the CSRF cookie.
pub(crate) fn csrf_cookie(cfg: &SecurityConfig, name: &str, value: String) -> Cookie<'static> {
    Cookie::build((name.to_owned(), value))
        .path("/")
        .http_only(cfg.csrf_cookie.httponly)
        .secure(cfg.csrf_cookie.secure)
        .same_site(samesite(cfg.csrf_cookie.samesite))
        .build()
}
