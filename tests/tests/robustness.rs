//! Robustness over HTTP: hostile or broken input never authenticates, never panics and
//! always gets the documented answer (test plan K1, K2, S9, Z1, Z3, O4, P4).
//!
//! * malformed, tampered and wrongly signed auth tokens → 401 JSON envelope;
//! * tampered session cookies → 401 (JSON) or the login redirect (HTML), never a user;
//! * malformed `Authorization: Basic` headers → 401 with `WWW-Authenticate`;
//! * bad `POST /login` bodies → 400, oversized bodies → 413 before any hashing;
//! * an unreachable database → 503 with a generic body, no panic;
//! * `Cache-Control` on the security endpoints and guarded routes; unknown routes untouched.
//!
//! Inputs come from a seeded `StdRng`, so a failure reproduces. Rocket's local client
//! skips the HTTP parser, so every generated header value, cookie value and URI is kept
//! to what a real client could send (see the comments at each generator).
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rocket::http::{ContentType, Cookie, Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket::serde::json::{json, Value};
use rocket_db_pools::Database;
use security_runtime::signals::Signal;
use security_runtime::tokens::TokenSerializer;
use security_runtime::{Security, User};
use security_tests::{backends, basic, Backend, MyDb, PgDb, SqliteDb, TestApp};

const UNAUTHENTICATED: &str = "You must sign in to view this resource.";
const API_ERROR: &str = "Input not appropriate for requested API";
const TOO_LARGE: &str = "Request body too large.";
const UNAVAILABLE: &str = "Service temporarily unavailable, please try again later.";
const EMAIL: &str = "matt@lp.com";
const PASSWORD: &str = "password123";

const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64STD: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";

// ---- helpers ----

/// A short, printable rendering of a (possibly huge) input for assertion messages.
fn show(s: &str) -> String {
    let head: String = s.chars().take(80).collect();
    if head.len() == s.len() {
        format!("{s:?}")
    } else {
        format!("{head:?}… ({} bytes)", s.len())
    }
}

fn envelope(code: u16, errors: &[&str]) -> Value {
    json!({"meta": {"code": code}, "response": {"errors": errors}})
}

/// Asserts the JSON 401 of a failed authentication, exactly.
async fn assert_unauthn_json(r: LocalResponse<'_>, basic_realm: Option<&str>, what: &str) {
    assert_eq!(r.status(), Status::Unauthorized, "{what}");
    assert_eq!(r.content_type(), Some(ContentType::JSON), "{what}");
    assert_eq!(
        r.headers().get_one("WWW-Authenticate"),
        basic_realm
            .map(|realm| format!("Basic realm=\"{realm}\""))
            .as_deref(),
        "{what}"
    );
    assert_eq!(r.headers().get_one("Set-Cookie"), None, "{what}");
    let body = r.into_string().await.unwrap();
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{what}: {e}: {body}"));
    assert_eq!(v, envelope(401, &[UNAUTHENTICATED]), "{what}");
}

/// The encrypted value of the session cookie the client holds.
fn session_cookie(app: &TestApp) -> String {
    let jar = app.client.cookies();
    jar.get("session")
        .map(|c| c.value().to_owned())
        .expect("the client holds a session cookie")
}

async fn logout(app: &TestApp) {
    let r = app.post_json("/logout", json!({})).await;
    assert_eq!(r.status(), Status::Ok);
    // The session no longer authenticates anyone.
    let r = app.get_json("/profile").await;
    assert_eq!(r.status(), Status::Unauthorized);
}

async fn login_ok(app: &TestApp, email: &str) {
    let (status, body) = app.login(email, PASSWORD).await;
    assert_eq!(
        status,
        Status::Ok,
        "{:?} login {email}: {body}",
        app.backend
    );
}

fn random_from(rng: &mut StdRng, alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect()
}

/// Visible ASCII and space: the bytes a header value may hold that Rocket keeps.
/// (Control characters are refused by HTTP parsers; other bytes only pass as UTF-8.)
fn random_printable(rng: &mut StdRng, len: usize) -> String {
    (0..len)
        .map(|_| rng.gen_range(0x20u8..=0x7e) as char)
        .collect()
}

/// Random non-ASCII text: Latin-1, Cyrillic, CJK, combining marks, emoji, BOM, RTL mark.
/// Header values may carry it as UTF-8 (`obs-text`); Rocket keeps valid UTF-8 values.
fn random_unicode(rng: &mut StdRng, len: usize) -> String {
    const RANGES: &[(u32, u32)] = &[
        (0x00a0, 0x00ff),
        (0x0400, 0x04ff),
        (0x0300, 0x036f),
        (0x4e00, 0x4fff),
        (0x1f600, 0x1f64f),
        (0xfeff, 0xfeff),
        (0x200f, 0x200f),
        (0x21, 0x7e),
    ];
    (0..len)
        .map(|_| {
            let (lo, hi) = RANGES[rng.gen_range(0..RANGES.len())];
            char::from_u32(rng.gen_range(lo..=hi)).unwrap_or('?')
        })
        .collect()
}

/// Percent-encodes every byte, so any byte string (valid UTF-8 or not) fits a query.
fn percent_all(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

async fn close_pool(client: &Client, backend: Backend) {
    let rocket = client.rocket();
    match backend {
        Backend::Sqlite => SqliteDb::fetch(rocket).unwrap().close().await,
        Backend::Postgres => PgDb::fetch(rocket).unwrap().close().await,
        Backend::MySql => MyDb::fetch(rocket).unwrap().close().await,
    }
}

// ---- 1. auth tokens (K1, K2, Z1) ----

/// The three dot-separated parts of an itsdangerous token: payload (which may start
/// with `.` when compressed), timestamp, signature.
fn token_parts(token: &str) -> Vec<String> {
    let mut parts: Vec<String> = token.rsplitn(3, '.').map(str::to_owned).collect();
    parts.reverse();
    assert_eq!(parts.len(), 3, "real token has three parts: {token}");
    parts
}

/// ≥ 3,000 header values that must not authenticate, derived from `real`.
fn malformed_tokens(real: &str, rng: &mut StdRng) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    let parts = token_parts(real);

    // Fixed shapes: empty, separators only, JSON-ish words, wrong separators, padding,
    // wrong alphabet, case changes, parts reordered, dropped or repeated.
    for s in [
        "",
        ".",
        "..",
        "...",
        "....",
        "a",
        "a.b",
        "a.b.c",
        "a..c",
        ".a.b.c",
        "a.b.c.d",
        "..a",
        "null",
        "undefined",
        "None",
        "0",
        "-1",
        "[]",
        "{}",
        "true",
        "eyJ",
        "eyJ.",
        "eyJ..",
        "====",
        "a=.b=.c=",
        "%00",
        "\\x00",
        "Bearer",
        "Token",
        "*",
    ] {
        v.push(s.to_owned());
    }
    v.push(format!("Bearer {real}"));
    v.push(format!("Token {real}"));
    v.push(real.to_uppercase());
    v.push(real.to_lowercase());
    v.push(real.replace('-', "+").replace('_', "/"));
    for sep in [":", "..", ",", "|", ";", "/", "~", "%2E", ". "] {
        v.push(real.replace('.', sep));
    }
    for i in 0..3 {
        let mut p = parts.clone();
        p[i].push('=');
        v.push(p.join("."));
        let mut p = parts.clone();
        p[i].push_str("==");
        v.push(p.join("."));
        let mut p = parts.clone();
        p.remove(i);
        v.push(p.join("."));
        let mut p = parts.clone();
        p.insert(i, parts[i].clone());
        v.push(p.join("."));
        let mut p = parts.clone();
        p[i].clear();
        v.push(p.join("."));
    }
    v.push(format!("{}.{}.{}", parts[2], parts[1], parts[0]));
    v.push(format!("{}.{}.{}", parts[1], parts[2], parts[0]));
    v.push(format!("{}.{}.{}", parts[0], parts[2], parts[1]));

    // Big inputs: 64 KiB and 256 KiB of one byte, of random base64, of the token repeated.
    v.push("A".repeat(64 * 1024));
    v.push(".".repeat(64 * 1024));
    v.push(random_from(rng, B64URL, 64 * 1024));
    v.push(format!(
        "{}.{}.{}",
        random_from(rng, B64URL, 64 * 1024),
        parts[1],
        parts[2]
    ));
    v.push(format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        "A".repeat(64 * 1024)
    ));
    v.push(vec![real; 64 * 1024 / real.len() + 1].join("."));
    v.push(vec![real; 64 * 1024 / real.len() + 1].concat());
    v.push(random_from(rng, B64URL, 256 * 1024));

    // Random base64url shapes with 0 to 5 separators.
    for _ in 0..600 {
        let n = rng.gen_range(0..=5);
        let segs: Vec<String> = (0..=n)
            .map(|_| {
                let len = rng.gen_range(0..80);
                random_from(rng, B64URL, len)
            })
            .collect();
        v.push(segs.join("."));
    }
    // Random printable ASCII.
    for _ in 0..400 {
        let len = rng.gen_range(0..200);
        v.push(random_printable(rng, len));
    }
    // Random non-ASCII text, alone and spliced into the real token.
    for _ in 0..150 {
        let len = rng.gen_range(1..60);
        v.push(random_unicode(rng, len));
    }
    for _ in 0..50 {
        let at = rng.gen_range(0..=real.len());
        let len = rng.gen_range(1..4);
        v.push(format!(
            "{}{}{}",
            &real[..at],
            random_unicode(rng, len),
            &real[at..]
        ));
    }

    // Every bit of every decoded part flipped (payload, timestamp, signature), re-encoded
    // canonically: the signature must catch each one.
    for i in 0..3 {
        let (prefix, body) = match parts[i].strip_prefix('.') {
            Some(rest) if i == 0 => (".", rest),
            _ => ("", parts[i].as_str()),
        };
        let bytes = URL_SAFE_NO_PAD.decode(body).unwrap();
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            let mut p = parts.clone();
            p[i] = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(&b));
            v.push(p.join("."));
        }
    }
    // Every character replaced by another of the alphabet (two per position).
    for (pos, ch) in real.char_indices() {
        for _ in 0..2 {
            let mut c = B64URL[rng.gen_range(0..B64URL.len())] as char;
            if c == ch {
                c = if ch == 'A' { 'B' } else { 'A' };
            }
            v.push(format!("{}{}{}", &real[..pos], c, &real[pos + 1..]));
        }
    }
    // Every truncation, from either end.
    for n in 0..real.len() {
        v.push(real[..n].to_owned());
        v.push(real[real.len() - n..].to_owned());
    }
    // Extensions: appended or prepended junk, inserted characters, an extra part.
    for _ in 0..150 {
        let len = rng.gen_range(1..20);
        v.push(format!("{real}{}", random_from(rng, B64URL, len)));
    }
    for _ in 0..50 {
        let len = rng.gen_range(1..20);
        v.push(format!("{}{real}", random_from(rng, B64URL, len)));
    }
    for _ in 0..150 {
        let at = rng.gen_range(0..=real.len());
        let c = B64URL[rng.gen_range(0..B64URL.len())] as char;
        v.push(format!("{}{c}{}", &real[..at], &real[at..]));
    }
    for s in [".", "..", ".A", "=", ".x.y", "AAAA"] {
        v.push(format!("{real}{s}"));
        v.push(format!("{s}{real}"));
    }
    // Leading/trailing whitespace is left out on purpose: HTTP parsers strip it from
    // header values, so over the wire those inputs would be the real token.
    v.retain(|t| t != real);
    v
}

