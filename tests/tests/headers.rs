//! Headers the security layer adds: denials keep Rocket Shield's security headers,
//! guarded application routes are never cached by shared caches, and security pages
//! (mailed links carry their token in the path) send no referrer.
#![allow(clippy::unwrap_used)]

use rocket::http::{Accept, Status};
use rocket::local::asynchronous::LocalResponse;
use security_tests::flows::captured;
use security_tests::{backends, TestApp};

const EMAIL: &str = "matt@lp.com";
const PASSWORD: &str = "password123";

fn header(r: &LocalResponse<'_>, name: &str) -> Option<String> {
    r.headers().get_one(name).map(str::to_owned)
}

#[rocket::async_test]
async fn denials_keep_the_security_headers() {
    for b in backends() {
        let app = TestApp::new(b).await;
        let json = app.get_json("/profile").await;
        let html = app
            .client
            .get("/profile")
            .header(Accept::HTML)
            .dispatch()
            .await;
        for (r, status) in [(json, Status::Unauthorized), (html, Status::Found)] {
            assert_eq!(r.status(), status, "{b:?}");
            assert_eq!(
                header(&r, "X-Content-Type-Options").as_deref(),
                Some("nosniff")
            );
            assert_eq!(header(&r, "X-Frame-Options").as_deref(), Some("SAMEORIGIN"));
            assert_eq!(
                header(&r, "Cache-Control").as_deref(),
                Some("private, no-store")
            );
        }
    }
}

#[rocket::async_test]
async fn guarded_routes_are_not_cached_and_security_pages_send_no_referrer() {
    for b in backends() {
        let app = TestApp::with_user(b, EMAIL, PASSWORD).await;
        app.login(EMAIL, PASSWORD).await;
        let r = app.get_json("/profile").await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        assert_eq!(
            header(&r, "Cache-Control").as_deref(),
            Some("private, no-store")
        );
        // An unguarded route is the application's business.
        let r = app.client.get("/").dispatch().await;
        assert_eq!(header(&r, "Cache-Control"), None, "{b:?}");
        assert_eq!(header(&r, "Referrer-Policy"), None, "{b:?}");

        let (app, _) = captured(b, |f| f).await;
        for page in ["/login", "/reset", "/reset/not-a-real-token"] {
            let r = app.client.get(page).header(Accept::HTML).dispatch().await;
            assert_eq!(
                header(&r, "Referrer-Policy").as_deref(),
                Some("no-referrer"),
                "{b:?} {page}"
            );
        }
    }
}
