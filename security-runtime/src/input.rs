//! Request bodies of the security endpoints: JSON or form, same field names.
//!
//! Parity: `_build_form_from_request` (JSON when the request is JSON and the body is not
//! empty, else form data) and the 5.9 `IsString` validator: a non-string JSON value for a
//! string field is `API_ERROR`.

use rocket::data::{self, Data, FromData, ToByteUnit};
use rocket::http::Status;
use rocket::request::Request;
use serde_json::{Map, Value};

use crate::guards::deny;
use crate::responses::Denial;

/// Largest body the security endpoints read. Anything bigger is refused with 413 before
/// any parsing or hashing.
pub const MAX_BODY: u64 = 64 * 1024;

/// A parsed security form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FormInput {
    fields: Map<String, Value>,
    /// Every value of a form field sent more than once (a multiple choice).
    repeated: std::collections::BTreeMap<String, Vec<String>>,
    /// True when the body was JSON.
    pub is_json: bool,
}

/// A field value that is present but not a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAString;

impl FormInput {
    /// A string field; `Ok(None)` when absent or null, `Err` when another JSON type.
    pub fn str(&self, name: &str) -> Result<Option<&str>, NotAString> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(NotAString),
        }
    }

    /// A code field: a string, or a JSON integer zero-padded to six digits as passlib
    /// reads an integer token.
    ///
    /// Parity: `IsStringOrInt`, passlib `TOTP.normalize_token`.
    pub fn code(&self, name: &str) -> Result<Option<String>, NotAString> {
        match self.fields.get(name) {
            Some(Value::Number(n)) => n
                .as_u64()
                .map(|n| Some(format!("{n:06}")))
                .ok_or(NotAString),
            _ => self.str(name).map(|v| v.map(str::to_owned)),
        }
    }

    /// A list field (a multiple choice): a JSON array of strings or one string, or
    /// every value of a repeated form field. `Err` when a JSON value is another type.
    pub fn list(&self, name: &str) -> Result<Vec<String>, NotAString> {
        if let Some(all) = self.repeated.get(name) {
            return Ok(all.clone());
        }
        match self.fields.get(name) {
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or(NotAString))
                .collect(),
            _ => Ok(self.str(name)?.map(str::to_owned).into_iter().collect()),
        }
    }

    /// A boolean field: JSON `true`/`false`, or the form values WTForms accepts.
    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.fields.get(name)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) => Some(!matches!(
                s.to_ascii_lowercase().as_str(),
                "" | "false" | "0" | "n" | "no" | "off"
            )),
            Value::Number(n) => Some(n.as_f64() != Some(0.0)),
            _ => None,
        }
    }
}

fn parse_form(body: &str) -> FormInput {
    let mut m = Map::new();
    let mut all: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (k, v) in url::form_urlencoded::parse(body.as_bytes()) {
        all.entry(k.to_string()).or_default().push(v.to_string());
        // First value wins, as WTForms reads `getlist()[0]`.
        m.entry(k.into_owned())
            .or_insert(Value::String(v.into_owned()));
    }
    all.retain(|_, v| v.len() > 1);
    FormInput {
        fields: m,
        repeated: all,
        is_json: false,
    }
}

#[rocket::async_trait]
impl<'r> FromData<'r> for FormInput {
    type Error = Denial;

    async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        let bytes = match data.open(MAX_BODY.bytes()).into_bytes().await {
            Ok(b) if b.is_complete() => b.into_inner(),
            Ok(_) => return to_data(req, Denial::PayloadTooLarge),
            Err(_) => return to_data(req, Denial::BadRequest(crate::messages::API_ERROR)),
        };
        let json = req
            .content_type()
            .is_some_and(|ct| ct.is_json() || ct.sub().as_str().ends_with("+json"));
        if json && !bytes.is_empty() {
            return match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(fields)) => data::Outcome::Success(FormInput {
                    fields,
                    repeated: Default::default(),
                    is_json: true,
                }),
                _ => to_data(req, Denial::BadRequest(crate::messages::API_ERROR)),
            };
        }
        let Ok(text) = std::str::from_utf8(&bytes) else {
            return to_data(req, Denial::BadRequest(crate::messages::API_ERROR));
        };
        data::Outcome::Success(FormInput {
            is_json: json,
            ..parse_form(text)
        })
    }
}

fn to_data<'r>(req: &Request<'_>, d: Denial) -> data::Outcome<'r, FormInput> {
    match deny::<()>(req, d) {
        rocket::outcome::Outcome::Error((s, d)) => data::Outcome::Error((s, d)),
        _ => data::Outcome::Error((Status::BadRequest, Denial::BadRequest(""))),
    }
}
