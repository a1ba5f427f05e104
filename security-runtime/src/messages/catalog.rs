//! [`Catalog`]: gettext PO translations, the application's message replacements, and
//! `%(name)s` interpolation.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use super::defaults::DEFAULTS;
use crate::config::SecurityConfig;

/// The catalogs this crate ships: `(locale, PO sources)`. English needs none: the msgids
/// are English.
const BUILTIN: &[(&str, &[&str])] = &[
    (
        "de",
        &[
            include_str!("../../translations/de/LC_MESSAGES/messages.po"),
            include_str!("../../translations/de/LC_MESSAGES/mail.po"),
            include_str!("../../translations/de/LC_MESSAGES/pages.po"),
        ],
    ),
    (
        "fr",
        &[
            include_str!("../../translations/fr/LC_MESSAGES/messages.po"),
            include_str!("../../translations/fr/LC_MESSAGES/mail.po"),
            include_str!("../../translations/fr/LC_MESSAGES/pages.po"),
        ],
    ),
];

/// A PO file larger than this is refused: a catalog is a few hundred kilobytes at most.
const MAX_PO_BYTES: u64 = 4 * 1024 * 1024;

/// A message still in English, with the values for its `%(name)s` placeholders;
/// translated when the answer is rendered, into the request's locale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// The English text (a gettext msgid, as Flask-Security's).
    pub msgid: Cow<'static, str>,
    /// Placeholder values.
    pub args: Vec<(&'static str, String)>,
}

impl Text {
    /// A text with placeholders to fill.
    pub fn new(msgid: &'static str) -> Self {
        Text {
            msgid: Cow::Borrowed(msgid),
            args: Vec::new(),
        }
    }

    /// Adds the value of `%(name)s`.
    pub fn arg(mut self, name: &'static str, value: impl ToString) -> Self {
        self.args.push((name, value.to_string()));
        self
    }

    /// The English text with its values filled in.
    pub fn english(&self) -> String {
        interpolate(&self.msgid, &self.args)
    }
}

/// The English text, values filled in (for logs and the CLI).
impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.english())
    }
}

impl From<&'static str> for Text {
    fn from(s: &'static str) -> Self {
        Text::new(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text {
            msgid: Cow::Owned(s),
            args: Vec::new(),
        }
    }
}

/// Every translation the application can answer in, and the message replacements.
///
/// Parity: Flask-Security's `_fsdomain` (Flask-Babel domain `flask_security`),
/// `I18N_DIRNAME`, `get_message` with `SECURITY_MSG_<NAME>`.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Normalised locale (`de`, `pt_br`) → msgid → translation.
    locales: HashMap<String, HashMap<String, String>>,
    /// Default English text → the application's replacement.
    overrides: HashMap<&'static str, String>,
    default_locale: String,
}

impl Catalog {
    /// Loads the catalogs `i18n_dirname` names (`"builtin"` and folders of
    /// `<locale>/LC_MESSAGES/*.po`, earlier entries winning) and the replacements of
    /// `[security.messages]`. A replacement for an unknown name, an unreadable folder or
    /// a malformed PO file is an error naming it.
    pub fn load(cfg: &SecurityConfig) -> Result<Catalog, String> {
        let mut catalog = Catalog {
            default_locale: normalise(&cfg.default_locale),
            ..Catalog::default()
        };
        // Later sources only fill what earlier ones left out.
        for entry in &cfg.i18n_dirname {
            if entry == "builtin" {
                for (locale, sources) in BUILTIN {
                    for source in *sources {
                        catalog.add_po(locale, source.as_bytes(), "built-in catalog")?;
                    }
                }
            } else {
                catalog.add_folder(Path::new(entry))?;
            }
        }
        for (name, replacement) in &cfg.messages {
            let Some((_, text, _)) = DEFAULTS.iter().find(|(n, _, _)| n == name) else {
                return Err(format!(
                    "`security.messages.{name}`: no message has that name (expected a \
                     Flask-Security name such as `INVALID_PASSWORD`)"
                ));
            };
            catalog
                .overrides
                .insert(text, replacement.text().to_owned());
        }
        Ok(catalog)
    }

