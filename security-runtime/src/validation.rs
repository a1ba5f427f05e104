//! Validation and normalisation of user input: passwords, usernames, phone numbers and
//! email addresses.
//!
//! Parity: `flask_security.PasswordUtil`, `UsernameUtil`, `PhoneUtil` and the syntax part
//! of `MailUtil` (`email_validator` with `check_deliverability=False`). The `Default*`
//! types implement Flask-Security's default behaviour and messages; an application may
//! replace any of them with its own implementation of the trait.

use std::time::Duration;

use sha1::{Digest, Sha1};
use unicode_normalization::UnicodeNormalization;

use crate::config::SecurityConfig;
use crate::messages;

/// Longest password accepted, in characters (hard-coded in Flask-Security).
const PASSWORD_LENGTH_MAX: usize = 128;
/// The `User-Agent` Flask-Security sends to the breached-passwords API.
const BREACHED_USER_AGENT: &str = "Flask-Security (Python)";
/// Time allowed for the whole breached-passwords request.
const BREACHED_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest email address accepted (RFC 5321 path limit, as `email_validator`).
const EMAIL_LENGTH_MAX: usize = 254;
/// Longest local part accepted, in bytes.
const EMAIL_LOCAL_LENGTH_MAX: usize = 64;
/// Longest phone-number input handed to the parser (libphonenumber's limit).
const PHONE_INPUT_MAX: usize = 250;
/// Domains `email_validator` refuses because they can never receive mail
/// (its `SPECIAL_USE_DOMAIN_NAMES`).
const SPECIAL_USE_DOMAINS: &[&str] = &["arpa", "invalid", "local", "localhost", "onion", "test"];

/// Checks and normalises new passwords.
///
/// Parity: `flask_security.PasswordUtil` (`password_util_cls`). Replaceable by the
/// application.
#[diagnostic::on_unimplemented(
    note = "implement `security_runtime::validation::PasswordUtil` or use `DefaultPasswordUtil`"
)]
#[rocket::async_trait]
pub trait PasswordUtil: Send + Sync + 'static {
    /// Applies the configured Unicode normalisation (NFKD by default).
    ///
    /// Parity: `PasswordUtil.normalize`, `SECURITY_PASSWORD_NORMALIZE_FORM`.
    fn normalize(&self, password: &str) -> String;

    /// Validates a new password. `user_inputs` are strings zxcvbn should penalise (email,
    /// username...).
    ///
    /// Returns the normalised password, or Flask-Security's error messages.
    ///
    /// Parity: `PasswordUtil.validate(password, is_register, **kwargs)`.
    async fn validate(
        &self,
        password: &str,
        is_register: bool,
        user_inputs: &[String],
    ) -> Result<String, Vec<String>>;
}

/// A Unicode normalisation form, as Python's `unicodedata.normalize` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NormalizeForm {
    None,
    Nfc,
    Nfd,
    Nfkc,
    Nfkd,
}

impl NormalizeForm {
    /// An unknown name falls back to NFKD, Flask-Security's default; such a configuration
    /// is refused at launch by the password context anyway.
    fn parse(name: &str) -> Self {
        match name {
            "" => NormalizeForm::None,
            "NFC" => NormalizeForm::Nfc,
            "NFD" => NormalizeForm::Nfd,
            "NFKC" => NormalizeForm::Nfkc,
            _ => NormalizeForm::Nfkd,
        }
    }

    fn apply(self, s: &str) -> String {
        match self {
            NormalizeForm::None => s.to_owned(),
            NormalizeForm::Nfc => s.nfc().collect(),
            NormalizeForm::Nfd => s.nfd().collect(),
            NormalizeForm::Nfkc => s.nfkc().collect(),
            NormalizeForm::Nfkd => s.nfkd().collect(),
        }
    }
}

/// `SECURITY_PASSWORD_CHECK_BREACHED` parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BreachedMode {
    Off,
    /// Check; ignore a failure to reach the API.
    On,
    /// Check; refuse the password when the API cannot be reached.
    Strict,
}

impl BreachedMode {
    fn parse(value: &str) -> Self {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "false" | "0" | "no" | "off" => BreachedMode::Off,
            "strict" => BreachedMode::Strict,
            _ => BreachedMode::On,
        }
    }
}