/// Tokens that are signed, but with another key or salt, or whose claims are wrong or
/// stale; plus two forged with the right key and salt that must be accepted.
fn signed_tokens(app: &TestApp, user: &User) -> (Vec<String>, Vec<String>) {
    let st = app.state();
    let now = st.now() as u64;
    let claims = json!({"ver": "5", "uid": user.token_uniquifier(), "fs_paa": now, "exp": 0});
    let good = vec![
        st.auth_tokens.dumps_at(&claims, now),
        st.auth_tokens.dumps_at(&claims, now - 60),
    ];
    let mut bad = Vec::new();
    // Another secret key with the right salt, and the right key with other salts.
    for key in [
        "another-secret-key-0123456789ab",
        "test-secret-key-0123456789abcde",
        "",
    ] {
        let ser = TokenSerializer::new(vec![key.as_bytes().to_vec()], "remember-salt");
        bad.push(ser.dumps_at(&claims, now));
    }
    for salt in [
        "wtf-csrf-token",
        "confirm-salt",
        "reset-salt",
        "login-salt",
        "",
        "Remember-salt",
    ] {
        bad.push(st.serializer(salt).dumps_at(&claims, now));
    }
    // The right key and salt, but claims that name nobody or are malformed.
    for c in [
        json!({"ver": "5", "uid": "no-such-uniquifier", "fs_paa": now, "exp": 0}),
        json!({"ver": "5", "uid": user.token_uniquifier(), "fs_paa": now, "exp": -1}),
        json!({"ver": "5", "uid": user.token_uniquifier(), "fs_paa": now, "exp": now - 10}),
        json!({"ver": "5", "uid": user.token_uniquifier(), "fs_paa": now, "exp": "0"}),
        json!({"ver": "5", "uid": user.token_uniquifier(), "fs_paa": now}),
        json!({"uid": user.token_uniquifier(), "fs_paa": now, "exp": 0}),
        json!({"ver": "5", "fs_paa": now, "exp": 0}),
        json!({"ver": "5", "uid": user.id, "fs_paa": now, "exp": 0}),
        json!({"ver": "5", "uid": null, "fs_paa": now, "exp": 0}),
        json!({"ver": "5", "uid": "", "fs_paa": now, "exp": 0}),
        json!({"ver": "5", "uid": "%", "fs_paa": now, "exp": 0}),
        json!({"ver": "5", "uid": "' OR 1=1--", "fs_paa": now, "exp": 0}),
        json!(user.token_uniquifier()),
        json!(null),
        json!(5),
        json!([]),
        json!([5]),
        json!(["no-such-uniquifier"]),
        json!([1, 2, "no-such-uniquifier"]),
        json!({}),
    ] {
        bad.push(st.auth_tokens.dumps_at(&c, now));
    }
    // Expired (older than token_max_age), from the future, or past year 9999.
    let max_age = st.config.token_max_age;
    bad.push(st.auth_tokens.dumps_at(&claims, now - max_age - 1));
    bad.push(st.auth_tokens.dumps_at(&claims, now + 3600));
    bad.push(st.auth_tokens.dumps_at(&claims, 0));
    bad.push(st.auth_tokens.dumps_at(&claims, u64::MAX));
    // Parts of a good token spliced with parts of a wrongly keyed one (whose payload,
    // timestamp and signature all differ from the good one's).
    let other_claims =
        json!({"ver": "5", "uid": user.token_uniquifier(), "fs_paa": now - 1, "exp": 0});
    let other = TokenSerializer::new(vec![b"another-secret-key".to_vec()], "remember-salt")
        .dumps_at(&other_claims, now - 1);
    let (g, o) = (token_parts(&good[0]), token_parts(&other));
    for mask in 1..7u8 {
        let p: Vec<&str> = (0..3)
            .map(|i| if mask & (1 << i) != 0 { &o[i] } else { &g[i] })
            .map(String::as_str)
            .collect();
        bad.push(p.join("."));
    }
    (bad, good)
}

