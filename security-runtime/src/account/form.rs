//! Field and form errors of a submitted form, still untranslated.

use serde_json::{json, Map, Value};

use crate::messages::{Catalog, Text};
use crate::state::SecurityState;

/// Field and form errors of a failed form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FormErrors {
    /// Form-level errors (serialised under the key `""`, as WTForms' form errors).
    pub form: Vec<Text>,
    /// Errors per field, in insertion order.
    pub fields: Vec<(String, Vec<Text>)>,
    /// Set when the attempt was refused for too many failures: the answer is 429 with
    /// this `Retry-After` (seconds).
    pub retry_after: Option<u64>,
}

impl FormErrors {
    /// Adds an error to a field.
    pub fn field(&mut self, name: &str, msg: impl Into<Text>) {
        let msg = msg.into();
        if let Some((_, v)) = self.fields.iter_mut().find(|(n, _)| n == name) {
            v.push(msg);
        } else {
            self.fields.push((name.to_owned(), vec![msg]));
        }
    }

    /// Adds a form-level error.
    pub fn form(&mut self, msg: impl Into<Text>) {
        self.form.push(msg.into());
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.form.is_empty() && self.fields.is_empty()
    }

    /// First message of a field.
    pub fn first(&self, name: &str) -> Option<&Text> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.first())
    }

    /// Every message, form-level first, in `locale`.
    pub fn all(&self, catalog: &Catalog, locale: &str) -> Vec<String> {
        self.form
            .iter()
            .chain(self.fields.iter().flat_map(|(_, m)| m.iter()))
            .map(|t| catalog.text(locale, t))
            .collect()
    }

    /// The error payload: `{"errors":[...],"field_errors":{...}}`.
    ///
    /// Parity: `json_error_response`.
    pub fn payload(&self, catalog: &Catalog, locale: &str) -> Value {
        let tr = |msgs: &[Text]| -> Vec<String> {
            msgs.iter().map(|m| catalog.text(locale, m)).collect()
        };
        let form = tr(&self.form);
        let mut errors: Vec<Value> = form.iter().map(|m| json!(m)).collect();
        let mut fields = Map::new();
        if !form.is_empty() {
            // Parity: Flask-Security's form-level errors (`form.form_errors`) sit under "".
            fields.insert(String::new(), json!(form));
        }
        for (name, msgs) in &self.fields {
            let msgs = tr(msgs);
            errors.extend(msgs.iter().map(|m| json!(m)));
            fields.insert(name.clone(), json!(msgs));
        }
        let mut out = Map::new();
        out.insert("errors".into(), Value::Array(errors));
        if !fields.is_empty() {
            out.insert("field_errors".into(), Value::Object(fields));
        }
        Value::Object(out)
    }
}

/// Runs `PasswordUtil::validate` into `errors` on `field_name`; the normalised password
/// when valid.
pub(crate) async fn validate_password(
    st: &SecurityState,
    password: &str,
    is_register: bool,
    inputs: &[String],
    field_name: &str,
    errors: &mut FormErrors,
) -> Option<String> {
    match st
        .password_util
        .validate(password, is_register, inputs)
        .await
    {
        Ok(p) => Some(p),
        Err(msgs) => {
            for m in msgs {
                errors.field(field_name, m);
            }
            None
        }
    }
}