/// Flask-Security's password rules: length, breached list (k-anonymity range API),
/// zxcvbn complexity, in that order; the first failing rule decides.
///
/// ```
/// use security_runtime::validation::{DefaultPasswordUtil, PasswordUtil};
/// use security_runtime::SecurityConfig;
///
/// # rocket::async_test(async {
/// let util = DefaultPasswordUtil::new(&SecurityConfig::default());
/// assert_eq!(
///     util.validate("short", true, &[]).await,
///     Err(vec!["Password must be at least 8 characters".to_owned()])
/// );
/// assert_eq!(util.validate("ﬁne-and-long", true, &[]).await, Ok("fine-and-long".to_owned()));
/// # });
/// ```
///
/// Parity: `flask_security.PasswordUtil`, `password_length_validator`,
/// `password_breached_validator` / `pwned`, `password_complexity_validator`.
pub struct DefaultPasswordUtil {
    form: NormalizeForm,
    length_min: usize,
    breached: BreachedMode,
    breached_count: u64,
    breached_url: String,
    zxcvbn: bool,
    zxcvbn_minimum_score: u8,
    agent: ureq::Agent,
}

impl std::fmt::Debug for DefaultPasswordUtil {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefaultPasswordUtil")
            .field("form", &self.form)
            .field("length_min", &self.length_min)
            .field("breached", &self.breached)
            .field("breached_count", &self.breached_count)
            .field("breached_url", &self.breached_url)
            .field("zxcvbn", &self.zxcvbn)
            .field("zxcvbn_minimum_score", &self.zxcvbn_minimum_score)
            .finish_non_exhaustive()
    }
}

impl DefaultPasswordUtil {
    /// Reads `password_normalize_form`, `password_length_min`, `password_check_breached`,
    /// `password_breached_count`, `password_breached_url`, `password_complexity_checker`
    /// and `zxcvbn_minimum_score`.
    pub fn new(cfg: &SecurityConfig) -> Self {
        DefaultPasswordUtil {
            form: NormalizeForm::parse(&cfg.password_normalize_form),
            length_min: cfg.password_length_min,
            breached: BreachedMode::parse(&cfg.password_check_breached),
            breached_count: cfg.password_breached_count,
            breached_url: cfg.password_breached_url.clone(),
            zxcvbn: cfg
                .password_complexity_checker
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case("zxcvbn")),
            zxcvbn_minimum_score: cfg.zxcvbn_minimum_score,
            agent: ureq::AgentBuilder::new()
                .timeout(BREACHED_TIMEOUT)
                .user_agent(BREACHED_USER_AGENT)
                .build(),
        }
    }

    /// Parity: `password_length_validator` (the maximum, 128, shares the message).
    fn length_error(&self, password: &str) -> Option<String> {
        let n = password.chars().count();
        (n < self.length_min || n > PASSWORD_LENGTH_MAX)
            .then(|| messages::password_invalid_length(self.length_min).english())
    }

    /// Parity: `password_breached_validator`.
    async fn breached_error(&self, password: &str) -> Option<String> {
        if self.breached == BreachedMode::Off {
            return None;
        }
        match self.pwned(password).await {
            Ok(count) if count >= self.breached_count => Some(messages::PASSWORD_BREACHED.into()),
            Ok(_) => None,
            Err(e) => {
                log::warn!("breached-password check failed: {e}");
                (self.breached == BreachedMode::Strict)
                    .then(|| messages::PASSWORD_BREACHED_SITE_ERROR.into())
            }
        }
    }

    /// How often the password appears in the breached list. Only the first five hex
    /// digits of its SHA-1 leave the process (k-anonymity).
    ///
    /// Parity: `flask_security.pwned`.
    async fn pwned(&self, password: &str) -> Result<u64, String> {
        let digest: String = Sha1::digest(password.as_bytes())
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        let (prefix, suffix) = digest.split_at(5);
        let url = format!("{}{prefix}", self.breached_url);
        let agent = self.agent.clone();
        let body = tokio::task::spawn_blocking(move || -> Result<String, String> {
            let response = agent.get(&url).call().map_err(|e| e.to_string())?;
            response.into_string().map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())??;
        range_count(&body, suffix)
    }

    /// Parity: `password_complexity_validator` with `zxcvbn`.
    async fn complexity_error(&self, password: &str, user_inputs: &[String]) -> Option<String> {
        if !self.zxcvbn {
            return None;
        }
        let password = password.to_owned();
        let inputs = user_inputs.to_vec();
        let minimum = self.zxcvbn_minimum_score;
        let verdict = tokio::task::spawn_blocking(move || {
            let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            let entropy = zxcvbn::zxcvbn(&password, &inputs);
            if u8::from(entropy.score()) >= minimum {
                return None;
            }
            Some(
                entropy
                    .feedback()
                    .and_then(|f| f.warning())
                    .map(|w| w.to_string())
                    .unwrap_or_else(|| messages::PASSWORD_TOO_SIMPLE.to_owned()),
            )
        })
        .await;
        // A failed estimator never lets a password through.
        verdict.unwrap_or_else(|_| Some(messages::PASSWORD_TOO_SIMPLE.to_owned()))
    }
}