    fn add_folder(&mut self, dir: &Path) -> Result<(), String> {
        let io = |e: std::io::Error| format!("`security.i18n_dirname` {}: {e}", dir.display());
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let Ok(locale) = entry.file_name().into_string() else {
                continue;
            };
            let messages = entry.path().join("LC_MESSAGES");
            if !messages.is_dir() {
                continue;
            }
            let mut files: Vec<_> = std::fs::read_dir(&messages)
                .map_err(io)?
                .filter_map(|f| f.ok().map(|f| f.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "po"))
                .collect();
            files.sort();
            for file in files {
                let meta = std::fs::metadata(&file).map_err(io)?;
                if meta.len() > MAX_PO_BYTES {
                    return Err(format!(
                        "{} is larger than {MAX_PO_BYTES} bytes",
                        file.display()
                    ));
                }
                let bytes = std::fs::read(&file).map_err(io)?;
                self.add_po(&locale, &bytes, &file.display().to_string())?;
            }
        }
        Ok(())
    }

    fn add_po(&mut self, locale: &str, source: &[u8], what: &str) -> Result<(), String> {
        let parsed = polib::po_file::parse_from_reader(source)
            .map_err(|e| format!("translations: {what}: {e}"))?;
        let table = self.locales.entry(normalise(locale)).or_default();
        for m in parsed.messages() {
            let (Ok(msgstr), false) = (m.msgstr(), m.is_fuzzy()) else {
                continue;
            };
            if !m.msgid().is_empty() && !msgstr.is_empty() {
                table
                    .entry(m.msgid().to_owned())
                    .or_insert_with(|| msgstr.to_owned());
            }
        }
        Ok(())
    }

    /// The locale used when nothing chooses another (normalised: `en`, `de`, `pt_br`).
    pub fn default_locale(&self) -> &str {
        &self.default_locale
    }

    /// The best locale this catalog has for `requested` (`de-AT` finds `de_at`, else
    /// `de`, else another `de_*`); English always; `None` for anything else.
    pub fn resolve(&self, requested: &str) -> Option<String> {
        let want = normalise(requested);
        if !well_formed(&want) {
            return None;
        }
        let language = want.split('_').next().unwrap_or(&want).to_owned();
        if self.locales.contains_key(&want) {
            return Some(want);
        }
        if language == "en" || self.locales.contains_key(&language) {
            return Some(language);
        }
        let prefix = format!("{language}_");
        let mut near: Vec<&String> = self
            .locales
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .collect();
        near.sort();
        near.first().map(|k| (*k).clone())
    }

    /// The first locale of an `Accept-Language` header (by quality, then order) that
    /// [`Catalog::resolve`] finds.
    pub fn negotiate(&self, accept_language: &str) -> Option<String> {
        // Browsers send a handful; a long list is cut rather than sorted.
        let mut ranges: Vec<(f32, usize, &str)> = accept_language
            .split(',')
            .take(MAX_LANGUAGE_RANGES)
            .enumerate()
            .filter_map(|(i, part)| {
                let mut it = part.split(';');
                let tag = it.next()?.trim();
                let q = it
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
                (q > 0.0 && !tag.is_empty() && tag != "*").then_some((q, i, tag))
            })
            .collect();
        ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        ranges.into_iter().find_map(|(_, _, tag)| self.resolve(tag))
    }

    /// `msgid` in `locale`, or `msgid` itself when the catalog has no translation.
    ///
    /// Parity: `gettext`.
    pub fn gettext<'a>(&'a self, locale: &str, msgid: &'a str) -> &'a str {
        self.locales
            .get(locale)
            .and_then(|t| t.get(msgid))
            .map_or(msgid, String::as_str)
    }

    /// A message in `locale`: the application's replacement of its text if any, then
    /// translated, then its values filled in.
    ///
    /// Parity: `get_message`.
    pub fn text(&self, locale: &str, text: &Text) -> String {
        let english = self
            .overrides
            .get(text.msgid.as_ref())
            .map_or(text.msgid.as_ref(), String::as_str);
        let translated = self.gettext(locale, english);
        if text.args.is_empty() && std::ptr::eq(translated, english) {
            // A message filled in before it got here (a `PasswordUtil`'s "Password must
            // be at least 8 characters"): translate its template, fill it again.
            if let Some(refilled) = self.refill(locale, english) {
                return refilled;
            }
        }
        interpolate(translated, &text.args)
    }

    /// `filled` read as one of the default messages with placeholders, in `locale`.
    fn refill(&self, locale: &str, filled: &str) -> Option<String> {
        let table = self.locales.get(locale)?;
        DEFAULTS.iter().find_map(|(_, template, _)| {
            let values = match_template(template, filled)?;
            let translated = table.get(*template)?;
            Some(interpolate(translated, &values))
        })
    }
}

/// The placeholder values that make `template` read `filled`; `None` when it does not,
/// or when the template has no placeholder.
fn match_template<'a>(template: &'a str, filled: &str) -> Option<Vec<(&'a str, String)>> {
    let mut values = Vec::new();
    let mut rest_t = template;
    let mut rest_f = filled;
    // Literal text up to the next placeholder must match exactly; a placeholder takes
    // what lies before the next literal.
    loop {
        let Some(start) = rest_t.find("%(") else {
            return (rest_t == rest_f && !values.is_empty()).then_some(values);
        };
        let literal = &rest_t[..start];
        rest_f = rest_f.strip_prefix(literal)?;
        let after = &rest_t[start + 2..];
        let end = after.find(')')?;
        let name = &after[..end];
        rest_t = after[end + 1..].get(1..)?;
        let next = rest_t.find("%(").map_or(rest_t, |i| &rest_t[..i]);
        let cut = if next.is_empty() {
            rest_f.len()
        } else {
            rest_f.find(next)?
        };
        values.push((name, rest_f[..cut].to_owned()));
        rest_f = &rest_f[cut..];
    }
}

