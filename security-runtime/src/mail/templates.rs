//! [`MailTemplates`]: the `security/email/*` templates, built in and overridable.

use std::path::Path;

use minijinja::value::Kwargs;
use minijinja::{AutoEscape, Environment, Output, State, Value};

use std::sync::Arc;

use super::MailError;
use crate::config::SecurityConfig;
use crate::messages::Catalog;

/// The built-in templates: `(file name, source)`.
macro_rules! builtins {
    ($($name:literal),* $(,)?) => {
        &[$(
            (
                concat!($name, ".txt"),
                include_str!(concat!("../../templates/security/email/", $name, ".txt")),
            ),
            (
                concat!($name, ".html"),
                include_str!(concat!("../../templates/security/email/", $name, ".html")),
            ),
        )*]
    };
}

const BUILTINS: &[(&str, &str)] = builtins![
    "welcome",
    "welcome_existing",
    "welcome_existing_username",
    "confirmation_instructions",
    "reset_instructions",
    "reset_notice",
    "change_notice",
    "change_email_instructions",
    "change_username_notice",
    "username_recovery",
    "two_factor_instructions",
    "two_factor_rescue",
    "two_factor_disabled",
    "recovery_code_used",
    "us_instructions",
    "login_instructions",
];

/// Overrides larger than this are refused: a mail template is a few kilobytes.
const MAX_TEMPLATE_BYTES: u64 = 256 * 1024;

/// The mail templates, compiled once at start-up.
///
/// Parity: Flask-Security's `security/email/<name>.txt|.html` templates and
/// `SECURITY_EMAIL_PLAINTEXT` / `SECURITY_EMAIL_HTML`. The built-in ones are overridden by
/// files in `<mail_templates_dir>/security/email/`; that folder may also add templates of
/// new names. `.html` templates are rendered with HTML autoescaping, `.txt` without.
/// Templates may call `_fsdomain('Hello %(email)s!', email=user.email)` as Flask-Security's
/// do (English only: the message is interpolated, not translated).
#[derive(Debug)]
pub struct MailTemplates {
    env: Environment<'static>,
}

impl MailTemplates {
    /// The built-in templates, overridden by `mail_templates_dir/security/email/<name>.txt|.html`
    /// when present. A syntax error in an override, or a `mail_templates_dir` that is not a
    /// folder, is an error here rather than at the first mail.
    pub fn new(cfg: &SecurityConfig) -> Result<Self, MailError> {
        let catalog = Catalog::load(cfg).map_err(MailError::Template)?;
        Self::with_catalog(cfg, Arc::new(catalog))
    }

    /// [`MailTemplates::new`] translating through an already loaded catalog.
    pub fn with_catalog(cfg: &SecurityConfig, catalog: Arc<Catalog>) -> Result<Self, MailError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(markupsafe_formatter);
        env.add_function("_fsdomain", gettext(catalog.clone()));
        env.add_function("_", gettext(catalog));
        for (name, source) in BUILTINS {
            env.add_template(name, source)
                .map_err(|e| MailError::Template(format!("built-in `{name}`: {e}")))?;
        }
        if let Some(dir) = cfg.mail_templates_dir.as_deref().filter(|d| !d.is_empty()) {
            load_overrides(&mut env, Path::new(dir))?;
        }
        Ok(MailTemplates { env })
    }

    /// Renders `<name>.txt` and `<name>.html` per `email_plaintext` / `email_html`.
    ///
    /// `name` is `reset_instructions` or, as in Flask-Security 5.9,
    /// `security/email/reset_instructions`. A kind that is switched off is `None`.
    pub fn render(
        &self,
        name: &str,
        ctx: &serde_json::Value,
        cfg: &SecurityConfig,
    ) -> Result<(Option<String>, Option<String>), MailError> {
        let name = name.strip_prefix("security/email/").unwrap_or(name);
        let one = |ext: &str| -> Result<String, MailError> {
            let file = format!("{name}.{ext}");
            let tmpl = self
                .env
                .get_template(&file)
                .map_err(|_| MailError::Template(format!("unknown mail template `{file}`")))?;
            tmpl.render(ctx)
                .map_err(|e| MailError::Template(format!("`{file}`: {e}")))
        };
        let text = cfg.email_plaintext.then(|| one("txt")).transpose()?;
        let html = cfg.email_html.then(|| one("html")).transpose()?;
        Ok((text, html))
    }
}

