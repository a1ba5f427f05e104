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

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rocket::config::SecretKey;
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

/// Session cookie texts and the ids they decrypt to, [`MEMO_BYTES`] in all. A text is
/// only as good as the key that decrypted it, so the memo serves only a store that
/// serves one secret key ([`SentIds::serve`]): a store not told its key, or told two
/// (one store attached to applications with different keys), decrypts every time.
pub(super) struct SentIds {
    memo: TextMemo<Arc<SessionId>>,
    key: Mutex<Keys>,
    one_key: AtomicBool,
    /// Texts decrypted (not answered by the memo), counted only when one is.
    decrypted: AtomicU64,
}

/// The secret keys a store was told of.
enum Keys {
    None,
    One(SecretKey),
    Several,
}

/// Bytes the memo's entries weigh at most in all.
const MEMO_BYTES: usize = 4 * 1024 * 1024;
/// Longest cookie text the memo keeps (a `sid:` cookie's is 100 bytes).
const ENTRY_MAX: usize = 256;
/// What an entry costs besides its text, id and key (the slot, the table, the `Arc`).
const ENTRY_OVERHEAD: usize = 128;

impl SentIds {
    pub(super) fn new() -> Self {
        SentIds {
            memo: TextMemo::new(MEMO_BYTES, ENTRY_MAX, |text, id| {
                text.len() + id.id.len() + id.key.len() + ENTRY_OVERHEAD
            }),
            key: Mutex::new(Keys::None),
            one_key: AtomicBool::new(false),
            decrypted: AtomicU64::new(0),
        }
    }

    /// Cookie texts decrypted so far: those the memo did not answer and that decrypted.
    pub(super) fn decrypted(&self) -> u64 {
        self.decrypted.load(Ordering::Relaxed)
    }

    /// Notes that the store serves an application whose cookies `key` encrypts (at
    /// lift-off, when Rocket's key is final). A second, different key turns the memo
    /// off for good.
    pub(super) fn serve(&self, key: &SecretKey) {
        let Ok(mut keys) = self.key.lock() else {
            self.one_key.store(false, Ordering::SeqCst);
            return;
        };
        *keys = match std::mem::replace(&mut *keys, Keys::Several) {
            Keys::None => Keys::One(key.clone()),
            Keys::One(k) if k == *key => Keys::One(k),
            Keys::One(_) | Keys::Several => Keys::Several,
        };
        self.one_key
            .store(matches!(*keys, Keys::One(_)), Ordering::SeqCst);
    }

    /// What the session cookie of `jar` (named by `cookie`) holds.
    pub(super) fn read(&self, cookie: &CookieStore, jar: &CookieJar<'_>) -> Sent {
        let Some(text) = jar.get(cookie.name()) else {
            return Sent::Nothing;
        };
        let memo = self.one_key.load(Ordering::Acquire).then_some(&self.memo);
        if let Some(id) = memo.and_then(|m| m.get(text.value())) {
            return Sent::Id(id);
        }
        let Some(raw) = cookie.read_raw(jar) else {
            return Sent::Nothing;
        };
        self.decrypted.fetch_add(1, Ordering::Relaxed);
        match raw.strip_prefix(ID_PREFIX) {
            Some(id) => {
                let id = Arc::new(SessionId {
                    key: sha256_hex(id),
                    id: id.into(),
                });
                if let Some(memo) = memo {
                    memo.keep(text.value(), Arc::clone(&id));
                }
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
    use rocket::http::Cookie;
    use rocket::local::blocking::Client;

    fn client(key: &str) -> Client {
        let figment = rocket::Config::figment().merge(("secret_key", key));
        Client::untracked(rocket::custom(figment)).expect("client")
    }

    /// A memo serving `client`'s application.
    fn ids_for(client: &Client) -> SentIds {
        let ids = SentIds::new();
        ids.serve(&client.rocket().config().secret_key);
        ids
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
        let app = client(&"a".repeat(64));
        let ids = ids_for(&app);
        let id = format!("id-{:016x}", rand::random::<u64>());
        let named = Some((id.clone(), sha256_hex(&id)));
        let text = encrypted(&app, &format!("{ID_PREFIX}{id}"));
        for _ in 0..3 {
            assert_eq!(id_of(read(&ids, &app, &text)), named);
        }
        assert_eq!(ids.decrypted(), 1, "read from the memo after the first");
        // Another encryption of the same id is another text, decrypted once.
        let other = encrypted(&app, &format!("{ID_PREFIX}{id}"));
        assert_ne!(other, text, "a fresh nonce");
        assert_eq!(id_of(read(&ids, &app, &other)), named);
        assert_eq!(ids.decrypted(), 2);
        // Nothing is shared between ids.
        let text = encrypted(&app, &format!("{ID_PREFIX}{id}-2"));
        assert_eq!(
            id_of(read(&ids, &app, &text)).map(|n| n.0),
            Some(format!("{id}-2"))
        );
    }

    #[test]
    fn what_does_not_decrypt_or_holds_data_is_not_kept() {
        let app = client(&"a".repeat(64));
        let ids = ids_for(&app);
        // Encrypted with another key, or with one character changed: nothing, each time.
        let foreign = encrypted(&client(&"b".repeat(64)), "sid:x");
        let mut forged = encrypted(&app, "sid:y").into_bytes();
        forged[20] = if forged[20] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).expect("ascii");
        for text in [&foreign, &forged, "sid:x", ""] {
            for _ in 0..2 {
                assert!(matches!(read(&ids, &app, text), Sent::Nothing), "{text}");
            }
        }
        assert_eq!(ids.decrypted(), 0);
        // A session kept in the cookie is decrypted each time.
        let json = r#"{"csrf":"abc"}"#;
        let text = encrypted(&app, json);
        for _ in 0..2 {
            assert!(matches!(read(&ids, &app, &text), Sent::Data(d) if d == json));
        }
        assert_eq!(ids.decrypted(), 2);
        let none = ids.read(
            &CookieStore::new(&SecurityConfig::default()),
            app.get("/").inner().cookies(),
        );
        assert!(matches!(none, Sent::Nothing));
    }

    #[test]
    fn a_store_not_told_one_key_decrypts_every_time() {
        let (a, b) = (client(&"a".repeat(64)), client(&"b".repeat(64)));
        let (text_a, text_b) = (encrypted(&a, "sid:a"), encrypted(&b, "sid:b"));
        // Not told its key: no memo.
        let unbound = SentIds::new();
        for _ in 0..2 {
            assert!(id_of(read(&unbound, &a, &text_a)).is_some());
        }
        assert_eq!(unbound.decrypted(), 2);
        // Told the same key twice: one key, the memo serves.
        let ids = ids_for(&a);
        ids.serve(&a.rocket().config().secret_key);
        assert!(id_of(read(&ids, &a, &text_a)).is_some());
        assert!(id_of(read(&ids, &a, &text_a)).is_some());
        assert_eq!(ids.decrypted(), 1);
        // Shared with an application of another key: a text that application
        // decrypted means nothing to this one, and nothing comes from the memo again.
        ids.serve(&b.rocket().config().secret_key);
        assert!(id_of(read(&ids, &b, &text_b)).is_some());
        assert!(matches!(read(&ids, &a, &text_b), Sent::Nothing));
        assert!(id_of(read(&ids, &a, &text_a)).is_some());
        assert_eq!(ids.decrypted(), 3);
        ids.serve(&a.rocket().config().secret_key);
        assert!(id_of(read(&ids, &a, &text_a)).is_some());
        assert_eq!(ids.decrypted(), 4, "off for good");
    }
}
