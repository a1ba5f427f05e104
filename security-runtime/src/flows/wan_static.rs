//! The passkey pages' script, served at `static_folder_url` + `/js/webauthn.js`.
//!
//! Parity: Flask-Security's `/fs-static/js/webauthn.js` (our own script).

use rocket::http::ContentType;

const WEBAUTHN_JS: &str = include_str!("../../static/js/webauthn.js");

/// `GET <static_folder_url>/js/webauthn.js`.
#[rocket::get("/js/webauthn.js")]
pub fn webauthn_js() -> (ContentType, &'static str) {
    (ContentType::JavaScript, WEBAUTHN_JS)
}