/// Finds `suffix` in a range-API answer (`SUFFIX:COUNT` lines); 0 when absent.
fn range_count(body: &str, suffix: &str) -> Result<u64, String> {
    for line in body.trim_start_matches('\u{feff}').lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (hash, count) = line
            .split_once(':')
            .ok_or_else(|| "malformed range response".to_owned())?;
        if hash.trim().eq_ignore_ascii_case(suffix) {
            return count
                .trim()
                .parse()
                .map_err(|_| "malformed count in range response".to_owned());
        }
    }
    Ok(0)
}

#[rocket::async_trait]
impl PasswordUtil for DefaultPasswordUtil {
    fn normalize(&self, password: &str) -> String {
        self.form.apply(password)
    }

    async fn validate(
        &self,
        password: &str,
        _is_register: bool,
        user_inputs: &[String],
    ) -> Result<String, Vec<String>> {
        let normalized = self.normalize(password);
        if let Some(e) = self.length_error(&normalized) {
            return Err(vec![e]);
        }
        if let Some(e) = self.breached_error(&normalized).await {
            return Err(vec![e]);
        }
        if let Some(e) = self.complexity_error(&normalized, user_inputs).await {
            return Err(vec![e]);
        }
        Ok(normalized)
    }
}

/// Checks and normalises usernames.
///
/// Parity: `flask_security.UsernameUtil` (`username_util_cls`).
#[diagnostic::on_unimplemented(
    note = "implement `security_runtime::validation::UsernameUtil` or use `DefaultUsernameUtil`"
)]
pub trait UsernameUtil: Send + Sync + 'static {
    /// Returns the normalised username, or Flask-Security's error message.
    ///
    /// Parity: `UsernameUtil.validate`.
    fn validate(&self, username: &str) -> Result<String, String>;
}

/// Flask-Security's username rules: trimmed, free of HTML, letters and digits only
/// (Unicode categories `L` and `N`), NFKD-normalised, `username_min_length` to
/// `username_max_length` characters.
///
/// An empty input is `USERNAME_NOT_PROVIDED`; callers for whom the username is optional
/// skip validation when none was given, as Flask-Security stores `None` then.
///
/// ```
/// use security_runtime::validation::{DefaultUsernameUtil, UsernameUtil};
/// use security_runtime::SecurityConfig;
///
/// let util = DefaultUsernameUtil::new(&SecurityConfig::default());
/// assert_eq!(util.validate(" Jürgen42 "), Ok("Ju\u{308}rgen42".to_owned()));
/// assert_eq!(
///     util.validate("joe_doe"),
///     Err("Username can contain only letters and numbers".to_owned())
/// );
/// ```
///
/// Parity: `UsernameUtil`, `input_svn`, `SECURITY_USERNAME_ALLOWED_CHARS = ["L", "N"]`,
/// `SECURITY_INPUT_NORMALIZE_FORM = "NFKD"`.
#[derive(Debug, Clone)]
pub struct DefaultUsernameUtil {
    min: usize,
    max: usize,
}