/// Query values for `?auth_token=`: percent-encoded bytes, valid UTF-8 or not.
fn query_junk(real: &str, rng: &mut StdRng) -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        "%00",
        "%FF",
        "%FE%FF",
        "%C3%28",
        "%ED%A0%80",
        "%F4%90%80%80",
        "%C0%AF",
        "%E2%82",
        "%80",
        ".",
        "..",
        "a.b.c",
        "%2E%2E%2E",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for _ in 0..300 {
        let len = rng.gen_range(0..64);
        let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        v.push(percent_all(&bytes));
    }
    // The real token with one byte swapped for a non-UTF-8 or a foreign byte.
    for _ in 0..100 {
        let at = rng.gen_range(0..real.len());
        let b: u8 = rng.gen_range(0x80..=0xff);
        v.push(format!(
            "{}%{b:02X}{}",
            percent_all(&real.as_bytes()[..at]),
            percent_all(&real.as_bytes()[at + 1..])
        ));
    }
    v
}

#[rocket::async_test]
async fn malformed_auth_tokens_are_401() {
    for b in backends() {
        let app = TestApp::new(b).await;
        let first = app.user(EMAIL, PASSWORD, &[]).await;
        let real = app.token_login(EMAIL, PASSWORD).await;
        // From here on only the token may authenticate.
        logout(&app).await;
        // The first token gave the user an fs_token_uniquifier; tokens keyed on the
        // session identity (fs_uniquifier) are no longer accepted.
        let user = app
            .datastore()
            .find_user(&security_runtime::UserQuery::Id(first.id), false)
            .await
            .unwrap()
            .unwrap();
        assert!(user.fs_token_uniquifier.is_some() && first.fs_token_uniquifier.is_none());
        let (_, stale) = signed_tokens(&app, &first);
        for t in &stale {
            let r = app.get_with_token("/token", t).await;
            assert_eq!(
                r.status(),
                Status::Unauthorized,
                "{b:?}: fs_uniquifier-keyed token"
            );
        }

        let mut rng = StdRng::seed_from_u64(0x4b31_4b32);
        let mut inputs = malformed_tokens(&real, &mut rng);
        let (signed_bad, signed_good) = signed_tokens(&app, &user);
        inputs.extend(signed_bad);
        // The CSRF token is signed with the same key, another salt.
        inputs.push(app.csrf().await);
        inputs.retain(|t| t != &real && !signed_good.contains(t));
        assert!(inputs.len() >= 3000, "only {} inputs", inputs.len());

        for t in &inputs {
            let r = app.get_with_token("/token", t).await;
            assert_unauthn_json(r, None, &format!("{b:?} token {}", show(t))).await;
        }

        let queries = query_junk(&real, &mut rng);
        for q in &queries {
            let uri = format!("/token?auth_token={q}");
            assert!(rocket::http::uri::Origin::parse(&uri).is_ok(), "{uri}");
            let r = app.get_json(&uri).await;
            assert_unauthn_json(r, None, &format!("{b:?} query {}", show(q))).await;
        }

        // The unmodified token, by header and (as Flask-Security allows) by query.
        let r = app.get_with_token("/token", &real).await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        assert_eq!(r.into_string().await.unwrap(), format!("token {EMAIL}"));
        let r = app.get_json(&format!("/token?auth_token={real}")).await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        // Tokens forged with the right key and salt do authenticate: the rejections above
        // are the key, salt, claims or age, not the shape.
        for t in &signed_good {
            let r = app.get_with_token("/token", t).await;
            assert_eq!(r.status(), Status::Ok, "{b:?} {t}");
        }
        eprintln!(
            "{b:?}: {} header tokens and {} query values rejected",
            inputs.len(),
            queries.len()
        );
    }
}

