//! The session behind the `SessionStore` trait: a store that keeps sessions on the
//! server (here in memory, as a database or Redis store would) plugs in with no other
//! change, and then a session cookie copied before logout is dead after it.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rocket::http::{Cookie, CookieJar, Status};
use security_runtime::session::{Flushed, SessionData, SessionKeys, SessionStore};
use security_runtime::Security;
use security_tests::{backends, TestApp};

const SID: &str = "sid";

/// Sessions in a map; the cookie holds only an id, a new one at each sign-in and
/// sign-out (`renew`).
#[derive(Default)]
struct MemoryStore {
    rows: Mutex<HashMap<String, SessionData>>,
    flushes: Mutex<usize>,
}

#[rocket::async_trait]
impl SessionStore for MemoryStore {
    async fn load(
        &self,
        jar: &CookieJar<'_>,
    ) -> security_runtime::Result<(SessionData, Option<String>)> {
        let Some(id) = jar.get_private(SID).map(|c| c.value().to_owned()) else {
            return Ok((SessionData::default(), None));
        };
        Ok(match self.rows.lock().unwrap().get(&id).cloned() {
            Some(data) => (data, Some(id)),
            None => (SessionData::default(), None),
        })
    }

    fn save(&self, jar: &CookieJar<'_>, data: &SessionData, keys: &mut SessionKeys) {
        let id = keys
            .current
            .clone()
            .unwrap_or_else(security_runtime::datastore::new_uniquifier);
        self.rows.lock().unwrap().insert(id.clone(), data.clone());
        jar.add_private(Cookie::build((SID, id.clone())).path("/"));
        keys.current = Some(id);
    }

    fn renew(&self, jar: &CookieJar<'_>, data: &SessionData, keys: &mut SessionKeys) {
        if let Some(old) = keys.current.take() {
            self.rows.lock().unwrap().remove(&old);
        }
        self.save(jar, data, keys);
    }

    async fn flush(
        &self,
        _jar: &CookieJar<'_>,
        _data: &SessionData,
        _keys: &SessionKeys,
    ) -> security_runtime::Result<Flushed> {
        *self.flushes.lock().unwrap() += 1;
        Ok(Flushed::default())
    }
}

#[rocket::async_test]
async fn a_server_side_store_plugs_in_and_logout_ends_a_copied_session() {
    let b = backends()[0];
    let store = Arc::new(MemoryStore::default());
    let app = TestApp::with(b, |f| f, Security::new().session_store(store.clone())).await;
    app.user("matt@lp.com", "password123", &[]).await;
    let sid_now = || {
        app.client
            .cookies()
            .get_private(SID)
            .map(|c| c.value().to_owned())
    };
    // An anonymous session (the CSRF secret of `GET /login`) gets a new id at sign-in:
    // an id planted before is worth nothing after.
    app.csrf().await;
    let anonymous = sid_now().unwrap();
    assert_eq!(app.login("matt@lp.com", "password123").await.0, Status::Ok);
    assert_ne!(sid_now().unwrap(), anonymous);
    assert!(!store.rows.lock().unwrap().contains_key(&anonymous));
    // The session lives in the store; the browser holds only its id, not the default
    // session cookie.
    let sid = app
        .client
        .cookies()
        .get_private(SID)
        .unwrap()
        .value()
        .to_owned();
    let row = store.rows.lock().unwrap().get(&sid).cloned().unwrap();
    assert!(row.user_id.is_some() && row.fs_paa.is_some());
    assert!(app.client.cookies().get("session").is_none());
    assert!(*store.flushes.lock().unwrap() > 0);
    assert_eq!(app.get_json("/session").await.status(), Status::Ok);

    // Logout: a new session; the signed-in row is gone, so the id copied before is
    // worth nothing.
    app.logout().await;
    assert!(!store.rows.lock().unwrap().contains_key(&sid));
    app.client
        .cookies()
        .add_private(Cookie::build((SID, sid)).path("/"));
    assert_eq!(
        app.get_json("/session").await.status(),
        Status::Unauthorized
    );
}