impl DefaultUsernameUtil {
    /// Reads `username_min_length` and `username_max_length`.
    pub fn new(cfg: &SecurityConfig) -> Self {
        DefaultUsernameUtil {
            min: cfg.username_min_length,
            max: cfg.username_max_length,
        }
    }

    /// The form a username is stored and looked up in, or `None` when the input cannot be
    /// a username (HTML or characters outside letters and digits). Length is not checked.
    ///
    /// Parity: `UsernameUtil.normalize`, used by `uia_username_mapper`.
    pub fn normalize(&self, username: &str) -> Option<String> {
        clean_username(username).ok()
    }
}

/// Parity: `input_svn(value, ["L", "N"], "NFKD")`.
fn clean_username(username: &str) -> Result<String, &'static str> {
    let trimmed = username.trim();
    if !html_inert(trimmed) {
        return Err(messages::INVALID_INPUT);
    }
    if !trimmed.chars().all(is_letter_or_number) {
        return Err(messages::USERNAME_DISALLOWED_CHARACTERS);
    }
    Ok(trimmed.nfkd().collect())
}

/// True when an HTML sanitiser would return the text unchanged (Flask-Security compares
/// the `nh3.clean` output with the input).
fn html_inert(s: &str) -> bool {
    !s.contains(['<', '>', '&', '\0', '\r', '\u{a0}'])
}

/// Unicode general category `L*` or `N*`.
///
/// `char::is_alphabetic` is the `Alphabetic` property: letters, `Nl`, plus
/// `Other_Alphabetic`, which is combining marks and the enclosed Latin letter symbols
/// (`So`); both are removed here.
fn is_letter_or_number(c: char) -> bool {
    if c.is_numeric() {
        return true;
    }
    c.is_alphabetic()
        && !unicode_normalization::char::is_combining_mark(c)
        && !matches!(c,
            '\u{24B6}'..='\u{24E9}' // circled Latin letters
            | '\u{1F130}'..='\u{1F149}' // squared Latin letters
            | '\u{1F150}'..='\u{1F169}' // negative circled
            | '\u{1F170}'..='\u{1F189}') // negative squared
}

impl UsernameUtil for DefaultUsernameUtil {
    fn validate(&self, username: &str) -> Result<String, String> {
        if username.is_empty() {
            return Err(messages::USERNAME_NOT_PROVIDED.to_owned());
        }
        let clean = clean_username(username).map_err(str::to_owned)?;
        let n = clean.chars().count();
        if n < self.min || n > self.max {
            return Err(messages::username_invalid_length(self.min, self.max).english());
        }
        Ok(clean)
    }
}

/// Parses and canonicalises phone numbers.
///
/// Parity: `flask_security.PhoneUtil` (`phone_util_cls`).
#[diagnostic::on_unimplemented(
    note = "implement `security_runtime::validation::PhoneUtil` or use `DefaultPhoneUtil`"
)]
pub trait PhoneUtil: Send + Sync + 'static {
    /// The form stored in the database and compared against (E.164), or `None` when
    /// the input is not a valid phone number.
    ///
    /// Parity: `PhoneUtil.get_canonical_form`.
    fn get_canonical_form(&self, input: &str) -> Option<String>;

    /// The canonical form, or the `PHONE_INVALID` message.
    ///
    /// Parity: `PhoneUtil.validate_phone_number`.
    fn validate_phone_number(&self, input: &str) -> Result<String, String>;
}

/// Phone numbers through libphonenumber's metadata; numbers without a country code are
/// read in `phone_region_default`.
///
/// ```
/// use security_runtime::validation::{DefaultPhoneUtil, PhoneUtil};
/// use security_runtime::SecurityConfig;
///
/// let util = DefaultPhoneUtil::new(&SecurityConfig::default()); // region "US"
/// assert_eq!(util.get_canonical_form("(650) 253-0000").as_deref(), Some("+16502530000"));
/// assert_eq!(util.get_canonical_form("+44 20 7031 3000").as_deref(), Some("+442070313000"));
/// assert_eq!(util.get_canonical_form("12"), None);
/// ```
///
/// Parity: `PhoneUtil` (`phonenumbers.parse(input, region=SECURITY_PHONE_REGION_DEFAULT)`,
/// `is_valid_number`, E.164).
#[derive(Debug, Clone)]
pub struct DefaultPhoneUtil {
    region: Option<phonenumber::country::Id>,
}