// ---- 2. session cookies (S9, Z1) ----

/// RFC 6265 `cookie-octet`s: what a browser can send in a cookie value.
const COOKIE_OCTETS: &[u8] =
    b"!#$%&'()*+-./0123456789:<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~";

/// ≥ 2,000 mutations of `a` (user A's encrypted session), some using `b` (user B's).
fn cookie_mutations(a: &str, b: &str, rng: &mut StdRng) -> Vec<String> {
    let mut v = Vec::new();
    let raw_a = STANDARD
        .decode(a)
        .expect("private cookies are standard base64");
    let raw_b = STANDARD.decode(b).unwrap();
    // Every bit of nonce, ciphertext and tag flipped.
    for bit in 0..raw_a.len() * 8 {
        let mut m = raw_a.clone();
        m[bit / 8] ^= 1 << (bit % 8);
        v.push(STANDARD.encode(&m));
    }
    // Every truncation of the bytes, and of the text.
    for n in 0..raw_a.len() {
        v.push(STANDARD.encode(&raw_a[..n]));
    }
    for n in 0..a.len() {
        v.push(a[..n].to_owned());
    }
    // A and B spliced at every byte: nonce of one, ciphertext of the other, and so on.
    for k in 1..raw_a.len().min(raw_b.len()) {
        let mut m = raw_a[..k].to_vec();
        m.extend_from_slice(&raw_b[k..]);
        v.push(STANDARD.encode(&m));
        let mut m = raw_b[..k].to_vec();
        m.extend_from_slice(&raw_a[k..]);
        v.push(STANDARD.encode(&m));
    }
    // Characters replaced, inserted; bytes appended; text appended.
    for _ in 0..800 {
        let at = rng.gen_range(0..a.len());
        let c = B64STD[rng.gen_range(0..B64STD.len())] as char;
        v.push(format!("{}{c}{}", &a[..at], &a[at + 1..]));
    }
    for _ in 0..50 {
        let at = rng.gen_range(0..=a.len());
        let c = COOKIE_OCTETS[rng.gen_range(0..COOKIE_OCTETS.len())] as char;
        v.push(format!("{}{c}{}", &a[..at], &a[at..]));
    }
    for _ in 0..50 {
        let mut m = raw_a.clone();
        let n = rng.gen_range(1..32);
        m.extend((0..n).map(|_| rng.gen::<u8>()));
        v.push(STANDARD.encode(&m));
    }
    // Unpadded, URL-safe, doubled, both cookies concatenated.
    v.push(a.trim_end_matches('=').to_owned());
    v.push(URL_SAFE_NO_PAD.encode(&raw_a));
    v.push(format!("{a}{a}"));
    v.push(format!("{a}{b}"));
    v.push(format!("{b}{a}"));
    // Random bytes of the same length, random cookie text, empty, huge.
    for _ in 0..150 {
        let m: Vec<u8> = (0..raw_a.len()).map(|_| rng.gen()).collect();
        v.push(STANDARD.encode(&m));
    }
    for _ in 0..100 {
        let len = rng.gen_range(0..300);
        v.push(random_from(rng, COOKIE_OCTETS, len));
    }
    for s in ["", "=", "null", "{}", "{\"_user_id\":\"x\"}", "AAAA"] {
        v.push(s.to_owned());
    }
    v.push("A".repeat(4096));
    v.push(STANDARD.encode(vec![0u8; 64 * 1024]));
    v.retain(|m| m != a && m != b);
    v
}

/// An encrypted cookie value made by `client`'s key, without sending it.
/// A GET of `uri` carrying the raw session cookie `value`, as JSON or as a browser.
async fn with_session<'a>(
    app: &'a TestApp,
    uri: &'static str,
    json: bool,
    value: String,
) -> LocalResponse<'a> {
    let mut req = app.client.get(uri);
    if json {
        req = req.header(ContentType::JSON);
    }
    req.cookie(Cookie::new("session", value)).dispatch().await
}

fn encrypt_with(client: &Client, name: &'static str, plain: String) -> String {
    let req = client.get("/").private_cookie(Cookie::new(name, plain));
    let jar = req.inner().cookies();
    jar.get(name).unwrap().value().to_owned()
}

#[rocket::async_test]
async fn tampered_session_cookies_are_401() {
    for b in backends() {
        let app = TestApp::new(b).await;
        let matt = app.user(EMAIL, PASSWORD, &[]).await;
        app.user("joe@lp.com", PASSWORD, &[]).await;
        // Joe's session (then logged out, so the jar carries no user), then Matt's.
        login_ok(&app, "joe@lp.com").await;
        let joe_cookie = session_cookie(&app);
        logout(&app).await;
        login_ok(&app, EMAIL).await;
        let matt_cookie = session_cookie(&app);

        let mut rng = StdRng::seed_from_u64(0x5339);
        let mut inputs = cookie_mutations(&matt_cookie, &joe_cookie, &mut rng);
        // Another deployment (another secret key, so another derived Rocket key) with the
        // same user email.
        let other = TestApp::with(
            b,
            |f| f.merge(("security.secret_key", "another-deployment-secret-key-42")),
            Security::new(),
        )
        .await;
        other.user(EMAIL, PASSWORD, &[]).await;
        login_ok(&other, EMAIL).await;
        inputs.push(session_cookie(&other));
        // Matt's session as it would be, encrypted with that other key.
        let plain = json!({"_user_id": matt.fs_uniquifier}).to_string();
        inputs.push(encrypt_with(&other.client, "session", plain.clone()));
        // The right key, but content that is no session or names nobody.
        for p in [
            "".to_owned(),
            "null".to_owned(),
            "[]".to_owned(),
            "not json".to_owned(),
            json!({"_user_id": 5}).to_string(),
            json!({"_user_id": "no-such-uniquifier"}).to_string(),
            json!({"_user_id": matt.email}).to_string(),
            json!({"_user_id": matt.id.to_string()}).to_string(),
            json!({"user_id": matt.fs_uniquifier}).to_string(),
            // Stored-session ids that open nothing.
            "sid:".to_owned(),
            "sid:AAAA".to_owned(),
            format!("sid:{}", matt.fs_uniquifier),
        ] {
            inputs.push(encrypt_with(&app.client, "session", p));
        }
        // Matt's session sealed under another cookie name: the name is authenticated.
        inputs.push(encrypt_with(&app.client, "remember_token", plain.clone()));
        inputs.push(encrypt_with(&app.client, "sessionx", plain.clone()));
        assert!(inputs.len() >= 2000, "only {} inputs", inputs.len());

        for (i, m) in inputs.iter().enumerate() {
            let what = format!("{b:?} cookie #{i} {}", show(m));
            if i % 4 == 3 {
                // A browser: the login redirect, never the page.
                let r = with_session(&app, "/profile", false, m.clone()).await;
                assert_eq!(r.status(), Status::Found, "{what}");
                assert_eq!(
                    r.headers().get_one("Location"),
                    Some("/login?next=%2Fprofile"),
                    "{what}"
                );
            } else {
                let r = with_session(&app, "/profile", true, m.clone()).await;
                assert_unauthn_json(r, None, &what).await;
            }
        }

        // The untouched cookie is Matt. The same content sealed with the right key is
        // not: sessions are stored, so even the key does not make one.
        let r = with_session(&app, "/profile", false, matt_cookie.clone()).await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        assert_eq!(r.into_string().await.unwrap(), format!("profile {EMAIL}"));
        let forged = encrypt_with(&app.client, "session", plain);
        let r = with_session(&app, "/profile", true, forged).await;
        assert_unauthn_json(r, None, &format!("{b:?} forged with the key")).await;
        eprintln!("{b:?}: {} session cookies rejected", inputs.len());
    }
}

