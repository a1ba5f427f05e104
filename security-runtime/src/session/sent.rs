//! The session cookie a request sent, as [`super::ServerStore`] reads it: decrypted once
//! per cookie text.
//!
//! A signed-in browser sends the same private cookie, `sid:<id>`, with every request.
//! Decrypting it (base64, an AES-GCM key schedule, the tag) and hashing the id into the
//! key its row is stored under was 3.8 % of a session request's server CPU. Decryption
//! is a function of the key and the text, so the text a store has decrypted once names
//! the same id the next time: a pure memo, like the session data's. Whether the session
//! is still good (its row, its age, the user behind it) is decided on every request
//! after this. Texts that do not decrypt, and sessions kept in the cookie itself
//! (anonymous ones), are not kept.

use std::sync::Arc;

use rocket::http::CookieJar;

use super::CookieStore;
use crate::hashing::sha256_hex;
use crate::memo::TextMemo;

/// What marks a session cookie that holds a stored session's id.
pub(super) const ID_PREFIX: &str = "sid:";

/// A stored session's id, as the browser's cookie names it, and the digest of the id that
/// the session is stored under.
#[derive(Debug)]
pub(super) struct SessionId {
    pub(super) id: Box<str>,
    pub(super) key: String,
}

/// What a request's session cookie holds.
pub(super) enum Sent {
    /// No session cookie, or one that does not decrypt.
    Nothing,
    /// A stored session's id.
    Id(Arc<SessionId>),
    /// A session kept in the cookie itself (its JSON).
    Data(String),
}

/// Session cookie texts and the ids they decrypt to, [`MEMO_BYTES`] in all. One per
/// store, and so per application: the texts were decrypted with its secret key.
pub(super) struct SentIds(TextMemo<Arc<SessionId>>);

/// Bytes the memo's entries weigh at most in all.
const MEMO_BYTES: usize = 4 * 1024 * 1024;
/// Longest cookie text the memo keeps (a `sid:` cookie's is 100 bytes).
const ENTRY_MAX: usize = 256;
/// What an entry costs besides its text, id and key (the slot, the table, the `Arc`).
const ENTRY_OVERHEAD: usize = 128;

impl SentIds {
    pub(super) fn new() -> Self {
        SentIds(TextMemo::new(MEMO_BYTES, ENTRY_MAX, |text, id| {
            text.len() + id.id.len() + id.key.len() + ENTRY_OVERHEAD
        }))
    }

    /// What the session cookie of `jar` (named by `cookie`) holds.
    pub(super) fn read(&self, cookie: &CookieStore, jar: &CookieJar<'_>) -> Sent {
        let Some(text) = jar.get(cookie.name()) else {
            return Sent::Nothing;
        };
        if let Some(id) = self.0.get(text.value()) {
            return Sent::Id(id);
        }
        let Some(raw) = cookie.read_raw(jar) else {
            return Sent::Nothing;
        };
        #[cfg(test)]
        crate::memo::count_decode();
        match raw.strip_prefix(ID_PREFIX) {
            Some(id) => {
                let id = Arc::new(SessionId {
                    key: sha256_hex(id),
                    id: id.into(),
                });
                self.0.keep(text.value(), Arc::clone(&id));
                Sent::Id(id)
            }
            None => Sent::Data(raw),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecurityConfig;
    use crate::memo::decoded as decryptions;
    use rocket::http::Cookie;
    use rocket::local::blocking::Client;

    fn client(key: &str) -> Client {
        let figment = rocket::Config::figment().merge(("secret_key", key));
        Client::untracked(rocket::custom(figment)).expect("client")
    }

    /// The text of a session cookie holding `value`, encrypted with `client`'s key.
    fn encrypted(client: &Client, value: &str) -> String {
        let name = SecurityConfig::default().session_cookie_name;
        let req = client
            .get("/")
            .private_cookie(Cookie::new(name.clone(), value.to_owned()));
        let text = req.inner().cookies().get(&name).expect("sent").value();
        text.to_owned()
    }

    /// What `ids` reads from a request of `client` that sends the cookie text `text`.
    fn read(ids: &SentIds, client: &Client, text: &str) -> Sent {
        let store = CookieStore::new(&SecurityConfig::default());
        let cookie = Cookie::new(store.name().to_owned(), text.to_owned());
        ids.read(&store, client.get("/").cookie(cookie).inner().cookies())
    }

    fn id_of(sent: Sent) -> Option<(String, String)> {
        match sent {
            Sent::Id(id) => Some((id.id.to_string(), id.key.clone())),
            _ => None,
        }
    }

    #[test]
    fn a_text_is_decrypted_once_and_names_the_same_id() {
        let (ids, app) = (SentIds::new(), client(&"a".repeat(64)));
        let id = format!("id-{:016x}", rand::random::<u64>());
        let named = Some((id.clone(), sha256_hex(&id)));
        let text = encrypted(&app, &format!("{ID_PREFIX}{id}"));
        let before = decryptions();
        for _ in 0..3 {
            assert_eq!(id_of(read(&ids, &app, &text)), named);
        }
        assert_eq!(
            decryptions(),
            before + 1,
            "read from the memo after the first"
        );
        // Another encryption of the same id is another text, decrypted once.
        let other = encrypted(&app, &format!("{ID_PREFIX}{id}"));
        assert_ne!(other, text, "a fresh nonce");
        assert_eq!(id_of(read(&ids, &app, &other)), named);
        assert_eq!(decryptions(), before + 2);
        // Nothing is shared between ids.
        let text = encrypted(&app, &format!("{ID_PREFIX}{id}-2"));
        assert_eq!(
            id_of(read(&ids, &app, &text)).map(|n| n.0),
            Some(format!("{id}-2"))
        );
    }

    #[test]
    fn what_does_not_decrypt_or_holds_data_is_not_kept() {
        let (ids, app) = (SentIds::new(), client(&"a".repeat(64)));
        // Encrypted with another key, or with one character changed: nothing, each time.
        let foreign = encrypted(&client(&"b".repeat(64)), "sid:x");
        let mut forged = encrypted(&app, "sid:y").into_bytes();
        forged[20] = if forged[20] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).expect("ascii");
        let before = decryptions();
        for text in [&foreign, &forged, "sid:x", ""] {
            for _ in 0..2 {
                assert!(matches!(read(&ids, &app, text), Sent::Nothing), "{text}");
            }
        }
        assert_eq!(decryptions(), before);
        // A session kept in the cookie is decrypted each time.
        let json = r#"{"csrf":"abc"}"#;
        let text = encrypted(&app, json);
        for _ in 0..2 {
            assert!(matches!(read(&ids, &app, &text), Sent::Data(d) if d == json));
        }
        assert_eq!(decryptions(), before + 2);
        let none = ids.read(
            &CookieStore::new(&SecurityConfig::default()),
            app.get("/").inner().cookies(),
        );
        assert!(matches!(none, Sent::Nothing));
    }
}
