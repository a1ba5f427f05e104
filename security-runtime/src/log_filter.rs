//! A logger that masks secrets in log lines: `auth_token` query values and the tokens of
//! mailed links (`/reset/<token>`, `/confirm/<token>`, `/change-email/<token>`,
//! `/tf-setup/<token>`).
//!
//! Rocket logs every request line (`GET /reset/<token>?...`) at its default level. Install
//! [`MaskingLogger`] before launching and those lines, like every other record, are written
//! with the secrets replaced by `***`:
//!
//! ```no_run
//! let figment = rocket::Config::figment();
//! let cfg = security_runtime::SecurityConfig::from_figment(&figment).unwrap();
//! security_runtime::log_filter::MaskingLogger::new(&cfg, log::LevelFilter::Info)
//!     .install()
//!     .ok();
//! ```
//!
//! Rocket then keeps this logger (it only installs its own when none is set).

use std::io::Write;
use std::sync::Arc;

use crate::config::SecurityConfig;

/// Where masked lines go.
pub type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// What to mask: the auth-token query key and the URL prefixes followed by a token.
#[derive(Debug, Clone)]
pub struct Masks {
    token_markers: [String; 2],
    link_prefixes: Vec<String>,
}

impl Masks {
    /// The masks of `cfg`: `token_authentication_key` and the link URLs of the flows.
    pub fn new(cfg: &SecurityConfig) -> Self {
        let with_slash = |u: &str| {
            let u = cfg.url(u);
            if u.ends_with('/') {
                u
            } else {
                format!("{u}/")
            }
        };
        Masks {
            token_markers: ["?", "&"].map(|c| format!("{c}{}=", cfg.token_authentication_key)),
            link_prefixes: [
                &cfg.reset_url,
                &cfg.confirm_url,
                &cfg.change_email_url,
                &cfg.two_factor_setup_url,
            ]
            .into_iter()
            .map(|u| with_slash(u))
            .collect(),
        }
    }

    /// `line` with every secret replaced by `***`.
    pub fn apply(&self, line: &str) -> String {
        let mut out = line.to_owned();
        for k in &self.token_markers {
            out = mask_after(&out, k, |c| {
                c == '&' || c == '#' || c == ':' || c.is_whitespace() || c == '\u{1b}'
            });
        }
        for p in &self.link_prefixes {
            out = mask_after(&out, p, |c| {
                c == '/' || c == '?' || c == '#' || c == ':' || c.is_whitespace() || c == '\u{1b}'
            });
        }
        out
    }
}

/// Replaces what follows each `marker` (up to `end`) with `***`.
fn mask_after(line: &str, marker: &str, end: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find(marker) {
        out.push_str(&rest[..i + marker.len()]);
        let after = &rest[i + marker.len()..];
        let len = after.find(&end).unwrap_or(after.len());
        // A route pattern (`/reset/<token>`, as Rocket lists its routes) is no secret.
        if after.starts_with('<') {
            out.push_str(&after[..len]);
        } else if len > 0 {
            out.push_str("***");
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// A `log` logger writing masked records to standard output (or a [`Sink`]).
pub struct MaskingLogger {
    masks: Masks,
    level: log::LevelFilter,
    sink: Option<Sink>,
}

impl MaskingLogger {
    /// A logger for `cfg`'s secrets at `level`.
    pub fn new(cfg: &SecurityConfig, level: log::LevelFilter) -> Self {
        MaskingLogger {
            masks: Masks::new(cfg),
            level,
            sink: None,
        }
    }

    /// Sends masked lines to `sink` instead of standard output.
    pub fn sink(mut self, sink: Sink) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Makes this the process's logger (fails when one is set already).
    pub fn install(self) -> Result<(), log::SetLoggerError> {
        let level = self.level;
        log::set_boxed_logger(Box::new(self))?;
        log::set_max_level(level);
        Ok(())
    }
}

impl log::Log for MaskingLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = self.masks.apply(&record.args().to_string());
        match &self.sink {
            Some(s) => s(&line),
            None => {
                let _ = writeln!(std::io::stdout(), "{}: {line}", record.level());
            }
        }
    }

    fn flush(&self) {
        let _ = std::io::stdout().flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_in_queries_and_link_paths_are_masked() {
        let m = Masks::new(&SecurityConfig::default());
        assert_eq!(
            m.apply("GET /token?auth_token=WyJ1I.abc-def&x=1:"),
            "GET /token?auth_token=***&x=1:"
        );
        assert_eq!(m.apply("GET /reset/eyJhbGc.x_y:"), "GET /reset/***:");
        assert_eq!(
            m.apply("POST /confirm/abc?next=/x"),
            "POST /confirm/***?next=/x"
        );
        assert_eq!(
            m.apply("POST /tf-setup/tok application/json"),
            "POST /tf-setup/*** application/json"
        );
        assert_eq!(
            m.apply("GET /change-email/t1 and /reset/t2"),
            "GET /change-email/*** and /reset/***"
        );
        // Nothing to mask: unchanged, including the bare prefixes.
        assert_eq!(m.apply("GET /reset:"), "GET /reset:");
        assert_eq!(m.apply("GET /reset/<token> [1]"), "GET /reset/<token> [1]");
        assert_eq!(m.apply("GET /x?auth_token=abc:"), "GET /x?auth_token=***:");
        assert_eq!(
            m.apply("GET /profile?auth_token="),
            "GET /profile?auth_token="
        );
    }

    #[test]
    fn a_url_prefix_and_custom_key_are_followed() {
        let cfg = SecurityConfig {
            url_prefix: "/auth".into(),
            token_authentication_key: "t".into(),
            ..SecurityConfig::default()
        };
        let m = Masks::new(&cfg);
        assert_eq!(
            m.apply("GET /auth/reset/abc?t=zz"),
            "GET /auth/reset/***?t=***"
        );
        assert_eq!(m.apply("GET /x?next=/y&t=zz"), "GET /x?next=/y&t=***");
    }
}