/// How many `Accept-Language` entries are considered.
const MAX_LANGUAGE_RANGES: usize = 16;

/// A locale of letters and digits only: `de`, `pt_br`, `zh_hans_cn` (no markup, no
/// paths, no length to speak of).
fn well_formed(locale: &str) -> bool {
    let mut parts = locale.split('_');
    let language = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    (2..=3).contains(&language.len())
        && language.bytes().all(|b| b.is_ascii_lowercase())
        && rest.len() <= 2
        && rest
            .iter()
            .all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// `de-AT` → `de_at`.
fn normalise(locale: &str) -> String {
    locale.trim().replace('-', "_").to_ascii_lowercase()
}

/// Replaces `%(name)s` and `%(name)d` with the named values and `%%` with `%`, as
/// Python's `%` formatting does for Flask-Security's messages; anything else is kept.
pub fn interpolate<S: AsRef<str>>(template: &str, args: &[(&str, S)]) -> String {
    if args.is_empty() {
        return template.to_owned();
    }
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('%') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        if let Some(tail) = after.strip_prefix('%') {
            out.push('%');
            rest = tail;
            continue;
        }
        let named = after.strip_prefix('(').and_then(|a| {
            let end = a.find(')')?;
            let (name, tail) = (&a[..end], &a[end + 1..]);
            let tail = tail.strip_prefix('s').or_else(|| tail.strip_prefix('d'))?;
            let value = args.iter().find(|(n, _)| *n == name)?;
            Some((value.1.as_ref(), tail))
        });
        match named {
            Some((value, tail)) => {
                out.push_str(value);
                rest = tail;
            }
            None => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::load(&SecurityConfig::default()).unwrap()
    }

    #[test]
    fn interpolation_fills_named_values_only() {
        let args = [("email", "a@b"), ("min", "3")];
        assert_eq!(
            interpolate("%(email)s is %(min)d%% of %(x)s", &args),
            "a@b is 3% of %(x)s"
        );
        assert_eq!(interpolate::<&str>("100%(x", &[]), "100%(x");
    }

    #[test]
    fn every_builtin_message_has_german_and_french() {
        let c = catalog();
        for (name, text, _) in DEFAULTS {
            for locale in ["de", "fr"] {
                assert_ne!(c.gettext(locale, text), *text, "{name} in {locale}");
            }
        }
    }

    #[test]
    fn locales_resolve_to_the_nearest_catalog() {
        let c = catalog();
        assert_eq!(c.resolve("de-AT").as_deref(), Some("de"));
        assert_eq!(c.resolve("FR").as_deref(), Some("fr"));
        assert_eq!(c.resolve("en-GB").as_deref(), Some("en"));
        assert_eq!(c.resolve("xx"), None);
        for bad in ["en-\"><x>", "en_gb_a_b", "e", "de/../fr", "", "dé"] {
            assert_eq!(c.resolve(bad), None, "{bad}");
        }
        let long = format!("{}de", "xx, ".repeat(100));
        assert_eq!(c.negotiate(&long), None);
        assert_eq!(c.negotiate("xx, fr;q=0.5, de;q=0.9").as_deref(), Some("de"));
        assert_eq!(c.negotiate("de;q=0, fr").as_deref(), Some("fr"));
        assert_eq!(c.negotiate("xx, *"), None);
    }

    #[test]
    fn a_message_filled_in_english_is_translated_with_its_values() {
        let c = catalog();
        let filled = Text::from("Password must be at least 8 characters".to_owned());
        let german = c.text("de", &filled);
        assert_ne!(german, filled.msgid);
        assert!(german.contains('8'), "{german}");
        // Not a default message, or English: unchanged.
        let other = Text::from("Some text of an application".to_owned());
        assert_eq!(c.text("de", &other), other.msgid);
        assert_eq!(c.text("en", &filled), filled.msgid);
        assert_eq!(
            match_template("%(a)s and %(b)s!", "x and y!"),
            Some(vec![("a", "x".to_owned()), ("b", "y".to_owned())])
        );
        assert_eq!(match_template("no placeholder", "no placeholder"), None);
        assert_eq!(match_template("%(a)s.", "x!"), None);
        assert_eq!(match_template("%(a", "%(a"), None);
    }

    #[test]
    fn a_replacement_is_used_and_an_unknown_name_refused() {
        let mut cfg = SecurityConfig::default();
        cfg.messages.insert(
            "INVALID_PASSWORD".into(),
            crate::config::MessageOverride::Text("Nope".into()),
        );
        let c = Catalog::load(&cfg).unwrap();
        assert_eq!(
            c.text("en", &Text::new(super::super::INVALID_PASSWORD)),
            "Nope"
        );
        cfg.messages.insert(
            "NO_SUCH_MESSAGE".into(),
            crate::config::MessageOverride::Text("x".into()),
        );
        let err = Catalog::load(&cfg).unwrap_err();
        assert!(err.contains("security.messages.NO_SUCH_MESSAGE"), "{err}");
    }
}
