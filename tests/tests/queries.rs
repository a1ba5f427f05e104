//! A protected request loads its user once: the guard, the stacked role check and the
//! handler's `CurrentUser` share one `find_user` (issue: "without a second database
//! query"). Counted with a datastore wrapper around the real SQL datastore.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rocket::async_trait;
use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::Client;
use rocket::serde::json::{json, Value};
use security_runtime::datastore::{Attempts, Factor};
use security_runtime::{
    NewUser, Result, Role, SchemaStatus, Security, SqlDatastore, User, UserDatastore, UserQuery,
};
use security_tests::{demo_routes, fresh_database, test_figment, Backend};

struct Counting {
    inner: SqlDatastore,
    finds: AtomicUsize,
}

#[async_trait]
impl UserDatastore for Counting {
    async fn migrate(&self) -> Result<SchemaStatus> {
        self.inner.migrate().await
    }
    async fn schema_status(&self) -> Result<SchemaStatus> {
        self.inner.schema_status().await
    }
    async fn create_user(&self, new: NewUser) -> Result<User> {
        self.inner.create_user(new).await
    }
    async fn find_user(&self, q: &UserQuery, ci: bool) -> Result<Option<User>> {
        self.finds.fetch_add(1, Ordering::SeqCst);
        self.inner.find_user(q, ci).await
    }
    async fn delete_user(&self, user: &User) -> Result<()> {
        self.inner.delete_user(user).await
    }
    async fn put_user(&self, user: &mut User) -> Result<()> {
        self.inner.put_user(user).await
    }
    async fn put_user_if(&self, user: &mut User, expected: &str) -> Result<bool> {
        self.inner.put_user_if(user, expected).await
    }
    async fn create_role(&self, name: &str, d: Option<&str>, p: &[String]) -> Result<Role> {
        self.inner.create_role(name, d, p).await
    }
    async fn find_role(&self, name: &str) -> Result<Option<Role>> {
        self.inner.find_role(name).await
    }
    async fn all_roles(&self) -> Result<Vec<Role>> {
        self.inner.all_roles().await
    }
    async fn put_role(&self, role: &Role) -> Result<()> {
        self.inner.put_role(role).await
    }
    async fn add_role_to_user(&self, user: &mut User, role: &str) -> Result<bool> {
        self.inner.add_role_to_user(user, role).await
    }
    async fn remove_role_from_user(&self, user: &mut User, role: &str) -> Result<bool> {
        self.inner.remove_role_from_user(user, role).await
    }
    async fn claim_step(
        &self,
        user: &User,
        slot: security_runtime::datastore::CodeSlot,
        step: u64,
    ) -> Result<bool> {
        self.inner.claim_step(user, slot, step).await
    }
    async fn us_code_failures(
        &self,
        user: &User,
        op: security_runtime::datastore::CodeFailures,
        since: i64,
        now: i64,
    ) -> Result<u32> {
        self.inner.us_code_failures(user, op, since, now).await
    }
    async fn swap_recovery_codes(
        &self,
        user: &mut User,
        expected: Option<&str>,
        new: Option<&str>,
    ) -> Result<bool> {
        self.inner.swap_recovery_codes(user, expected, new).await
    }
    async fn code_failures(
        &self,
        user: &User,
        op: security_runtime::datastore::CodeFailures,
    ) -> Result<u32> {
        self.inner.code_failures(user, op).await
    }
    async fn failed_attempts(&self, user_id: i32, factor: Factor) -> Result<Attempts> {
        self.inner.failed_attempts(user_id, factor).await
    }
    async fn swap_failed_attempts(
        &self,
        user_id: i32,
        factor: Factor,
        seen: Attempts,
        next: Attempts,
    ) -> Result<bool> {
        self.inner
            .swap_failed_attempts(user_id, factor, seen, next)
            .await
    }
    async fn clear_failed_attempts(&self, user_id: i32, factor: Factor) -> Result<()> {
        self.inner.clear_failed_attempts(user_id, factor).await
    }
    async fn reset_nonce(&self, user_id: i32) -> Result<Option<String>> {
        self.inner.reset_nonce(user_id).await
    }
    async fn set_reset_nonce(&self, user_id: i32, nonce: &str) -> Result<()> {
        self.inner.set_reset_nonce(user_id, nonce).await
    }
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }

    fn session_backend(&self) -> Option<Arc<dyn security_runtime::datastore::SessionBackend>> {
        self.inner.session_backend()
    }
}

#[rocket::async_test]
async fn one_user_lookup_per_protected_request() {
    let url = fresh_database(Backend::Sqlite).await;
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let ds = Arc::new(Counting {
        inner: SqlDatastore::from(pool),
        finds: AtomicUsize::new(0),
    });
    let rocket = rocket::custom(test_figment(&url))
        .mount("/", demo_routes())
        .attach(
            Security::new()
                .datastore(ds.clone())
                .user_model::<security_tests::AppUser>(),
        );
    let client = Client::tracked(rocket).await.unwrap();
    let st = client
        .rocket()
        .state::<security_runtime::SecurityState>()
        .unwrap();
    st.datastore
        .find_or_create_role("admin", &[])
        .await
        .unwrap();
    let hash = st.hash_password("password123").await.unwrap();
    st.datastore
        .create_user(NewUser {
            email: "x@lp.com".into(),
            password: Some(hash),
            roles: vec!["admin".into()],
            ..NewUser::default()
        })
        .await
        .unwrap();
    // Log in with a token.
    let r = client
        .get("/login")
        .header(ContentType::JSON)
        .dispatch()
        .await;
    let v: Value = r.into_json().await.unwrap();
    let csrf = v["response"]["csrf_token"].as_str().unwrap().to_owned();
    let r = client
        .post("/login?include_auth_token")
        .header(ContentType::JSON)
        .body(
            json!({"email": "x@lp.com", "password": "password123", "csrf_token": csrf}).to_string(),
        )
        .dispatch()
        .await;
    let v: Value = r.into_json().await.unwrap();
    let token = v["response"]["user"]["authentication_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for (uri, by_token) in [
        ("/profile", false),
        ("/admin", false),
        ("/app_user", false),
        ("/profile", true),
        ("/admin", true),
        ("/app_user", true),
    ] {
        let before = ds.finds.load(Ordering::SeqCst);
        let mut req = client.get(uri).header(ContentType::JSON);
        if by_token {
            req = req.header(Header::new("Authentication-Token", token.clone()));
        }
        let r = req.dispatch().await;
        assert_eq!(r.status(), Status::Ok, "{uri}");
        let n = ds.finds.load(Ordering::SeqCst) - before;
        assert_eq!(
            n, 1,
            "{uri} (token: {by_token}) looked the user up {n} times"
        );
    }
}