impl DefaultPhoneUtil {
    /// Reads `phone_region_default` (an ISO 3166 code such as `US`; unknown = none, so
    /// only numbers with a `+` country code are accepted).
    pub fn new(cfg: &SecurityConfig) -> Self {
        DefaultPhoneUtil {
            region: cfg
                .phone_region_default
                .trim()
                .to_ascii_uppercase()
                .parse()
                .ok(),
        }
    }
}

impl PhoneUtil for DefaultPhoneUtil {
    fn get_canonical_form(&self, input: &str) -> Option<String> {
        if input.chars().count() > PHONE_INPUT_MAX {
            return None;
        }
        let region = self.region;
        // The parser handles untrusted input; a panic inside it must not take the
        // request (or the CLI) down, it just means "not a phone number".
        std::panic::catch_unwind(|| {
            let number = phonenumber::parse(region, input).ok()?;
            number
                .is_valid()
                .then(|| number.format().mode(phonenumber::Mode::E164).to_string())
        })
        .ok()
        .flatten()
    }

    fn validate_phone_number(&self, input: &str) -> Result<String, String> {
        self.get_canonical_form(input)
            .ok_or_else(|| messages::PHONE_INVALID.to_owned())
    }
}

/// Checks the syntax of an email address and returns its normalised form: surrounding
/// whitespace trimmed, the domain lowercased, the local part kept (NFC-normalised, which
/// leaves ASCII unchanged).
///
/// Refused: anything that is not `local@domain` with a dot-atom local part (no quoted
/// local parts, no display names, no domain literals); whitespace or control characters;
/// a leading `-`; a local part over 64 bytes or an address over 254; a domain without a
/// dot, with an all-digit top-level label or under a special-use name (`localhost`,
/// `.test`, `.invalid`, `.local`, `.onion`, `.arpa`). No DNS lookups.
///
/// ```
/// use security_runtime::validation::normalize_email;
///
/// assert_eq!(normalize_email("  Matt@LP.com ").as_deref(), Ok("Matt@lp.com"));
/// assert_eq!(normalize_email("matt@localhost"), Err("Invalid email address".to_owned()));
/// ```
///
/// Parity: `MailUtil.validate` / `MailUtil.normalize` / `uia_email_mapper`
/// (`email_validator.validate_email(check_deliverability=False).normalized`).
pub fn normalize_email(input: &str) -> Result<String, String> {
    check_email(input).ok_or_else(|| messages::INVALID_EMAIL_ADDRESS.to_owned())
}

fn check_email(input: &str) -> Option<String> {
    let s = input.trim();
    if s.is_empty()
        || s.len() > EMAIL_LENGTH_MAX
        || s.starts_with('-')
        || s.chars().any(|c| c.is_whitespace() || c.is_control())
        || has_unsafe_characters(s)
    {
        return None;
    }
    let (local, domain) = s.rsplit_once('@')?;
    if local.len() > EMAIL_LOCAL_LENGTH_MAX || local.contains(['@', '"']) {
        return None;
    }
    let local: String = local.nfc().collect();
    let domain: String = domain.nfc().collect::<String>().to_lowercase();
    if !domain_ok(&domain) {
        return None;
    }
    let address = format!("{local}@{domain}");
    let options = email_address::Options {
        minimum_sub_domains: 2,
        allow_domain_literal: false,
        allow_display_text: false,
        allow_long_local_parts: false,
    };
    email_address::EmailAddress::parse_with_options(&address, options).ok()?;
    (address.len() <= EMAIL_LENGTH_MAX).then_some(address)
}

