//! The HTML pages of the security endpoints: minijinja templates with Flask-Security's
//! names (`security/login_user.html`, ...), built in and overridable.
//!
//! Applications replace pages through [`crate::Security::template`] (which documents the
//! context every page gets) or `templates_dir`.
//!
//! Parity: Flask-Security's page templates and `*_TEMPLATE` settings.

use std::path::Path;
use std::sync::Arc;

use minijinja::{AutoEscape, Environment};
use serde_json::Value;

use crate::config::SecurityConfig;
use crate::messages::Catalog;

macro_rules! builtins {
    ($($name:literal),* $(,)?) => {
        &[$(
            (
                concat!("security/", $name),
                include_str!(concat!("../templates/security/", $name)),
            ),
        )*]
    };
}

/// The built-in pages and partials: `(name, source)`.
const BUILTINS: &[(&str, &str)] = builtins![
    "base.html",
    "_macros.html",
    "_messages.html",
    "_menu.html",
    "_style.css",
    "login_user.html",
    "register_user.html",
    "forgot_password.html",
    "reset_password.html",
    "change_password.html",
    "send_confirmation.html",
    "change_email.html",
    "change_username.html",
    "recover_username.html",
    "two_factor_setup.html",
    "two_factor_verify_code.html",
    "two_factor_select.html",
    "mf_recovery_codes.html",
    "mf_recovery.html",
    "verify_user.html",
    "us_signin.html",
    "us_setup.html",
    "us_verify.html",
    "send_login.html",
    "wan_register.html",
    "wan_signin.html",
    "wan_verify.html",
];

/// An override larger than this is refused: a page template is a few kilobytes.
const MAX_TEMPLATE_BYTES: u64 = 256 * 1024;

/// The page templates, compiled once at launch.
#[derive(Debug)]
pub struct Pages {
    env: Environment<'static>,
}

impl Pages {
    /// The built-in pages, replaced by `templates_dir/security/*` files and then by
    /// `in_code` `(name, source)` pairs. A syntax error in a replacement stops launch
    /// with the file named.
    pub fn new(
        cfg: &SecurityConfig,
        catalog: Arc<Catalog>,
        in_code: &[(String, String)],
    ) -> Result<Pages, String> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(crate::mail::templates::markupsafe_formatter);
        env.add_function("_", crate::mail::templates::gettext(catalog.clone()));
        env.add_function("_fsdomain", crate::mail::templates::gettext(catalog));
        for (name, source) in BUILTINS {
            env.add_template(name, source)
                .map_err(|e| format!("built-in page `{name}`: {e}"))?;
        }
        if let Some(dir) = cfg.templates_dir.as_deref().filter(|d| !d.is_empty()) {
            load_folder(&mut env, Path::new(dir))?;
        }
        for (name, source) in in_code {
            env.add_template_owned(name.clone(), source.clone())
                .map_err(|e| format!("page template `{name}`: {e}"))?;
        }
        Ok(Pages { env })
    }

    /// Renders `security/<page>.html` with `context`.
    pub fn render(&self, page: &str, context: &Value) -> Result<String, String> {
        let name = format!("security/{page}.html");
        self.env
            .get_template(&name)
            .and_then(|t| t.render(context))
            .map_err(|e| format!("page `{name}`: {e:#}"))
    }
}

/// Adds every `<dir>/security/<name>.html|.css` as `security/<name>...`.
fn load_folder(env: &mut Environment<'static>, dir: &Path) -> Result<(), String> {
    let pages = dir.join("security");
    let io = |e: std::io::Error| format!("`security.templates_dir` {}: {e}", pages.display());
    if !dir.is_dir() {
        return Err(format!(
            "`security.templates_dir` {} is not a folder",
            dir.display()
        ));
    }
    if !pages.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(&pages).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let Some(file) = path.file_name().and_then(|f| f.to_str()).map(str::to_owned) else {
            continue;
        };
        if !(file.ends_with(".html") || file.ends_with(".css")) || !path.is_file() {
            continue;
        }
        let source = read_bounded(&path).map_err(io)?.ok_or_else(|| {
            format!(
                "{} is larger than {MAX_TEMPLATE_BYTES} bytes",
                path.display()
            )
        })?;
        env.add_template_owned(format!("security/{file}"), source)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// A file's text, or `None` when it is larger than [`MAX_TEMPLATE_BYTES`]; reads at most
/// one byte past the limit, so a file that grows meanwhile is still caught.
fn read_bounded(path: &Path) -> std::io::Result<Option<String>> {
    use std::io::Read;
    let mut source = String::new();
    std::fs::File::open(path)?
        .take(MAX_TEMPLATE_BYTES + 1)
        .read_to_string(&mut source)?;
    Ok((source.len() as u64 <= MAX_TEMPLATE_BYTES).then_some(source))
}