// ---- 3. Basic authentication (Z1) ----

/// ≥ 1,000 `Authorization` values that must not authenticate matt@lp.com / password123.
fn malformed_basic(rng: &mut StdRng) -> Vec<String> {
    let b64 = |s: &str| STANDARD.encode(s);
    let good = b64(&format!("{EMAIL}:{PASSWORD}"));
    let mut v: Vec<String> = [
        "",
        "Basic",
        "Basic ",
        "Basic  ",
        "Basic =",
        "Basic ====",
        "Basic Og==",
        "Basic 6",
        "Basic ***",
        "Basic %%%",
        "Basic Zm9v",
        "Basic Zm9v=",
        "Basic ?",
        "basic",
        "Bearer",
        "Negotiate",
        "Digest username=\"matt\"",
        ":",
        "Basic :",
        "Basic matt@lp.com:password123",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    // Wrong scheme, missing or doubled separator, altered encoding of the right credentials.
    for scheme in [
        "Bearer", "Token", "Digest", "Basicx", "Basi", "Basic:", "Ba sic", "Вasic",
    ] {
        v.push(format!("{scheme} {good}"));
    }
    v.push(format!("Basic{good}"));
    v.push(format!("Basic\t{good}"));
    v.push(format!("Basic,{good}"));
    v.push(format!("Basic {good} extra"));
    v.push(format!("Basic {good}{good}"));
    v.push(format!("Basic {}", good.trim_end_matches('=')));
    v.push(format!("Basic {}=", good));
    v.push(format!(
        "Basic {}",
        URL_SAFE_NO_PAD.encode(format!("{EMAIL}:{PASSWORD}"))
    ));
    v.push(good.clone());
    // Decodes, but the credentials are wrong: no colon, empty parts, near misses.
    for s in [
        EMAIL.to_owned(),
        format!("{EMAIL}:"),
        format!(":{PASSWORD}"),
        format!("{EMAIL}:{PASSWORD} "),
        format!("{EMAIL}:Password123"),
        format!("{EMAIL}:password1234"),
        format!("{EMAIL}:password12"),
        format!("{EMAIL};{PASSWORD}"),
        format!("{EMAIL} {PASSWORD}"),
        format!("{PASSWORD}:{EMAIL}"),
        format!("matt@lp.co:{PASSWORD}"),
        format!("matt:{PASSWORD}"),
        format!("{EMAIL}:{PASSWORD}\0"),
        format!("{EMAIL}:\u{2028}{PASSWORD}"),
        // (Not `mätt@lp.com`: MariaDB's accent-insensitive collation makes it Matt.)
        format!("mütze@lp.com:{PASSWORD}"),
        format!("{EMAIL}:pässwörd123"),
        format!("' OR 1=1--:{PASSWORD}"),
        format!("%:{PASSWORD}"),
        format!("_@lp.com:{PASSWORD}"),
        "::".to_owned(),
        ":".to_owned(),
    ] {
        v.push(format!("Basic {}", b64(&s)));
    }
    // Huge: 64 KiB of base64, a 100 KB identity, a 200-character password, 1 MiB.
    v.push(format!("Basic {}", "A".repeat(64 * 1024)));
    v.push(format!(
        "Basic {}",
        b64(&format!("{}@lp.com:{PASSWORD}", "a".repeat(100_000)))
    ));
    v.push(format!(
        "Basic {}",
        b64(&format!("{}:{PASSWORD}", "a".repeat(100_000)))
    ));
    v.push(format!(
        "Basic {}",
        b64(&format!("{EMAIL}:{}", "p".repeat(200)))
    ));
    v.push(format!(
        "Basic {}",
        b64(&format!("{EMAIL}:{PASSWORD}{}", "p".repeat(1 << 20)))
    ));
    v.push(format!("Basic {}", random_from(rng, B64STD, 1 << 20)));
    // Raw Unicode where base64 belongs.
    for _ in 0..60 {
        let len = rng.gen_range(1..40);
        v.push(format!("Basic {}", random_unicode(rng, len)));
    }
    // Not base64: random visible ASCII after the scheme, and alone.
    for _ in 0..330 {
        let len = rng.gen_range(0..120);
        v.push(format!("Basic {}", random_printable(rng, len)));
    }
    for _ in 0..50 {
        let len = rng.gen_range(0..120);
        v.push(random_printable(rng, len));
    }
    // Valid base64 of random bytes (mostly not UTF-8).
    for _ in 0..250 {
        let len = rng.gen_range(0..96);
        let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        v.push(format!("Basic {}", STANDARD.encode(bytes)));
    }
    // Valid base64 of text without a colon, and of random `identity:password` pairs
    // (these reach the datastore and cost one hash each).
    for _ in 0..120 {
        let len = rng.gen_range(1..40);
        let s: String = random_unicode(rng, len).replace(':', "");
        v.push(format!("Basic {}", b64(&s)));
    }
    for _ in 0..150 {
        let (il, pl) = (rng.gen_range(0..30), rng.gen_range(0..30));
        let id = if rng.gen_bool(0.5) {
            format!(
                "{}@lp.com",
                random_from(rng, b"abcdefghijklmnopqrstuvwxyz.", il)
            )
        } else {
            random_unicode(rng, il)
        };
        let pw = random_printable(rng, pl);
        v.push(format!("Basic {}", b64(&format!("{id}:{pw}"))));
    }
    v
}

#[rocket::async_test]
async fn malformed_basic_headers_are_401_with_www_authenticate() {
    for b in backends() {
        let app = TestApp::with_user(b, EMAIL, PASSWORD).await;
        let mut rng = StdRng::seed_from_u64(0x6261_7369);
        let inputs = malformed_basic(&mut rng);
        assert!(inputs.len() >= 1000, "only {} inputs", inputs.len());
        for (i, h) in inputs.iter().enumerate() {
            let what = format!("{b:?} Authorization #{i} {}", show(h));
            let req = app
                .client
                .get("/http")
                .header(Header::new("Authorization", h.clone()));
            if i % 2 == 0 {
                let r = req.header(ContentType::JSON).dispatch().await;
                assert_unauthn_json(r, Some("Login Required"), &what).await;
            } else {
                let r = req.dispatch().await;
                assert_eq!(r.status(), Status::Unauthorized, "{what}");
                assert_eq!(r.content_type(), Some(ContentType::Plain), "{what}");
                assert_eq!(
                    r.headers().get_one("WWW-Authenticate"),
                    Some("Basic realm=\"Login Required\""),
                    "{what}"
                );
                assert_eq!(r.into_string().await.unwrap(), UNAUTHENTICATED, "{what}");
            }
        }
        // The right credentials; the scheme name is case-insensitive (RFC 7235).
        for h in [
            basic(EMAIL, PASSWORD),
            Header::new(
                "Authorization",
                format!("basic {}", STANDARD.encode(format!("{EMAIL}:{PASSWORD}"))),
            ),
        ] {
            let r = app.client.get("/http").header(h).dispatch().await;
            assert_eq!(r.status(), Status::Ok, "{b:?}");
            assert_eq!(r.into_string().await.unwrap(), format!("http {EMAIL}"));
        }
        eprintln!("{b:?}: {} Authorization headers rejected", inputs.len());
    }
}

/// A NUL byte in a client-supplied identity is a failed login, not a datastore outage
/// (test plan A5). PostgreSQL refuses NUL in text parameters, so the identity has to be
/// screened before the query.
#[rocket::async_test]
async fn nul_in_identity_is_a_failed_login_not_503() {
    for b in backends() {
        let app = TestApp::with_user(b, EMAIL, PASSWORD).await;
        for id in ["matt@lp.com\0", "ma\0tt@lp.com", "\0@lp.com", "\0"] {
            let r = app
                .client
                .get("/http")
                .header(ContentType::JSON)
                .header(basic(id, PASSWORD))
                .dispatch()
                .await;
            assert_unauthn_json(r, Some("Login Required"), &format!("{b:?} Basic {id:?}")).await;
        }
        for id in ["matt@lp.com\0", "ma\0tt@lp.com"] {
            let (status, body) = app.login(id, PASSWORD).await;
            assert_eq!(status, Status::BadRequest, "{b:?} login {id:?}: {body}");
            assert_eq!(
                body["response"]["field_errors"],
                json!({"email": ["Specified user does not exist"]}),
                "{b:?} login {id:?}"
            );
        }
    }
}

// ---- 4. bad input to POST /login (Z1, Z3, P4) ----

async fn post_login_raw(
    app: &TestApp,
    ct: ContentType,
    body: impl AsRef<[u8]>,
) -> (Status, Option<ContentType>, String) {
    let r = app
        .client
        .post("/login")
        .header(ct)
        .body(body)
        .dispatch()
        .await;
    let (s, ct) = (r.status(), r.content_type());
    (s, ct, r.into_string().await.unwrap_or_default())
}

#[rocket::async_test]
async fn bad_login_bodies_are_400_and_oversized_bodies_413_without_hashing() {
    for b in backends() {
        let failed = Arc::new(AtomicUsize::new(0));
        let counter = failed.clone();
        let security = Security::new().on_signal(move |s| {
            if matches!(s, Signal::UserFailedAuthn { .. }) {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        let app = TestApp::with(b, |f| f, security).await;
        app.user(EMAIL, PASSWORD, &[]).await;
        let csrf = app.csrf().await;
        let api_error = envelope(400, &[API_ERROR]);

        // Malformed JSON and JSON that is not an object.
        let full =
            json!({"email": "nobody@lp.com", "password": PASSWORD, "csrf_token": csrf}).to_string();
        let mut bodies: Vec<Vec<u8>> = [
            "{",
            "}",
            "{\"email\":",
            "{\"email\":\"matt@lp.com\",}",
            "{'email':'matt@lp.com'}",
            "{\"email\":\"matt@lp.com\"}}",
            "nul",
            "tru",
            "[",
            "{\"a\":1,\"a\"}",
            "\"",
            "{\"\\x\":1}",
            "[]",
            "[1,2]",
            "[{\"email\":\"matt@lp.com\"}]",
            "0",
            "-1.5e300",
            "1e999",
            "\"text\"",
            "true",
            "false",
            "null",
            " ",
            "\u{feff}{}",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        bodies.push(b"{\"email\":\"\xff\xfe\",\"password\":\"x\"}".to_vec());
        bodies.push(b"\xff\xfe\xfd".to_vec());
        bodies.push(format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes());
        // Every proper prefix of a valid body is invalid JSON.
        for n in 1..full.len() {
            bodies.push(full.as_bytes()[..n].to_vec());
        }
        for body in &bodies {
            let what = format!("{b:?} body {}", show(&String::from_utf8_lossy(body)));
            let (s, ct, text) = post_login_raw(&app, ContentType::JSON, body).await;
            assert_eq!(s, Status::BadRequest, "{what}: {text}");
            assert_eq!(ct, Some(ContentType::JSON), "{what}");
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v, api_error, "{what}");
        }
        // A form body that is not UTF-8.
        let (s, ct, text) =
            post_login_raw(&app, ContentType::Form, b"email=\xff&password=\xfe").await;
        assert_eq!(
            (s, ct, text.as_str()),
            (Status::BadRequest, Some(ContentType::Plain), API_ERROR)
        );

        // Non-string values for string fields: IsString's API_ERROR on that field.
        let others = [
            json!(5),
            json!(1.5),
            json!(-1),
            json!(true),
            json!(false),
            json!([]),
            json!([EMAIL]),
            json!({}),
            json!({"email": EMAIL}),
        ];
        for field in ["email", "password"] {
            for bad in &others {
                let mut body = json!({"email": EMAIL, "password": PASSWORD, "csrf_token": csrf});
                body[field] = bad.clone();
                let (s, ct, text) = post_login_raw(&app, ContentType::JSON, body.to_string()).await;
                let what = format!("{b:?} {field}={bad}");
                assert_eq!(s, Status::BadRequest, "{what}: {text}");
                assert_eq!(ct, Some(ContentType::JSON), "{what}");
                let v: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(
                    v,
                    json!({"meta": {"code": 400}, "response": {
                        "errors": [API_ERROR],
                        "field_errors": {field: [API_ERROR]},
                    }}),
                    "{what}"
                );
            }
        }
        // `null` is an absent value, not a wrong type.
        let body = json!({"email": null, "password": PASSWORD, "csrf_token": csrf});
        let (s, _, text) = post_login_raw(&app, ContentType::JSON, body.to_string()).await;
        assert_eq!(s, Status::BadRequest);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["response"]["field_errors"],
            json!({"email": ["Email not provided"]}),
            "{b:?}"
        );
        assert_eq!(
            failed.load(Ordering::SeqCst),
            0,
            "{b:?}: nothing above reaches hashing"
        );

        // Oversized bodies: 64 KiB + 1, 1 MiB password, 10 MiB; JSON and form. Each would
        // be an unknown-user login (one hash, one UserFailedAuthn) if it were read.
        let json_of = |size: usize| {
            let head =
                format!("{{\"email\":\"nobody@lp.com\",\"csrf_token\":\"{csrf}\",\"password\":\"");
            let pad = size - head.len() - 2;
            format!("{head}{}\"}}", "p".repeat(pad))
        };
        for size in [64 * 1024 + 1, (1 << 20) + 64, 10 << 20] {
            let body = json_of(size);
            assert_eq!(body.len(), size);
            let (s, ct, text) = post_login_raw(&app, ContentType::JSON, &body).await;
            assert_eq!(s, Status::PayloadTooLarge, "{b:?} {size}");
            assert_eq!(ct, Some(ContentType::JSON));
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v, envelope(413, &[TOO_LARGE]), "{b:?} {size}");
        }
        let form = format!(
            "email=nobody%40lp.com&csrf_token={csrf}&password={}",
            "p".repeat(10 << 20)
        );
        let (s, ct, text) = post_login_raw(&app, ContentType::Form, &form).await;
        assert_eq!(
            (s, ct, text.as_str()),
            (Status::PayloadTooLarge, Some(ContentType::Plain), TOO_LARGE)
        );
        assert_eq!(
            failed.load(Ordering::SeqCst),
            0,
            "{b:?}: an oversized body was hashed"
        );

        // Control: the same login, small, is read, hashed and refused: one signal. A body of
        // exactly 64 KiB is still read (the limit is inclusive).
        let (s, _, text) = post_login_raw(&app, ContentType::JSON, json_of(200)).await;
        assert_eq!(s, Status::BadRequest, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["response"]["errors"],
            json!(["Specified user does not exist"])
        );
        assert_eq!(failed.load(Ordering::SeqCst), 1, "{b:?}");
        let (s, _, text) = post_login_raw(&app, ContentType::JSON, json_of(64 * 1024)).await;
        assert_eq!(s, Status::BadRequest, "{b:?} 64 KiB: {}", show(&text));
        assert_eq!(failed.load(Ordering::SeqCst), 2, "{b:?}");
        eprintln!(
            "{b:?}: {} malformed bodies rejected",
            bodies.len() + 2 * others.len()
        );
    }
}

// ---- 5. database unreachable (Z3, O4) ----

/// No SQL, driver, path or internal detail in a body shown to clients.
fn assert_generic(body: &str, what: &str) {
    for leak in [
        "sqlx",
        "sqlite",
        "SQLite",
        "postgres",
        "mysql",
        "SELECT",
        "select",
        "pool",
        "Pool",
        "closed",
        "datastore",
        "Datastore",
        "/tmp",
        ".db",
        "security-tests",
        "panicked",
        "src/",
    ] {
        assert!(!body.contains(leak), "{what}: body leaks {leak:?}: {body}");
    }
}

#[rocket::async_test]
async fn unreachable_database_is_503_with_a_generic_body() {
    for b in backends() {
        let app = TestApp::with_user(b, EMAIL, PASSWORD).await;
        let token = app.token_login(EMAIL, PASSWORD).await;
        let user_session = session_cookie(&app);
        logout(&app).await;
        let csrf = app.csrf().await;

        close_pool(&app.client, b).await;

        // Token, session and Basic authentication each need the datastore.
        for uri in ["/token", "/multi"] {
            let r = app.get_with_token(uri, &token).await;
            json_503(r, format!("{b:?} {uri}")).await;
        }
        let r = with_session(&app, "/profile", true, user_session.clone()).await;
        json_503(r, format!("{b:?} /profile json")).await;
        let r = with_session(&app, "/profile", false, user_session.clone()).await;
        text_503(r, format!("{b:?} /profile html")).await;
        let r = app
            .client
            .get("/http")
            .header(basic(EMAIL, PASSWORD))
            .dispatch()
            .await;
        text_503(r, format!("{b:?} /http")).await;
        // GET /login as a signed-in session must look the user up.
        let r = with_session(&app, "/login", true, user_session.clone()).await;
        json_503(r, format!("{b:?} GET /login")).await;

        // The login flow itself: a generic message plus an error id for the logs.
        let body = json!({"email": EMAIL, "password": PASSWORD, "csrf_token": csrf});
        let (s, ct, text) = post_login_raw(&app, ContentType::JSON, body.to_string()).await;
        assert_eq!(s, Status::ServiceUnavailable, "{b:?} POST /login: {text}");
        assert_eq!(ct, Some(ContentType::JSON));
        assert_generic(&text, "POST /login");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["meta"], json!({"code": 503}));
        let errors = v["response"]["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{v}");
        assert_eq!(v["response"].as_object().unwrap().len(), 1, "{v}");
        assert_error_id(errors[0].as_str().unwrap());
        let form = format!("email=matt%40lp.com&password={PASSWORD}&csrf_token={csrf}");
        let (s, ct, text) = post_login_raw(&app, ContentType::Form, form).await;
        assert_eq!(
            s,
            Status::ServiceUnavailable,
            "{b:?} form POST /login: {text}"
        );
        assert_eq!(ct, Some(ContentType::Plain));
        assert_generic(&text, "form POST /login");
        assert_error_id(&text);

        // Routes that need no datastore still answer.
        let r = app.client.get("/").dispatch().await;
        assert_eq!(r.status(), Status::Ok);
        let r = app.get_json("/profile").await;
        assert_eq!(
            r.status(),
            Status::Unauthorized,
            "{b:?} anonymous needs no lookup"
        );
    }
}

async fn json_503(r: LocalResponse<'_>, what: String) {
    assert_eq!(r.status(), Status::ServiceUnavailable, "{what}");
    assert_eq!(r.content_type(), Some(ContentType::JSON), "{what}");
    let body = r.into_string().await.unwrap();
    assert_generic(&body, &what);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v, envelope(503, &[UNAVAILABLE]), "{what}");
}

