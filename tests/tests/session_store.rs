//! The session behind the `SessionStore` trait: a store that keeps sessions on the
//! server (here in memory, as a database or Redis store would) plugs in with no other
//! change, and then a session cookie copied before logout is dead after it.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rocket::http::{Cookie, CookieJar, Status};
use security_runtime::session::{SessionData, SessionStore};
use security_runtime::Security;
use security_tests::{backends, TestApp};

const SID: &str = "sid";

/// Sessions in a map; the cookie holds only an id, a new one whenever the signed-in
/// user changes.
#[derive(Default)]
struct MemoryStore {
    rows: Mutex<HashMap<String, SessionData>>,
    flushes: Mutex<usize>,
}

#[rocket::async_trait]
impl SessionStore for MemoryStore {
    async fn load(&self, jar: &CookieJar<'_>) -> SessionData {
        jar.get_private(SID)
            .and_then(|c| self.rows.lock().unwrap().get(c.value()).cloned())
            .unwrap_or_default()
    }

    fn save(&self, jar: &CookieJar<'_>, data: &SessionData) {
        let mut rows = self.rows.lock().unwrap();
        let old = jar.get_private(SID).map(|c| c.value().to_owned());
        let same_user = old
            .as_ref()
            .and_then(|id| rows.get(id))
            .is_some_and(|row| row.user_id == data.user_id);
        if let Some(id) = &old {
            if !same_user {
                rows.remove(id);
            }
        }
        let id = match old {
            Some(id) if same_user => id,
            _ => security_runtime::datastore::new_uniquifier(),
        };
        rows.insert(id.clone(), data.clone());
        jar.add_private(Cookie::build((SID, id)).path("/"));
    }

    async fn flush(
        &self,
        _jar: &CookieJar<'_>,
        _data: &SessionData,
    ) -> security_runtime::Result<()> {
        *self.flushes.lock().unwrap() += 1;
        Ok(())
    }
}

#[rocket::async_test]
async fn a_server_side_store_plugs_in_and_logout_ends_a_copied_session() {
    let b = backends()[0];
    let store = Arc::new(MemoryStore::default());
    let app = TestApp::with(b, |f| f, Security::new().session_store(store.clone())).await;
    app.user("matt@lp.com", "password123", &[]).await;
    assert_eq!(app.login("matt@lp.com", "password123").await.0, Status::Ok);
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

    // Logout: the signed-in row is gone, so the id copied before is worth nothing.
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
