//! `next` handling: open-redirect checks.
//!
//! Parity: `validate_redirect_url` and `_get_post_action_redirect`. Stricter where
//! browsers are lenient: a same-host target is always answered as a path that starts
//! with exactly one `/`, so no spelling of `//evil.com` survives.

use url::Url;

use crate::config::SecurityConfig;

/// Why a `next` value is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidRedirect;

fn host_allowed(cfg: &SecurityConfig, host: &str, request_host: Option<&str>) -> bool {
    let host = host.to_ascii_lowercase();
    if request_host.is_some_and(|h| h.eq_ignore_ascii_case(&host)) {
        return true;
    }
    if cfg.redirect_allow_subdomains {
        if let Some(server) = cfg.server_name.as_deref() {
            let server = server.to_ascii_lowercase();
            let server_host = server.split(':').next().unwrap_or("");
            if host == server_host || host.ends_with(&format!(".{server_host}")) {
                return true;
            }
        }
    }
    if let Some(base) = cfg.redirect_base_domain.as_deref() {
        let base = base.to_ascii_lowercase();
        return cfg.redirect_allowed_subdomains.iter().any(|sub| {
            if sub == "." {
                host == base
            } else {
                host == format!("{}.{base}", sub.to_ascii_lowercase())
            }
        });
    }
    false
}

/// Checks `next` and returns the URL to send in `Location`.
///
/// `request_host` is the host (with port) the request was made to. Same-host targets
/// come back as a path (`/a?b#c`); allowed external hosts as an absolute URL.
pub fn validate_redirect_url(
    cfg: &SecurityConfig,
    next: &str,
    request_host: Option<&str>,
) -> Result<String, InvalidRedirect> {
    if next.is_empty()
        || next.len() > 2048
        || next != next.trim()
        || next.chars().any(|c| c.is_control() || c == '\\')
    {
        return Err(InvalidRedirect);
    }
    let origin = format!("http://{}/", request_host.unwrap_or("localhost.invalid"));
    let base = Url::parse(&origin).map_err(|_| InvalidRedirect)?;
    let has_scheme = next
        .split_once(':')
        .is_some_and(|(s, _)| !s.is_empty() && !s.contains('/') && !s.contains('?'));
    let parsed = if has_scheme || next.starts_with("//") {
        Url::parse(&if next.starts_with("//") {
            format!("http:{next}")
        } else {
            next.to_owned()
        })
        .map_err(|_| InvalidRedirect)?
    } else {
        base.join(next).map_err(|_| InvalidRedirect)?
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(InvalidRedirect);
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(InvalidRedirect);
    }
    // Text after the scheme must start with `//` for an absolute URL (`https:evil.com`,
    // `http:///evil.com` are refused as browsers read them differently).
    if has_scheme {
        let rest = &next[next.find(':').map_or(0, |i| i + 1)..];
        if !rest.starts_with("//") || rest.starts_with("///") {
            return Err(InvalidRedirect);
        }
    }
    let host = parsed.host_str().ok_or(InvalidRedirect)?;
    let host_port = match parsed.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let same = !has_scheme && !next.starts_with("//")
        || request_host.is_some_and(|h| h.eq_ignore_ascii_case(&host_port));
    if same {
        let mut out = parsed.path().to_owned();
        if out.starts_with("//") {
            return Err(InvalidRedirect);
        }
        if let Some(q) = parsed.query() {
            out.push('?');
            out.push_str(q);
        }
        if let Some(f) = parsed.fragment() {
            out.push('#');
            out.push_str(f);
        }
        return Ok(out);
    }
    if host_allowed(cfg, host, None) {
        return Ok(parsed.to_string());
    }
    Err(InvalidRedirect)
}

/// The redirect after an action: a valid `next` (form, then query), else `fallback`.
pub fn post_action_redirect(
    cfg: &SecurityConfig,
    candidates: &[Option<&str>],
    fallback: &str,
    request_host: Option<&str>,
) -> String {
    candidates
        .iter()
        .flatten()
        .find_map(|n| validate_redirect_url(cfg, n, request_host).ok())
        .unwrap_or_else(|| fallback.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVIL: &[&str] = &[
        "\\\\\\evil.com",
        " //evil.com",
        "/\\evil.com",
        "\\/evil.com",
        "//evil.com",
        "\t//evil.com",
        "http:///evil.com",
        "https://evil.com",
        "https:evil.com",
        "https://u:p@evil.com",
        "https://evil.com\\.app.com",
        "javascript:alert(1)",
        "http:999999999",
    ];

    #[test]
    fn r1_vectors_never_leave_the_origin() {
        let cfg = SecurityConfig::default();
        for v in EVIL {
            assert!(
                validate_redirect_url(&cfg, v, Some("app.com")).is_err(),
                "{v:?} accepted"
            );
        }
        // These parse as same-origin paths: they must stay paths with one leading slash.
        for v in ["%5C%5Cevil.com", "/%2F/evil.com", "／／evil.com"] {
            let out = validate_redirect_url(&cfg, v, Some("app.com")).expect(v);
            assert!(
                out.starts_with('/') && !out.starts_with("//"),
                "{v:?} -> {out}"
            );
            assert!(!out.contains("evil.com/"), "{v:?} -> {out}");
        }
    }

    #[test]
    fn same_origin_paths_pass() {
        let cfg = SecurityConfig::default();
        assert_eq!(
            validate_redirect_url(&cfg, "/profile?x=1", Some("app.com")),
            Ok("/profile?x=1".into())
        );
        assert_eq!(
            validate_redirect_url(&cfg, "http://app.com/p", Some("app.com")),
            Ok("/p".into())
        );
    }

    #[test]
    fn subdomains_only_when_configured() {
        let mut cfg = SecurityConfig::default();
        assert!(validate_redirect_url(&cfg, "http://sub.app.com/x", Some("app.com")).is_err());
        cfg.redirect_allow_subdomains = true;
        cfg.server_name = Some("app.com".into());
        assert!(validate_redirect_url(&cfg, "http://sub.app.com/x", Some("app.com")).is_ok());
        assert!(validate_redirect_url(&cfg, "http://subapp.com/x", Some("app.com")).is_err());
    }
}