async fn text_503(r: LocalResponse<'_>, what: String) {
    assert_eq!(r.status(), Status::ServiceUnavailable, "{what}");
    assert_eq!(r.content_type(), Some(ContentType::Plain), "{what}");
    let body = r.into_string().await.unwrap();
    assert_generic(&body, &what);
    assert_eq!(body, UNAVAILABLE, "{what}");
}

/// `"<generic message> (error id 0123abcd)"`.
fn assert_error_id(msg: &str) {
    let id = msg
        .strip_prefix(UNAVAILABLE)
        .and_then(|s| s.strip_prefix(" (error id "))
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not a generic 503 message: {msg}"));
    assert_eq!(id.len(), 8, "{msg}");
    assert!(id.bytes().all(|c| c.is_ascii_hexdigit()), "{msg}");
}

// ---- 6. Cache-Control and routes the security layer does not own (O4) ----

#[rocket::async_test]
async fn cache_control_on_security_endpoints_only() {
    for b in backends() {
        let app = TestApp::with_user(b, EMAIL, PASSWORD).await;
        let cc = |r: &LocalResponse<'_>| r.headers().get_one("Cache-Control").map(str::to_owned);
        let no_store = Some("private, no-store".to_owned());
        let check = |r: &LocalResponse<'_>, status: Status, what: &str| {
            let expected = (status, no_store.clone());
            assert_eq!((r.status(), cc(r)), expected, "{b:?} {what}");
        };
        let raw_login = |body: Vec<u8>| {
            let login = app.client.post("/login").header(ContentType::JSON);
            login.body(body).dispatch()
        };

        check(
            &app.client.get("/login").dispatch().await,
            Status::Ok,
            "GET /login html",
        );
        check(&app.get_json("/login").await, Status::Ok, "GET /login");
        let csrf = app.csrf().await;
        let wrong = json!({"email": EMAIL, "password": "wrong-password"});
        let r = app.post_json("/login", wrong).await;
        check(&r, Status::BadRequest, "failed login");
        let r = raw_login(b"{".to_vec()).await;
        check(&r, Status::BadRequest, "malformed login");
        let r = raw_login(vec![b' '; 64 * 1024 + 1]).await;
        check(&r, Status::PayloadTooLarge, "413 login");
        let right = json!({"email": EMAIL, "password": PASSWORD, "csrf_token": csrf});
        check(&app.post_json("/login", right).await, Status::Ok, "login");
        let r = app.post_json("/logout", json!({})).await;
        check(&r, Status::Ok, "logout json");
        let r = app.client.post("/logout").dispatch().await;
        check(&r, Status::Found, "logout html");

        // Unguarded application routes are left alone; guarded ones, whose answer
        // depends on who asks, are never kept by a shared cache (denials included).
        let r = app.client.get("/").dispatch().await;
        assert_eq!((r.status(), cc(&r)), (Status::Ok, None), "{b:?} /");
        assert_eq!(r.into_string().await.unwrap(), "index");
        let r = app.get_json("/profile").await;
        check(&r, Status::Unauthorized, "/profile");

        // Unknown routes: exactly what Rocket answers without the security layer.
        let bare = Client::untracked(rocket::custom(security_tests::test_figment(
            "sqlite::memory:",
        )))
        .await
        .unwrap();
        for (uri, json) in [
            ("/nope", false),
            ("/nope", true),
            ("/login/extra", true),
            ("/logout/x", false),
        ] {
            let (mine, plain) = if json {
                (
                    app.client
                        .get(uri)
                        .header(ContentType::JSON)
                        .dispatch()
                        .await,
                    bare.get(uri).header(ContentType::JSON).dispatch().await,
                )
            } else {
                (
                    app.client.get(uri).dispatch().await,
                    bare.get(uri).dispatch().await,
                )
            };
            let what = format!("{b:?} {uri} json={json}");
            assert_eq!(mine.status(), Status::NotFound, "{what}");
            assert_eq!(cc(&mine), None, "{what}");
            assert_eq!(mine.headers().get_one("Set-Cookie"), None, "{what}");
            assert_eq!(mine.content_type(), plain.content_type(), "{what}");
            assert_eq!(
                mine.into_string().await.unwrap(),
                plain.into_string().await.unwrap(),
                "{what}"
            );
        }
        // GET /logout exists only to answer 405, as Flask does for a POST-only route.
        let r = app.client.get("/logout").dispatch().await;
        assert_eq!(
            r.status(),
            Status::MethodNotAllowed,
            "{b:?} GET /logout is not a logout method"
        );
        assert_eq!(
            cc(&r).as_deref(),
            Some("private, no-store"),
            "{b:?} GET /logout"
        );
    }
}