/// Adds every `<stem>.txt|.html` of `<dir>/security/email/`, replacing built-ins.
fn load_overrides(env: &mut Environment<'static>, dir: &Path) -> Result<(), MailError> {
    if !dir.is_dir() {
        return Err(MailError::Template(format!(
            "`security.mail_templates_dir` {} is not a folder",
            dir.display()
        )));
    }
    let email_dir = dir.join("security").join("email");
    if !email_dir.is_dir() {
        return Ok(());
    }
    let io = |e: std::io::Error| MailError::Template(format!("{}: {e}", email_dir.display()));
    for entry in std::fs::read_dir(&email_dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let Ok(file) = entry.file_name().into_string() else {
            continue;
        };
        let Some((stem, ext)) = file.rsplit_once('.') else {
            continue;
        };
        let valid_stem = !stem.is_empty()
            && stem
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid_stem || !matches!(ext, "txt" | "html") {
            continue;
        }
        let path = entry.path();
        let meta = std::fs::metadata(&path).map_err(io)?;
        if !meta.is_file() {
            continue;
        }
        if meta.len() > MAX_TEMPLATE_BYTES {
            return Err(MailError::Template(format!(
                "{} is larger than {MAX_TEMPLATE_BYTES} bytes",
                path.display()
            )));
        }
        let source = std::fs::read_to_string(&path).map_err(io)?;
        env.add_template_owned(file, source)
            .map_err(|e| MailError::Template(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// Escapes strings in `.html` templates as Jinja2's MarkupSafe does (`& < > " '`), so that
/// links stay readable in the HTML source (minijinja's default also escapes `/`).
pub(crate) fn markupsafe_formatter(
    out: &mut Output,
    state: &State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    match value.as_str() {
        Some(s) if state.auto_escape() == AutoEscape::Html && !value.is_safe() => {
            let mut start = 0;
            for (i, b) in s.bytes().enumerate() {
                let entity = match b {
                    b'&' => "&amp;",
                    b'<' => "&lt;",
                    b'>' => "&gt;",
                    b'"' => "&#34;",
                    b'\'' => "&#39;",
                    _ => continue,
                };
                // `i` is at an ASCII byte, so both slices end on a char boundary.
                out.write_str(&s[start..i])?;
                out.write_str(entity)?;
                start = i + 1;
            }
            out.write_str(&s[start..])?;
            Ok(())
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// `_(msgid, **kwargs)` (and its Flask-Security name `_fsdomain`): `msgid` in the
/// locale the context's `lang` names, then `%(key)s` filled from the keyword arguments.
pub(crate) fn gettext(
    catalog: Arc<Catalog>,
) -> impl Fn(&State, String, Kwargs) -> Result<String, minijinja::Error> + Send + Sync + 'static {
    move |state: &State, msgid: String, kwargs: Kwargs| {
        let lang = state.lookup("lang");
        let locale = lang.as_ref().and_then(|l| l.as_str()).unwrap_or("en");
        fsdomain(catalog.gettext(locale, &msgid).to_owned(), kwargs)
    }
}

/// `%(key)s` in `msg` becomes the value of `key`. A keyword the text does not use is
/// ignored: a translation may leave a value out.
fn fsdomain(msg: String, kwargs: Kwargs) -> Result<String, minijinja::Error> {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg.as_str();
    while let Some(start) = rest.find("%(") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find(")s") {
            Some(end) => {
                let key = &after[..end];
                let value: minijinja::Value = kwargs.get(key)?;
                out.push_str(&value.to_string());
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("%(");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_builtin_renders_both_kinds() {
        let t = MailTemplates::new(&SecurityConfig::default()).unwrap();
        let ctx = json!({
            "user": {"email": "a@example.com", "username": "ann"},
            "email": "a@example.com", "username": "ann",
            "confirmation_link": "https://x.test/confirm/TOK", "confirmation_token": "TOK",
            "reset_link": "https://x.test/reset/TOK", "reset_token": "TOK",
            "link": "https://x.test/change-email/TOK", "token": "TOK", "within": "2 days"
        });
        for (file, _) in BUILTINS.iter().step_by(2) {
            let name = file.rsplit_once('.').unwrap().0;
            let (text, html) = t.render(name, &ctx, &SecurityConfig::default()).unwrap();
            assert!(!text.unwrap().trim().is_empty(), "{name}");
            assert!(!html.unwrap().trim().is_empty(), "{name}");
        }
    }

    #[test]
    fn fsdomain_interpolates_and_html_escapes() {
        let mut env = Environment::new();
        env.add_function("_fsdomain", gettext(Arc::default()));
        let out = env
            .render_str(
                "{{ _fsdomain('Hello %(email)s, 100%(x', email=e) }}",
                json!({"e": "a@b"}),
            )
            .unwrap();
        assert_eq!(out, "Hello a@b, 100%(x");
        let t = MailTemplates::new(&SecurityConfig::default()).unwrap();
        let (_, html) = t
            .render(
                "security/email/welcome_existing",
                &json!({"user": {"email": "<b>@x"}}),
                &SecurityConfig::default(),
            )
            .unwrap();
        let html = html.unwrap();
        assert!(html.contains("Hello &lt;b&gt;@x!"), "{html}");
    }

    #[test]
    fn unknown_template_and_switched_off_kinds() {
        let t = MailTemplates::new(&SecurityConfig::default()).unwrap();
        let cfg = SecurityConfig {
            email_html: false,
            ..SecurityConfig::default()
        };
        let (text, html) = t.render("reset_notice", &json!({}), &cfg).unwrap();
        assert!(text.is_some() && html.is_none());
        assert!(matches!(
            t.render("nope", &json!({}), &cfg),
            Err(MailError::Template(_))
        ));
    }
}