/// `email_validator`'s rule for characters: letters, numbers, punctuation and symbols;
/// a combining mark only after another character; no separators and nothing of the
/// "other" categories (control, format such as zero-width spaces and direction marks,
/// private use, unassigned), which would make look-alike identities such as
/// `admin\u{200b}@example.com`.
///
/// Parity: `email_validator.syntax.check_unsafe_chars`.
fn has_unsafe_characters(s: &str) -> bool {
    use unicode_properties::{GeneralCategoryGroup as G, UnicodeGeneralCategory};
    s.chars()
        .enumerate()
        .any(|(i, c)| match c.general_category_group() {
            G::Letter | G::Number | G::Punctuation | G::Symbol => false,
            G::Mark => i == 0,
            G::Separator | G::Other => true,
        })
}

/// The two-letter Unicode general category of `c` (`Lu`, `Nd`, `Zs`, ...).
fn general_category(c: char) -> &'static str {
    use unicode_properties::{GeneralCategory as C, UnicodeGeneralCategory};
    match c.general_category() {
        C::UppercaseLetter => "Lu",
        C::LowercaseLetter => "Ll",
        C::TitlecaseLetter => "Lt",
        C::ModifierLetter => "Lm",
        C::OtherLetter => "Lo",
        C::NonspacingMark => "Mn",
        C::SpacingMark => "Mc",
        C::EnclosingMark => "Me",
        C::DecimalNumber => "Nd",
        C::LetterNumber => "Nl",
        C::OtherNumber => "No",
        C::ConnectorPunctuation => "Pc",
        C::DashPunctuation => "Pd",
        C::OpenPunctuation => "Ps",
        C::ClosePunctuation => "Pe",
        C::InitialPunctuation => "Pi",
        C::FinalPunctuation => "Pf",
        C::OtherPunctuation => "Po",
        C::MathSymbol => "Sm",
        C::CurrencySymbol => "Sc",
        C::ModifierSymbol => "Sk",
        C::OtherSymbol => "So",
        C::SpaceSeparator => "Zs",
        C::LineSeparator => "Zl",
        C::ParagraphSeparator => "Zp",
        C::Control => "Cc",
        C::Format => "Cf",
        C::Surrogate => "Cs",
        C::PrivateUse => "Co",
        C::Unassigned => "Cn",
    }
}

/// True when every character of `s` is in one of `allowed`: a category (`Pd`) or a
/// whole group (`L`).
///
/// Parity: Flask-Security's `unicodedata.category(c)` checks against
/// `*_ALLOWED_CHARS`.
pub fn in_categories(s: &str, allowed: &[String]) -> bool {
    s.chars().all(|c| {
        let cat = general_category(c);
        allowed
            .iter()
            .any(|a| a == cat || (a.len() == 1 && cat.starts_with(a.as_str())))
    })
}

/// Domain rules of `email_validator` for globally deliverable addresses.
fn domain_ok(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || domain.len() > 253 {
        return false;
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    if !labels.iter().all(label_ok) {
        return false;
    }
    let tld = labels[labels.len() - 1];
    if tld.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    !SPECIAL_USE_DOMAINS
        .iter()
        .any(|s| domain == *s || domain.ends_with(&format!(".{s}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_lines_are_matched_case_insensitively() {
        let body = "\u{feff}0018A45C4D1DEF81644B54AB7F969B88D65:1\r\nABCDEF:12\r\n";
        assert_eq!(range_count(body, "abcdef"), Ok(12));
        assert_eq!(range_count(body, "ABCDEE"), Ok(0));
        assert!(range_count("garbage", "ABCDEF").is_err());
    }

    #[test]
    fn addresses_with_invisible_or_control_characters_are_refused() {
        for bad in [
            "admin\u{200b}@example.com",
            "ad\u{200d}min@example.com",
            "admin@exa\u{00ad}mple.com",
            "\u{202e}nimda@example.com",
            "admin\u{feff}@example.com",
            "\u{0301}admin@example.com",
            "adm\u{e000}in@example.com",
            "admin\u{2028}@example.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
        for good in [
            "admin@example.com",
            "jos\u{e9}@example.com",
            "e\u{301}t\u{e9}@example.com",
        ] {
            assert!(normalize_email(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn breached_mode_parses_python_spellings() {
        assert_eq!(BreachedMode::parse("False"), BreachedMode::Off);
        assert_eq!(BreachedMode::parse("true"), BreachedMode::On);
        assert_eq!(BreachedMode::parse("strict"), BreachedMode::Strict);
    }
}
