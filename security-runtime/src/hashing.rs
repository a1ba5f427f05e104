//! Password hashing that reads and writes the same strings as Flask-Security-Too on passlib.
//!
//! A [`PasswordContext`] plays the part of Flask-Security's passlib `CryptContext`
//! together with `utils.hash_password`, `utils.verify_password`,
//! `utils.verify_and_update_password` and `utils.get_hmac`. Hashes move both ways: hashes that
//! a Flask-Security app stored verify here, and hashes made here verify in Flask-Security.
//!
//! **Double hashing.** Unless a scheme is listed in
//! [`HashingConfig::password_single_hash`], the password is first turned into
//! `base64(HMAC-SHA512(key = password_salt, msg = password))` (see
//! [`PasswordContext::get_hmac`]) and that 88-character ASCII string is hashed. When verifying,
//! the rule is applied to the scheme of the *stored* hash, so a stored `plaintext` value is
//! compared with the raw password.
//!
//! | scheme | hash | verify | stored form |
//! | --- | --- | --- | --- |
//! | `argon2` | yes (Argon2id v=19) | i, d, id; v=16 and v=19 | `$argon2id$v=19$m=65536,t=3,p=4$salt$hash` |
//! | `bcrypt` | yes (`$2b$`) | `$2a$`, `$2b$`, `$2y$` | `$2b$12$...` |
//! | `pbkdf2_sha256`, `pbkdf2_sha512` | yes | yes | `$pbkdf2-sha512$25000$salt$hash` |
//! | `sha256_crypt`, `sha512_crypt` | yes | yes | `$5$rounds=535000$salt$hash` |
//! | `plaintext` | yes | yes | the password itself |
//! | `des_crypt` | no | no: recognised, never verifies | 13 characters |
//!
//! Known gaps, all of which make verification return `false` rather than fail loudly:
//! `des_crypt` (no DES implementation among our dependencies), bcrypt `$2$` and `$2x$`
//! hashes, Argon2 hashes with a `keyid` (passlib cannot verify those either), and Argon2 hashes
//! asking for more than [`MAX_ARGON2_MEMORY_KIB`].
//!
//! Hashing is slow on purpose: call these functions from `tokio::task::spawn_blocking` in
//! async code.

use std::borrow::Cow;
use std::fmt;

use argon2::{Algorithm, Argon2, AssociatedData, ParamsBuilder, Version};
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine as _};
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;
use unicode_normalization::UnicodeNormalization;

/// Largest Argon2 memory cost, in KiB (1 GiB), accepted for hashing or verifying.
///
/// A stored hash asking for more is refused instead of aborting the process on a failed
/// allocation.
pub const MAX_ARGON2_MEMORY_KIB: u32 = 1 << 20;

/// Scheme names this module knows, in Flask-Security's default `SECURITY_PASSWORD_SCHEMES` order.
///
/// Parity: SECURITY_PASSWORD_SCHEMES
pub const KNOWN_SCHEMES: [&str; 8] = [
    "bcrypt",
    "argon2",
    "des_crypt",
    "pbkdf2_sha256",
    "pbkdf2_sha512",
    "sha256_crypt",
    "sha512_crypt",
    "plaintext",
];

/// Flask-Security's default `SECURITY_PASSWORD_SINGLE_HASH` set.
const DEFAULT_SINGLE_HASH: [&str; 9] = [
    "django_argon2",
    "django_bcrypt_sha256",
    "django_pbkdf2_sha256",
    "django_pbkdf2_sha1",
    "django_bcrypt",
    "django_salted_md5",
    "django_salted_sha1",
    "django_des_crypt",
    "plaintext",
];

/// passlib's default rounds and sizes for the schemes without a setting of their own.
const PBKDF2_SHA256_ROUNDS: u32 = 29_000;
const PBKDF2_SHA512_ROUNDS: u32 = 25_000;
const SHA256_CRYPT_ROUNDS: usize = 535_000;
const SHA512_CRYPT_ROUNDS: usize = 656_000;
const SALT_BYTES: usize = 16;
const ARGON2_DIGEST_BYTES: usize = 32;
/// bcrypt only reads this many bytes of a password.
const BCRYPT_MAX_BYTES: usize = 72;
/// The alphabet of crypt(3)-style salts.
const HASH64_CHARS: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Standard base64 decoding as Python's `a2b_base64` does it for passlib: padding optional,
/// unused trailing bits ignored.
const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Settings of a [`PasswordContext`], filled from the application config by the caller.
///
/// `Debug` prints `password_salt` as `<redacted>`.
///
/// Parity: SECURITY_PASSWORD_HASH, SECURITY_PASSWORD_SCHEMES, SECURITY_PASSWORD_SALT,
/// SECURITY_PASSWORD_SINGLE_HASH, SECURITY_PASSWORD_NORMALIZE_FORM,
/// SECURITY_PASSWORD_HASH_PASSLIB_OPTIONS (the argon2 and bcrypt cost settings)
#[derive(Clone)]
pub struct HashingConfig {
    /// Scheme of new hashes (default `"argon2"`). Parity: SECURITY_PASSWORD_HASH
    pub password_hash: String,
    /// Schemes accepted when verifying, in passlib identification order; every other scheme is
    /// deprecated, so a successful login rehashes with `password_hash`.
    /// Parity: SECURITY_PASSWORD_SCHEMES with DEPRECATED_PASSWORD_SCHEMES = `["auto"]`
    pub password_schemes: Vec<String>,
    /// HMAC key of the double hash; required unless `password_hash` is single-hashed.
    /// Parity: SECURITY_PASSWORD_SALT
    pub password_salt: Option<String>,
    /// Schemes hashed without the HMAC step. Empty means `["plaintext"]`, as a falsy value does in
    /// Flask-Security; to emulate `True` (never double-hash) list every scheme.
    /// Parity: SECURITY_PASSWORD_SINGLE_HASH
    pub password_single_hash: Vec<String>,
    /// Unicode normalisation form for [`PasswordContext::normalize`]: `NFKD` (default), `NFKC`,
    /// `NFD`, `NFC`, or empty for none. Parity: SECURITY_PASSWORD_NORMALIZE_FORM
    pub password_normalize_form: String,
    /// Argon2 memory cost in KiB (passlib default 65536). Parity: passlib `argon2__memory_cost`
    pub argon2_memory_cost: u32,
    /// Argon2 time cost (passlib default 3). Parity: passlib `argon2__rounds`
    pub argon2_time_cost: u32,
    /// Argon2 lanes (passlib default 4). Parity: passlib `argon2__parallelism`
    pub argon2_parallelism: u32,
    /// bcrypt cost, 4 to 31 (passlib default 12). Parity: passlib `bcrypt__rounds`
    pub bcrypt_rounds: u32,
}

impl Default for HashingConfig {
    /// Flask-Security 5.9 defaults with libpass/passlib's scheme settings. `password_salt` is
    /// `None`, which [`PasswordContext::new`] rejects for the default `argon2`.
    fn default() -> Self {
        Self {
            password_hash: "argon2".to_owned(),
            password_schemes: KNOWN_SCHEMES.iter().map(|s| (*s).to_owned()).collect(),
            password_salt: None,
            password_single_hash: DEFAULT_SINGLE_HASH
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            password_normalize_form: "NFKD".to_owned(),
            argon2_memory_cost: 65_536,
            argon2_time_cost: 3,
            argon2_parallelism: 4,
            bcrypt_rounds: 12,
        }
    }
}

impl fmt::Debug for HashingConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashingConfig")
            .field("password_hash", &self.password_hash)
            .field("password_schemes", &self.password_schemes)
            .field(
                "password_salt",
                &self.password_salt.as_ref().map(|_| "<redacted>"),
            )
            .field("password_single_hash", &self.password_single_hash)
            .field("password_normalize_form", &self.password_normalize_form)
            .field("argon2_memory_cost", &self.argon2_memory_cost)
            .field("argon2_time_cost", &self.argon2_time_cost)
            .field("argon2_parallelism", &self.argon2_parallelism)
            .field("bcrypt_rounds", &self.bcrypt_rounds)
            .finish()
    }
}

/// Errors of this module: a configuration problem, or a failure while hashing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HashingError {
    /// `password_schemes` or `password_hash` names a scheme this module does not know.
    #[error(
        "unknown password scheme `{0}`; expected one of `bcrypt`, `argon2`, `des_crypt`, \
         `pbkdf2_sha256`, `pbkdf2_sha512`, `sha256_crypt`, `sha512_crypt`, `plaintext`"
    )]
    UnknownScheme(String),
    /// A scheme is listed twice in `password_schemes`.
    #[error("password scheme `{0}` is listed twice in password_schemes")]
    DuplicateScheme(String),
    /// `password_hash` is not one of `password_schemes`.
    #[error("password_hash `{0}` is not in password_schemes")]
    HashNotInSchemes(String),
    /// `password_hash` names a scheme that this module can only recognise, not produce.
    #[error("password_hash `{0}` cannot create hashes; choose another scheme")]
    VerifyOnlyScheme(String),
    /// Double hashing was needed but `password_salt` is unset or empty.
    #[error("password_salt must be set when password_hash is `{0}` (double hashing)")]
    MissingSalt(String),
    /// `password_normalize_form` is not a Unicode normalisation form.
    #[error(
        "password_normalize_form `{0}` is invalid; expected one of `NFKD`, `NFKC`, `NFD`, \
         `NFC` or empty"
    )]
    InvalidNormalizeForm(String),
    /// A cost setting is out of range.
    #[error("{key} is invalid: {reason}")]
    InvalidParameter {
        /// The config key, e.g. `argon2_memory_cost`.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// bcrypt cannot hash a password that contains a NUL byte (passlib refuses it too).
    #[error("bcrypt cannot hash a password containing a NUL byte")]
    NulByte,
    /// The hashing backend or the operating system's random generator failed.
    #[error("password hashing failed: {0}")]
    Backend(String),
}

/// A password scheme, by its passlib name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bcrypt,
    Argon2,
    DesCrypt,
    Pbkdf2Sha256,
    Pbkdf2Sha512,
    Sha256Crypt,
    Sha512Crypt,
    Plaintext,
}

impl Scheme {
    const ALL: [Scheme; 8] = [
        Scheme::Bcrypt,
        Scheme::Argon2,
        Scheme::DesCrypt,
        Scheme::Pbkdf2Sha256,
        Scheme::Pbkdf2Sha512,
        Scheme::Sha256Crypt,
        Scheme::Sha512Crypt,
        Scheme::Plaintext,
    ];

    fn name(self) -> &'static str {
        match self {
            Scheme::Bcrypt => "bcrypt",
            Scheme::Argon2 => "argon2",
            Scheme::DesCrypt => "des_crypt",
            Scheme::Pbkdf2Sha256 => "pbkdf2_sha256",
            Scheme::Pbkdf2Sha512 => "pbkdf2_sha512",
            Scheme::Sha256Crypt => "sha256_crypt",
            Scheme::Sha512Crypt => "sha512_crypt",
            Scheme::Plaintext => "plaintext",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// passlib's `handler.identify(stored)`: a prefix check for modular-crypt schemes, so a
    /// malformed `$2b$...` still identifies as bcrypt (and then fails to verify).
    fn identifies(self, stored: &str) -> bool {
        match self {
            Scheme::Bcrypt => ["$2$", "$2a$", "$2x$", "$2y$", "$2b$"]
                .iter()
                .any(|p| stored.starts_with(p)),
            Scheme::Argon2 => stored
                .strip_prefix("$argon2")
                .and_then(|rest| rest.split_once('$'))
                .is_some_and(|(ty, _)| {
                    !ty.is_empty() && ty.bytes().all(|b| b.is_ascii_lowercase())
                }),
            // passlib: `^[./a-z0-9]{2}([./a-z0-9]{11})?$`, case-insensitive.
            Scheme::DesCrypt => {
                matches!(stored.len(), 2 | 13) && stored.bytes().all(|b| HASH64_CHARS.contains(&b))
            }
            Scheme::Pbkdf2Sha256 => stored.starts_with("$pbkdf2-sha256$"),
            Scheme::Pbkdf2Sha512 => stored.starts_with("$pbkdf2-sha512$"),
            Scheme::Sha256Crypt => stored.starts_with("$5$"),
            Scheme::Sha512Crypt => stored.starts_with("$6$"),
            // passlib's plaintext handler identifies every string.
            Scheme::Plaintext => true,
        }
    }
}

/// A Unicode normalisation form, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NormalizeForm {
    None,
    Nfc,
    Nfd,
    Nfkc,
    Nfkd,
}

impl NormalizeForm {
    /// Python's `unicodedata.normalize` accepts exactly these names.
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "" => NormalizeForm::None,
            "NFC" => NormalizeForm::Nfc,
            "NFD" => NormalizeForm::Nfd,
            "NFKC" => NormalizeForm::Nfkc,
            "NFKD" => NormalizeForm::Nfkd,
            _ => return None,
        })
    }
}

/// Cost settings of new Argon2 hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Argon2Costs {
    m: u32,
    t: u32,
    p: u32,
}

/// Hashes and verifies passwords the way Flask-Security's passlib `CryptContext` does.
///
/// Build one at startup with [`PasswordContext::new`] and share it; it is cheap to clone.
/// The `hash_password`/`verify_*` methods take a password that was already normalised with
/// [`PasswordContext::normalize`]; they do not normalise it themselves.
/// `Debug` never shows the salt.
///
/// ```
/// use security_runtime::hashing::{HashingConfig, PasswordContext};
///
/// let ctx = PasswordContext::new(HashingConfig {
///     password_salt: Some("pepper".into()),
///     argon2_memory_cost: 1024, // cheap, for the example
///     argon2_time_cost: 1,
///     argon2_parallelism: 1,
///     ..HashingConfig::default()
/// })?;
/// let password = ctx.normalize("ﬁancé-Passw0rd");
/// let stored = ctx.hash_password(&password)?;
/// assert!(stored.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
/// assert!(ctx.verify_password(&password, &stored));
/// assert_eq!(ctx.verify_and_update(&password, &stored), (true, None));
/// # Ok::<(), security_runtime::hashing::HashingError>(())
/// ```
///
/// Parity: `_get_pwd_context` (passlib `CryptContext(schemes=SECURITY_PASSWORD_SCHEMES,
/// default=SECURITY_PASSWORD_HASH, deprecated=["auto"])`)
#[derive(Clone)]
pub struct PasswordContext {
    schemes: Vec<Scheme>,
    default: Scheme,
    salt: Option<String>,
    single_hash: Vec<String>,
    form: NormalizeForm,
    argon2: Argon2Costs,
    bcrypt_rounds: u32,
}

impl fmt::Debug for PasswordContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let schemes: Vec<&str> = self.schemes.iter().map(|s| s.name()).collect();
        f.debug_struct("PasswordContext")
            .field("password_hash", &self.default.name())
            .field("password_schemes", &schemes)
            .field("password_salt", &self.salt.as_ref().map(|_| "<redacted>"))
            .field("password_single_hash", &self.single_hash)
            .field("password_normalize_form", &self.form)
            .field("argon2", &self.argon2)
            .field("bcrypt_rounds", &self.bcrypt_rounds)
            .finish()
    }
}

impl PasswordContext {
    /// Checks `cfg` and builds the context.
    ///
    /// Fails if a scheme is unknown or listed twice, if `password_hash` is not among
    /// `password_schemes` or cannot create hashes (`des_crypt`), if `password_salt` is unset or
    /// empty while `password_hash` is double-hashed, if the normalisation form is unknown, or if
    /// a cost is out of range (Argon2: `m >= 8 * p`, `m <=` [`MAX_ARGON2_MEMORY_KIB`],
    /// `t >= 1`, `1 <= p < 2^24`; bcrypt: 4 to 31).
    ///
    /// Parity: `_get_pwd_context`, and the `RuntimeError` of `get_hmac` for a missing
    /// SECURITY_PASSWORD_SALT, raised here at startup instead of at the first login
    pub fn new(cfg: HashingConfig) -> Result<Self, HashingError> {
        let mut schemes = Vec::with_capacity(cfg.password_schemes.len());
        for name in &cfg.password_schemes {
            let scheme =
                Scheme::from_name(name).ok_or_else(|| HashingError::UnknownScheme(name.clone()))?;
            if schemes.contains(&scheme) {
                return Err(HashingError::DuplicateScheme(name.clone()));
            }
            schemes.push(scheme);
        }
        if !cfg.password_schemes.contains(&cfg.password_hash) {
            return Err(HashingError::HashNotInSchemes(cfg.password_hash));
        }
        let default = Scheme::from_name(&cfg.password_hash)
            .ok_or_else(|| HashingError::UnknownScheme(cfg.password_hash.clone()))?;
        if default == Scheme::DesCrypt {
            return Err(HashingError::VerifyOnlyScheme(cfg.password_hash));
        }
        let form = NormalizeForm::parse(&cfg.password_normalize_form).ok_or_else(|| {
            HashingError::InvalidNormalizeForm(cfg.password_normalize_form.clone())
        })?;
        let argon2 = Argon2Costs {
            m: cfg.argon2_memory_cost,
            t: cfg.argon2_time_cost,
            p: cfg.argon2_parallelism,
        };
        check_argon2_costs(argon2)?;
        if !(4..=31).contains(&cfg.bcrypt_rounds) {
            return Err(HashingError::InvalidParameter {
                key: "bcrypt_rounds",
                reason: format!("{} is not between 4 and 31", cfg.bcrypt_rounds),
            });
        }
        let single_hash = if cfg.password_single_hash.is_empty() {
            vec!["plaintext".to_owned()]
        } else {
            cfg.password_single_hash
        };
        let ctx = Self {
            schemes,
            default,
            salt: cfg.password_salt.filter(|s| !s.is_empty()),
            single_hash,
            form,
            argon2,
            bcrypt_rounds: cfg.bcrypt_rounds,
        };
        if ctx.double_hash(default) && ctx.salt.is_none() {
            return Err(HashingError::MissingSalt(cfg.password_hash));
        }
        Ok(ctx)
    }

    /// Applies the configured Unicode normalisation (NFKD by default) to a password.
    ///
    /// Call it on every password before hashing or verifying it.
    ///
    /// Parity: `PasswordUtil.normalize`, SECURITY_PASSWORD_NORMALIZE_FORM
    pub fn normalize(&self, password: &str) -> String {
        match self.form {
            NormalizeForm::None => password.to_owned(),
            NormalizeForm::Nfc => password.nfc().collect(),
            NormalizeForm::Nfd => password.nfd().collect(),
            NormalizeForm::Nfkc => password.nfkc().collect(),
            NormalizeForm::Nfkd => password.nfkd().collect(),
        }
    }

    /// Returns `base64(HMAC-SHA512(key = password_salt, msg = password))`, standard alphabet
    /// with padding (88 characters).
    ///
    /// Fails with [`HashingError::MissingSalt`] when no salt is configured (possible only when
    /// `password_hash` is single-hashed).
    ///
    /// Parity: `flask_security.get_hmac`
    pub fn get_hmac(&self, password: &str) -> Result<String, HashingError> {
        let salt = self
            .salt
            .as_deref()
            .ok_or_else(|| HashingError::MissingSalt(self.default.name().to_owned()))?;
        let mut mac = Hmac::<Sha512>::new_from_slice(salt.as_bytes())
            .map_err(|e| HashingError::Backend(e.to_string()))?;
        mac.update(password.as_bytes());
        Ok(STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// Hashes a password with `password_hash`, double-hashing it first unless that scheme is in
    /// `password_single_hash`.
    ///
    /// The password must already be normalised ([`PasswordContext::normalize`]). For bcrypt
    /// only the first 72 bytes of the (double-hashed) input count, as in passlib.
    ///
    /// Parity: `flask_security.hash_password`
    pub fn hash_password(&self, password: &str) -> Result<String, HashingError> {
        let input = self.scheme_input(self.default, password)?;
        let bytes = input.as_bytes();
        match self.default {
            Scheme::Argon2 => argon2_hash(bytes, self.argon2),
            Scheme::Bcrypt => bcrypt_hash(bytes, self.bcrypt_rounds),
            Scheme::Pbkdf2Sha256 => pbkdf2_hash(Pbkdf2::Sha256, bytes, PBKDF2_SHA256_ROUNDS),
            Scheme::Pbkdf2Sha512 => pbkdf2_hash(Pbkdf2::Sha512, bytes, PBKDF2_SHA512_ROUNDS),
            Scheme::Sha256Crypt => sha_crypt_hash(ShaCrypt::Sha256, bytes, SHA256_CRYPT_ROUNDS),
            Scheme::Sha512Crypt => sha_crypt_hash(ShaCrypt::Sha512, bytes, SHA512_CRYPT_ROUNDS),
            Scheme::Plaintext => Ok(input.into_owned()),
            Scheme::DesCrypt => Err(HashingError::VerifyOnlyScheme(
                Scheme::DesCrypt.name().to_owned(),
            )),
        }
    }

    /// Checks a password against a stored hash, in constant time for a given hash.
    ///
    /// The scheme is identified from `stored` among `password_schemes`; the double-hash rule
    /// is applied to that scheme. Returns `false`, never panics, for an empty, malformed,
    /// unidentifiable or unsupported `stored` value. The password must already be normalised.
    ///
    /// Parity: `flask_security.verify_password`
    pub fn verify_password(&self, password: &str, stored: &str) -> bool {
        let Some(scheme) = self.scheme_for(stored) else {
            return false;
        };
        let Ok(input) = self.scheme_input(scheme, password) else {
            return false;
        };
        let input = input.as_bytes();
        match scheme {
            Scheme::Argon2 => argon2_verify(input, stored),
            Scheme::Bcrypt => bcrypt_verify(input, stored),
            Scheme::Pbkdf2Sha256 => pbkdf2_verify(Pbkdf2::Sha256, input, stored),
            Scheme::Pbkdf2Sha512 => pbkdf2_verify(Pbkdf2::Sha512, input, stored),
            Scheme::Sha256Crypt => sha_crypt_verify(ShaCrypt::Sha256, input, stored),
            Scheme::Sha512Crypt => sha_crypt_verify(ShaCrypt::Sha512, input, stored),
            Scheme::Plaintext => input.ct_eq(stored.as_bytes()).into(),
            Scheme::DesCrypt => false,
        }
    }

    /// Verifies like [`PasswordContext::verify_password`] and, when the password is right but
    /// `stored` should be replaced ([`PasswordContext::needs_update`]), also returns a fresh
    /// hash to store.
    ///
    /// Returns `(false, None)` for a wrong password, `(true, None)` when `stored` is current,
    /// and `(true, Some(new_hash))` otherwise (`(true, None)` as well if rehashing fails).
    ///
    /// Parity: `flask_security.verify_and_update_password`
    pub fn verify_and_update(&self, password: &str, stored: &str) -> (bool, Option<String>) {
        if !self.verify_password(password, stored) {
            return (false, None);
        }
        if !self.needs_update(stored) {
            return (true, None);
        }
        (true, self.hash_password(password).ok())
    }

    /// Whether `stored` should be rehashed with the current settings.
    ///
    /// True when its scheme is not `password_hash` (every other scheme is deprecated), and,
    /// when it is, for Argon2 if its variant, version, memory cost, time cost, parallelism or
    /// digest length differ from the settings, and for bcrypt if its cost differs. Other
    /// schemes compare the scheme only. False for values no configured scheme identifies.
    /// passlib does not look at Argon2's time cost or bcrypt's cost; this does, so raising
    /// either upgrades hashes as users log in.
    ///
    /// Parity: passlib `CryptContext.needs_update`, DEPRECATED_PASSWORD_SCHEMES = `["auto"]`
    pub fn needs_update(&self, stored: &str) -> bool {
        match self.scheme_for(stored) {
            None => false,
            Some(scheme) if scheme != self.default => true,
            Some(Scheme::Argon2) => parse_argon2(stored).is_none_or(|h| {
                h.algorithm != Algorithm::Argon2id
                    || h.version != Version::V0x13
                    || h.costs != self.argon2
                    || h.digest.len() != ARGON2_DIGEST_BYTES
            }),
            Some(Scheme::Bcrypt) => parse_bcrypt_cost(stored) != Some(self.bcrypt_rounds),
            Some(_) => false,
        }
    }

    /// The configured scheme that passlib's `CryptContext.identify` would pick for `stored`:
    /// the first of `password_schemes` whose format matches, where `plaintext` matches any
    /// value. `None` for an empty value, or when nothing matches.
    ///
    /// Parity: passlib `CryptContext.identify`
    pub fn scheme_of(&self, stored: &str) -> Option<&'static str> {
        self.scheme_for(stored).map(Scheme::name)
    }

    /// Names the scheme of a stored hash from its format alone, as passlib's handlers do
    /// (`"argon2"`, `"bcrypt"`, `"des_crypt"`, `"pbkdf2_sha256"`, `"pbkdf2_sha512"`,
    /// `"sha256_crypt"`, `"sha512_crypt"`).
    ///
    /// Never returns `"plaintext"`: passlib's plaintext handler claims every string, so
    /// whether an unrecognised value is plaintext depends on the configuration; see
    /// [`PasswordContext::scheme_of`].
    ///
    /// Parity: passlib `handler.identify`
    pub fn identify(stored: &str) -> Option<&'static str> {
        Scheme::ALL
            .into_iter()
            .filter(|s| *s != Scheme::Plaintext)
            .find(|s| s.identifies(stored))
            .map(Scheme::name)
    }

    fn scheme_for(&self, stored: &str) -> Option<Scheme> {
        if stored.is_empty() {
            // passlib would call "" plaintext, which matches an empty password: refuse it.
            return None;
        }
        self.schemes.iter().copied().find(|s| s.identifies(stored))
    }

    fn double_hash(&self, scheme: Scheme) -> bool {
        !self.single_hash.iter().any(|s| s == scheme.name())
    }

    /// What the scheme actually hashes: the HMAC string, or the password itself.
    fn scheme_input<'a>(
        &self,
        scheme: Scheme,
        password: &'a str,
    ) -> Result<Cow<'a, str>, HashingError> {
        Ok(if self.double_hash(scheme) {
            Cow::Owned(self.get_hmac(password)?)
        } else {
            Cow::Borrowed(password)
        })
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], HashingError> {
    let mut bytes = [0u8; N];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| HashingError::Backend(e.to_string()))?;
    Ok(bytes)
}

/// Parses a decimal field the way passlib's `parse_mc3` does: no sign, no zero padding.
fn parse_rounds(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.starts_with('0') && s != "0") {
        return None;
    }
    s.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// Argon2

fn check_argon2_costs(c: Argon2Costs) -> Result<(), HashingError> {
    if c.m > MAX_ARGON2_MEMORY_KIB {
        return Err(HashingError::InvalidParameter {
            key: "argon2_memory_cost",
            reason: format!("{} KiB is above the {MAX_ARGON2_MEMORY_KIB} KiB limit", c.m),
        });
    }
    argon2::Params::new(c.m, c.t, c.p, Some(ARGON2_DIGEST_BYTES))
        .map(|_| ())
        .map_err(|e| HashingError::InvalidParameter {
            key: "argon2_memory_cost, argon2_time_cost or argon2_parallelism",
            reason: e.to_string(),
        })
}

/// A parsed Argon2 PHC string, as passlib's `argon2.from_string` reads it.
struct Argon2Hash {
    algorithm: Algorithm,
    version: Version,
    costs: Argon2Costs,
    data: Option<Vec<u8>>,
    salt: Vec<u8>,
    digest: Vec<u8>,
}

/// `$argon2<type>$[v=<n>$]m=<n>,t=<n>,p=<n>[,data=<b64>]$<salt b64>$<digest b64>`.
fn parse_argon2(stored: &str) -> Option<Argon2Hash> {
    let (ty, rest) = stored.strip_prefix("$argon2")?.split_once('$')?;
    let algorithm = match ty {
        "i" => Algorithm::Argon2i,
        "d" => Algorithm::Argon2d,
        "id" => Algorithm::Argon2id,
        _ => return None,
    };
    // passlib and libargon2 read a missing version as 0x10 (Argon2 1.0).
    let (version, rest) = match rest.strip_prefix("v=") {
        Some(r) => {
            let (v, r) = r.split_once('$')?;
            (decimal(v)?, r)
        }
        None => (0x10, rest),
    };
    let version = match version {
        0x10 => Version::V0x10,
        0x13 => Version::V0x13,
        _ => return None,
    };
    let mut fields = rest.split('$');
    let (params, salt, digest) = (fields.next()?, fields.next()?, fields.next()?);
    if fields.next().is_some() {
        return None;
    }
    let mut params = params.split(',');
    let m = decimal(params.next()?.strip_prefix("m=")?)?;
    let t = decimal(params.next()?.strip_prefix("t=")?)?;
    let p = decimal(params.next()?.strip_prefix("p=")?)?;
    // `keyid` is unsupported (passlib raises); `data` is associated data.
    let data = match params.next() {
        None => None,
        Some(d) => Some(STANDARD_NO_PAD.decode(d.strip_prefix("data=")?).ok()?),
    };
    if params.next().is_some() {
        return None;
    }
    // libargon2 decodes strictly: no padding, no stray bits.
    Some(Argon2Hash {
        algorithm,
        version,
        costs: Argon2Costs { m, t, p },
        data,
        salt: STANDARD_NO_PAD.decode(salt).ok()?,
        digest: STANDARD_NO_PAD.decode(digest).ok()?,
    })
}

/// An unsigned decimal as passlib's argon2 regex (`\d+`) accepts it.
fn decimal(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn argon2_hash(input: &[u8], c: Argon2Costs) -> Result<String, HashingError> {
    let params = argon2::Params::new(c.m, c.t, c.p, Some(ARGON2_DIGEST_BYTES))
        .map_err(|e| HashingError::Backend(e.to_string()))?;
    let salt = random_bytes::<SALT_BYTES>()?;
    let mut digest = [0u8; ARGON2_DIGEST_BYTES];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(input, &salt, &mut digest)
        .map_err(|e| HashingError::Backend(e.to_string()))?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        c.m,
        c.t,
        c.p,
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(digest)
    ))
}

fn argon2_verify(input: &[u8], stored: &str) -> bool {
    let Some(h) = parse_argon2(stored) else {
        return false;
    };
    if h.costs.m > MAX_ARGON2_MEMORY_KIB {
        return false;
    }
    let mut builder = ParamsBuilder::new();
    builder
        .m_cost(h.costs.m)
        .t_cost(h.costs.t)
        .p_cost(h.costs.p)
        .output_len(h.digest.len());
    if let Some(data) = &h.data {
        let Ok(data) = AssociatedData::new(data) else {
            return false;
        };
        builder.data(data);
    }
    let Ok(params) = builder.build() else {
        return false;
    };
    let mut out = vec![0u8; h.digest.len()];
    Argon2::new(h.algorithm, h.version, params)
        .hash_password_into(input, &h.salt, &mut out)
        .is_ok()
        && bool::from(out.ct_eq(&h.digest))
}

// ---------------------------------------------------------------------------------------------
// bcrypt

/// The cost of a well-formed `$2a$`, `$2b$` or `$2y$` hash.
fn parse_bcrypt_cost(stored: &str) -> Option<u32> {
    let rest = ["$2a$", "$2b$", "$2y$"]
        .iter()
        .find_map(|p| stored.strip_prefix(p))?;
    let (cost, body) = rest.split_once('$')?;
    let well_formed =
        cost.len() == 2 && body.len() == 53 && body.bytes().all(|b| HASH64_CHARS.contains(&b));
    let cost = decimal(cost).filter(|_| well_formed)?;
    (4..=31).contains(&cost).then_some(cost)
}

fn bcrypt_hash(input: &[u8], rounds: u32) -> Result<String, HashingError> {
    if input.contains(&0) {
        return Err(HashingError::NulByte);
    }
    let input = &input[..input.len().min(BCRYPT_MAX_BYTES)];
    let parts = bcrypt::hash_with_salt(input, rounds, random_bytes::<SALT_BYTES>()?)
        .map_err(|e| HashingError::Backend(e.to_string()))?;
    Ok(parts.format_for_version(bcrypt::Version::TwoB))
}

fn bcrypt_verify(input: &[u8], stored: &str) -> bool {
    if parse_bcrypt_cost(stored).is_none() || input.contains(&0) {
        return false;
    }
    let input = &input[..input.len().min(BCRYPT_MAX_BYTES)];
    matches!(bcrypt::verify(input, stored), Ok(true))
}

// ---------------------------------------------------------------------------------------------
// PBKDF2 (passlib's own `$pbkdf2-<digest>$` format)

#[derive(Clone, Copy)]
enum Pbkdf2 {
    Sha256,
    Sha512,
}

impl Pbkdf2 {
    fn ident(self) -> &'static str {
        match self {
            Pbkdf2::Sha256 => "$pbkdf2-sha256$",
            Pbkdf2::Sha512 => "$pbkdf2-sha512$",
        }
    }

    fn derive(self, input: &[u8], salt: &[u8], rounds: u32) -> Vec<u8> {
        match self {
            Pbkdf2::Sha256 => pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(input, salt, rounds).to_vec(),
            Pbkdf2::Sha512 => pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(input, salt, rounds).to_vec(),
        }
    }
}

/// passlib's "adapted base64": standard alphabet with `.` for `+`, no padding.
fn ab64_encode(bytes: &[u8]) -> String {
    STANDARD_NO_PAD.encode(bytes).replace('+', ".")
}

fn ab64_decode(s: &str) -> Option<Vec<u8>> {
    LENIENT_B64.decode(s.replace('.', "+")).ok()
}

fn pbkdf2_hash(kind: Pbkdf2, input: &[u8], rounds: u32) -> Result<String, HashingError> {
    let salt = random_bytes::<SALT_BYTES>()?;
    let checksum = kind.derive(input, &salt, rounds);
    Ok(format!(
        "{}{rounds}${}${}",
        kind.ident(),
        ab64_encode(&salt),
        ab64_encode(&checksum)
    ))
}

fn pbkdf2_verify(kind: Pbkdf2, input: &[u8], stored: &str) -> bool {
    let Some(rest) = stored.strip_prefix(kind.ident()) else {
        return false;
    };
    let mut fields = rest.split('$');
    let (Some(rounds), Some(salt), Some(checksum), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return false;
    };
    let (Some(rounds), Some(salt), Some(checksum)) = (
        parse_rounds(rounds),
        ab64_decode(salt),
        ab64_decode(checksum),
    ) else {
        return false;
    };
    if rounds == 0 || salt.len() > 1024 {
        return false;
    }
    let expected = kind.derive(input, &salt, rounds);
    // `ct_eq` is false for slices of different lengths.
    expected.ct_eq(&checksum).into()
}

// ---------------------------------------------------------------------------------------------
// SHA-crypt (`$5$`, `$6$`)

#[derive(Clone, Copy)]
enum ShaCrypt {
    Sha256,
    Sha512,
}

impl ShaCrypt {
    fn ident(self) -> &'static str {
        match self {
            ShaCrypt::Sha256 => "$5$",
            ShaCrypt::Sha512 => "$6$",
        }
    }

    fn checksum_len(self) -> usize {
        match self {
            ShaCrypt::Sha256 => 43,
            ShaCrypt::Sha512 => 86,
        }
    }

    fn checksum(self, input: &[u8], salt: &str, rounds: usize) -> Option<String> {
        match self {
            ShaCrypt::Sha256 => {
                let params = sha_crypt::Sha256Params::new(rounds).ok()?;
                sha_crypt::sha256_crypt_b64(input, salt.as_bytes(), &params).ok()
            }
            ShaCrypt::Sha512 => {
                let params = sha_crypt::Sha512Params::new(rounds).ok()?;
                sha_crypt::sha512_crypt_b64(input, salt.as_bytes(), &params).ok()
            }
        }
    }
}

/// The rounds count that crypt(3) uses when a hash does not name one.
const SHA_CRYPT_IMPLICIT_ROUNDS: usize = 5_000;

fn sha_crypt_hash(kind: ShaCrypt, input: &[u8], rounds: usize) -> Result<String, HashingError> {
    let salt: String = random_bytes::<16>()?
        .iter()
        .map(|b| char::from(HASH64_CHARS[usize::from(b & 63)]))
        .collect();
    let checksum = kind
        .checksum(input, &salt, rounds)
        .ok_or_else(|| HashingError::Backend(format!("sha-crypt refused {rounds} rounds")))?;
    // passlib leaves out `rounds=` exactly when it is the implicit 5000.
    let rounds_field = if rounds == SHA_CRYPT_IMPLICIT_ROUNDS {
        String::new()
    } else {
        format!("rounds={rounds}$")
    };
    Ok(format!("{}{rounds_field}{salt}${checksum}", kind.ident()))
}

fn sha_crypt_verify(kind: ShaCrypt, input: &[u8], stored: &str) -> bool {
    let Some(rest) = stored.strip_prefix(kind.ident()) else {
        return false;
    };
    let mut fields: Vec<&str> = rest.split('$').collect();
    let rounds = match fields.first().and_then(|f| f.strip_prefix("rounds=")) {
        Some(r) => {
            let Some(r) = parse_rounds(r) else {
                return false;
            };
            fields.remove(0);
            r as usize
        }
        None => SHA_CRYPT_IMPLICIT_ROUNDS,
    };
    let [salt, checksum] = fields[..] else {
        return false;
    };
    let hash64 = |s: &str| s.bytes().all(|b| HASH64_CHARS.contains(&b));
    if salt.len() > 16
        || !hash64(salt)
        || checksum.len() != kind.checksum_len()
        || !hash64(checksum)
    {
        return false;
    }
    // Sha*Params::new refuses rounds outside 1000..=999_999_999, as passlib does.
    kind.checksum(input, salt, rounds)
        .is_some_and(|c| bool::from(c.as_bytes().ct_eq(checksum.as_bytes())))
}

/// SHA-256 of `s` in lower-case hex: how single-use secrets (session ids, remember
/// tokens, WebAuthn challenges) are stored, never in the clear.
pub fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    // Spelled out: this runs on every session request, and `format!("{:x}")` took
    // ~900 instructions of formatter machinery for the same 64 characters.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for byte in Sha256::digest(s.as_bytes()) {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const SALT: &str = "test-salt-do-not-use";
    const PASSWORD: &str = "Passw0rd!-ascii";
    /// `get_hmac(PASSWORD)` with SALT, computed by Flask-Security (see tests/data).
    const PASSWORD_HMAC: &str =
        "WNObK4pDTi4SZKsCc9yB90NsfDNzhL2GcKDYWOsTh9HwRWGadRScpjfcmeimxVpGMpQzsnmyrlWrRQ9PRmQrvA==";

    /// Default config with a salt and cheap costs.
    fn cheap(password_hash: &str) -> HashingConfig {
        HashingConfig {
            password_hash: password_hash.to_owned(),
            password_salt: Some(SALT.to_owned()),
            argon2_memory_cost: 64,
            argon2_time_cost: 1,
            argon2_parallelism: 1,
            bcrypt_rounds: 4,
            ..HashingConfig::default()
        }
    }

    fn ctx(password_hash: &str) -> PasswordContext {
        PasswordContext::new(cheap(password_hash)).unwrap()
    }

    fn err(cfg: HashingConfig) -> String {
        PasswordContext::new(cfg).unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_flask_security_and_passlib_defaults() {
        let cfg = HashingConfig::default();
        assert_eq!(cfg.password_hash, "argon2");
        assert_eq!(cfg.password_schemes, KNOWN_SCHEMES);
        assert_eq!(cfg.password_salt, None);
        assert_eq!(cfg.password_single_hash.len(), 9);
        assert!(cfg.password_single_hash.iter().any(|s| s == "plaintext"));
        assert!(cfg
            .password_single_hash
            .iter()
            .any(|s| s == "django_argon2"));
        assert_eq!(cfg.password_normalize_form, "NFKD");
        assert_eq!(
            (
                cfg.argon2_memory_cost,
                cfg.argon2_time_cost,
                cfg.argon2_parallelism
            ),
            (65_536, 3, 4)
        );
        assert_eq!(cfg.bcrypt_rounds, 12);
    }

    #[test]
    fn default_argon2_needs_a_salt() {
        let msg = "password_salt must be set when password_hash is `argon2` (double hashing)";
        assert_eq!(err(HashingConfig::default()), msg);
        let empty = HashingConfig {
            password_salt: Some(String::new()),
            ..HashingConfig::default()
        };
        assert_eq!(err(empty), msg);
    }

    #[test]
    fn config_errors_name_the_key() {
        let mut cfg = cheap("argon2");
        cfg.password_hash = "x".into();
        assert_eq!(err(cfg), "password_hash `x` is not in password_schemes");

        let mut cfg = cheap("argon2");
        cfg.password_schemes.push("md5_crypt".into());
        assert!(err(cfg).starts_with("unknown password scheme `md5_crypt`; expected one of"));

        let mut cfg = cheap("argon2");
        cfg.password_schemes.push("bcrypt".into());
        assert_eq!(
            err(cfg),
            "password scheme `bcrypt` is listed twice in password_schemes"
        );

        assert_eq!(
            err(cheap("des_crypt")),
            "password_hash `des_crypt` cannot create hashes; choose another scheme"
        );

        let mut cfg = cheap("argon2");
        cfg.password_normalize_form = "nfkd".into();
        assert!(err(cfg).starts_with("password_normalize_form `nfkd` is invalid"));

        for (m, t, p) in [
            (64, 1, 9),
            (64, 0, 1),
            (64, 1, 0),
            (MAX_ARGON2_MEMORY_KIB + 1, 1, 1),
        ] {
            let mut cfg = cheap("argon2");
            (
                cfg.argon2_memory_cost,
                cfg.argon2_time_cost,
                cfg.argon2_parallelism,
            ) = (m, t, p);
            assert!(err(cfg).starts_with("argon2_memory_cost"), "{m} {t} {p}");
        }
        for rounds in [3, 32] {
            let mut cfg = cheap("bcrypt");
            cfg.bcrypt_rounds = rounds;
            assert_eq!(
                err(cfg),
                format!("bcrypt_rounds is invalid: {rounds} is not between 4 and 31")
            );
        }
    }

    #[test]
    fn single_hash_default_needs_no_salt() {
        let mut cfg = cheap("plaintext");
        cfg.password_salt = None;
        let plain = PasswordContext::new(cfg).unwrap();
        assert_eq!(plain.hash_password(PASSWORD).unwrap(), PASSWORD);
        assert!(plain.verify_password(PASSWORD, PASSWORD));
        assert!(matches!(
            plain.get_hmac(PASSWORD),
            Err(HashingError::MissingSalt(_))
        ));
        // Verifying a double-hashed scheme needs the salt: no salt, no match.
        let stored = ctx("argon2").hash_password(PASSWORD).unwrap();
        assert!(!plain.verify_password(PASSWORD, &stored));
    }

    #[test]
    fn empty_single_hash_means_plaintext_only() {
        let mut cfg = cheap("argon2");
        cfg.password_single_hash.clear();
        let c = PasswordContext::new(cfg).unwrap();
        assert!(c.verify_password(PASSWORD, PASSWORD));
        assert!(c.double_hash(Scheme::Argon2));
    }

    #[test]
    fn get_hmac_matches_flask_security() {
        let hmac = ctx("argon2").get_hmac(PASSWORD).unwrap();
        assert_eq!(hmac, PASSWORD_HMAC);
        assert_eq!(hmac.len(), 88);
    }

    #[test]
    fn normalize_applies_the_configured_form() {
        let raw = "\u{fb01}anc\u{e9}";
        for (form, want) in [
            ("NFKD", "fiance\u{301}"),
            ("NFKC", "fianc\u{e9}"),
            ("NFD", "\u{fb01}ance\u{301}"),
            ("NFC", raw),
            ("", raw),
        ] {
            let mut cfg = cheap("argon2");
            cfg.password_normalize_form = form.into();
            assert_eq!(
                PasswordContext::new(cfg).unwrap().normalize(raw),
                want,
                "{form}"
            );
        }
    }

    #[test]
    fn sha256_hex_is_the_lower_case_digest() {
        // Stored session and remember-me keys: a change of spelling would orphan them.
        assert_eq!(
            sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn every_hashable_scheme_round_trips() {
        for (scheme, prefix) in [
            ("argon2", "$argon2id$v=19$m=64,t=1,p=1$"),
            ("bcrypt", "$2b$04$"),
            ("pbkdf2_sha256", "$pbkdf2-sha256$29000$"),
            ("pbkdf2_sha512", "$pbkdf2-sha512$25000$"),
            ("plaintext", PASSWORD),
        ] {
            let c = ctx(scheme);
            let stored = c.hash_password(PASSWORD).unwrap();
            assert!(stored.starts_with(prefix), "{stored}");
            assert_eq!(c.scheme_of(&stored), Some(scheme));
            assert!(c.verify_password(PASSWORD, &stored), "{scheme}");
            assert!(!c.verify_password("wrong", &stored), "{scheme}");
            assert_eq!(c.verify_and_update(PASSWORD, &stored), (true, None));
            // A second hash of the same password differs (random salt), except plaintext.
            let again = c.hash_password(PASSWORD).unwrap();
            assert_eq!(again == stored, scheme == "plaintext");
        }
    }

    #[test]
    fn sha_crypt_hashes_round_trip() {
        // passlib's default rounds (535000/656000) are too slow for a debug test, so call the
        // scheme functions directly with other rounds.
        let input = PASSWORD_HMAC.as_bytes();
        for kind in [ShaCrypt::Sha256, ShaCrypt::Sha512] {
            let implicit = sha_crypt_hash(kind, input, 5_000).unwrap();
            let explicit = sha_crypt_hash(kind, input, 1_000).unwrap();
            assert!(!implicit.contains("rounds="), "{implicit}");
            assert!(explicit.starts_with(&format!("{}rounds=1000$", kind.ident())));
            for stored in [&implicit, &explicit] {
                let salt = stored.rsplit('$').nth(1).unwrap();
                assert_eq!(salt.len(), 16);
                assert!(sha_crypt_verify(kind, input, stored));
                assert!(!sha_crypt_verify(kind, b"wrong", stored));
                assert!(ctx("argon2").verify_password(PASSWORD, stored));
            }
            // crypt(3) reads an explicit rounds=5000 like the implicit one.
            let with_rounds = format!("{}rounds=5000${}", kind.ident(), &implicit[3..]);
            assert!(sha_crypt_verify(kind, input, &with_rounds), "{with_rounds}");
            // Zero-padded or out-of-range rounds are malformed for passlib.
            for bad in ["rounds=01000", "rounds=999", "rounds=", "rounds=1e3"] {
                let stored = explicit.replace("rounds=1000", bad);
                assert!(!sha_crypt_verify(kind, input, &stored), "{stored}");
            }
        }
    }

    #[test]
    fn default_argon2_settings_write_passlib_format() {
        let c = PasswordContext::new(HashingConfig {
            password_salt: Some(SALT.into()),
            ..HashingConfig::default()
        })
        .unwrap();
        let stored = c.hash_password(PASSWORD).unwrap();
        let fields: Vec<&str> = stored.split('$').collect();
        assert_eq!(fields[..4], ["", "argon2id", "v=19", "m=65536,t=3,p=4"]);
        assert_eq!((fields[4].len(), fields[5].len()), (22, 43)); // 16-byte salt, 32-byte digest
        assert!(c.verify_password(PASSWORD, &stored));
        assert!(!c.needs_update(&stored));
    }

    #[test]
    fn identify_follows_passlib_handlers() {
        for (stored, want) in [
            ("$argon2id$v=19$m=1,t=1,p=1$x$y", Some("argon2")),
            ("$argon2x$foo", Some("argon2")), // passlib: `^\$argon2[a-z]+\$`
            ("$argon2$", None),
            ("$2b$garbage", Some("bcrypt")),
            ("$2$", Some("bcrypt")),
            ("$2x$", Some("bcrypt")),
            ("$pbkdf2-sha256$1$a$b", Some("pbkdf2_sha256")),
            ("$pbkdf2-sha512$", Some("pbkdf2_sha512")),
            ("$pbkdf2$1$a$b", None),
            ("$5$abc", Some("sha256_crypt")),
            ("$6$abc", Some("sha512_crypt")),
            ("abcdefghijklm", Some("des_crypt")),
            ("ab", Some("des_crypt")),
            ("abc", None),
            ("abcdefghijkl!", None),
            ("$1$abc", None),
            ("", None),
        ] {
            assert_eq!(PasswordContext::identify(stored), want, "{stored}");
        }
    }

    #[test]
    fn scheme_of_only_considers_configured_schemes_in_order() {
        let bcrypt_hash = ctx("bcrypt").hash_password(PASSWORD).unwrap();
        // bcrypt not configured but plaintext is: passlib calls the bcrypt string plaintext.
        let mut cfg = cheap("argon2");
        cfg.password_schemes = vec!["argon2".into(), "plaintext".into()];
        let c = PasswordContext::new(cfg).unwrap();
        assert_eq!(c.scheme_of(&bcrypt_hash), Some("plaintext"));
        assert!(!c.verify_password(PASSWORD, &bcrypt_hash));
        assert!(c.verify_password(&bcrypt_hash, &bcrypt_hash));
        // Without plaintext nothing matches.
        let mut cfg = cheap("argon2");
        cfg.password_schemes = vec!["argon2".into()];
        let c = PasswordContext::new(cfg).unwrap();
        assert_eq!(c.scheme_of(&bcrypt_hash), None);
        assert_eq!(c.scheme_of(PASSWORD), None);
        assert!(!c.verify_password(PASSWORD, PASSWORD));
        // plaintext listed first claims everything, as in passlib.
        let mut cfg = cheap("argon2");
        cfg.password_schemes = vec!["plaintext".into(), "bcrypt".into(), "argon2".into()];
        let c = PasswordContext::new(cfg).unwrap();
        assert_eq!(c.scheme_of(&bcrypt_hash), Some("plaintext"));
    }

    #[test]
    fn empty_stored_value_never_verifies() {
        let c = ctx("plaintext");
        assert!(!c.verify_password("", ""));
        assert_eq!(c.scheme_of(""), None);
        assert_eq!(c.verify_and_update("", ""), (false, None));
    }

    #[test]
    fn needs_update_compares_scheme_and_argon2_settings() {
        let c = ctx("argon2");
        let current = c.hash_password(PASSWORD).unwrap();
        assert!(!c.needs_update(&current));
        for changed in ["m=72,t=1,p=1", "m=64,t=2,p=1", "m=64,t=1,p=2"] {
            let mut cfg = cheap("argon2");
            let costs: Vec<u32> = changed
                .split(',')
                .map(|kv| kv[2..].parse().unwrap())
                .collect();
            (
                cfg.argon2_memory_cost,
                cfg.argon2_time_cost,
                cfg.argon2_parallelism,
            ) = (costs[0], costs[1], costs[2]);
            let other = PasswordContext::new(cfg).unwrap();
            let stored = other.hash_password(PASSWORD).unwrap();
            assert!(stored.contains(changed));
            assert!(c.needs_update(&stored), "{changed}");
            assert!(c.verify_password(PASSWORD, &stored));
        }
        // Variant, version and digest length count too.
        let argon2i = current.replacen("$argon2id$", "$argon2i$", 1);
        let v16 = current.replacen("$v=19$", "$v=16$", 1);
        let mut digest = [0u8; 16];
        let params = argon2::Params::new(64, 1, 1, Some(16)).unwrap();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(PASSWORD_HMAC.as_bytes(), b"saltsaltsalt", &mut digest)
            .unwrap();
        let short = format!(
            "$argon2id$v=19$m=64,t=1,p=1${}${}",
            STANDARD_NO_PAD.encode(b"saltsaltsalt"),
            STANDARD_NO_PAD.encode(digest)
        );
        assert!(c.verify_password(PASSWORD, &short));
        for stored in [&argon2i, &v16, &short] {
            assert!(c.needs_update(stored), "{stored}");
        }
        // Other schemes are deprecated; unrecognised values are not "outdated".
        let pbkdf2 = ctx("pbkdf2_sha256").hash_password(PASSWORD).unwrap();
        assert!(c.needs_update(&pbkdf2));
        assert!(c.needs_update(PASSWORD)); // plaintext
        let mut cfg = cheap("argon2");
        cfg.password_schemes.retain(|s| s != "plaintext");
        assert!(!PasswordContext::new(cfg).unwrap().needs_update("nonsense"));
        // bcrypt as default: the cost counts.
        let b = ctx("bcrypt");
        let cost4 = b.hash_password(PASSWORD).unwrap();
        assert!(!b.needs_update(&cost4));
        assert!(b.needs_update(&cost4.replacen("$04$", "$05$", 1)));
        assert!(b.needs_update(&current));
    }

    #[test]
    fn verify_and_update_rehashes_legacy_hashes() {
        let c = ctx("argon2");
        let legacy = ctx("pbkdf2_sha512").hash_password(PASSWORD).unwrap();
        assert_eq!(c.verify_and_update("wrong", &legacy), (false, None));
        let (ok, new) = c.verify_and_update(PASSWORD, &legacy);
        assert!(ok);
        let new = new.unwrap();
        assert!(new.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_eq!(c.verify_and_update(PASSWORD, &new), (true, None));
        // Plaintext is rehashed from the raw password.
        let (ok, new) = c.verify_and_update(PASSWORD, PASSWORD);
        assert!(ok && c.verify_password(PASSWORD, &new.unwrap()));
    }

    #[test]
    fn double_hash_rule_follows_the_stored_scheme() {
        let double = ctx("argon2");
        let mut cfg = cheap("argon2");
        cfg.password_single_hash.push("argon2".into());
        let single = PasswordContext::new(cfg).unwrap();

        let single_hashed = single.hash_password(PASSWORD).unwrap();
        assert!(argon2_verify(PASSWORD.as_bytes(), &single_hashed));
        assert!(single.verify_password(PASSWORD, &single_hashed));
        assert!(!double.verify_password(PASSWORD, &single_hashed));

        let double_hashed = double.hash_password(PASSWORD).unwrap();
        assert!(argon2_verify(PASSWORD_HMAC.as_bytes(), &double_hashed));
        assert!(!single.verify_password(PASSWORD, &double_hashed));
    }

    #[test]
    fn bcrypt_reads_only_72_bytes() {
        // Double hashing: the 88-character HMAC is cut to 72 bytes, as passlib does.
        let stored = ctx("bcrypt").hash_password(PASSWORD).unwrap();
        assert!(matches!(
            bcrypt::verify(&PASSWORD_HMAC[..72], &stored),
            Ok(true)
        ));
        // Single hashing: passwords equal in their first 72 bytes are equal.
        let mut cfg = cheap("bcrypt");
        cfg.password_single_hash.push("bcrypt".into());
        let c = PasswordContext::new(cfg).unwrap();
        let long = "a".repeat(72);
        let stored = c.hash_password(&format!("{long}-one")).unwrap();
        assert!(c.verify_password(&format!("{long}-two"), &stored));
        assert!(c.verify_password(&long, &stored));
        assert!(!c.verify_password(&long[1..], &stored));
        // passlib refuses NUL bytes for bcrypt.
        assert!(matches!(
            c.hash_password("a\0b"),
            Err(HashingError::NulByte)
        ));
        assert!(!c.verify_password("a\0b", &stored));
    }

    /// Changes an unused trailing bit of the last base64 character (standard alphabet, `.`
    /// read as `+`): the decoded bytes stay the same.
    fn flip_trailing_bit(stored: &str) -> String {
        const STD: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let (head, last) = stored.split_at(stored.len() - 1);
        let last = if last == "." {
            b'+'
        } else {
            last.as_bytes()[0]
        };
        let index = STD.iter().position(|&b| b == last).unwrap();
        let flipped = match STD[index ^ 1] {
            b'+' => '.',
            b => char::from(b),
        };
        format!("{head}{flipped}")
    }

    #[test]
    fn base64_strictness_matches_passlib_backends() {
        let c = ctx("argon2");
        // passlib decodes pbkdf2 fields with a2b_base64: stray trailing bits and `+` pass.
        let pbkdf2 = ctx("pbkdf2_sha256").hash_password(PASSWORD).unwrap();
        let tweaked = flip_trailing_bit(&pbkdf2);
        assert_ne!(tweaked, pbkdf2);
        assert!(c.verify_password(PASSWORD, &tweaked));
        assert!(c.verify_password(PASSWORD, &pbkdf2.replace('.', "+")));
        // libargon2 decodes strictly: the same change makes a malformed hash.
        let argon = c.hash_password(PASSWORD).unwrap();
        assert!(!c.verify_password(PASSWORD, &flip_trailing_bit(&argon)));
    }

    #[test]
    fn argon2_memory_above_the_cap_is_refused() {
        let c = ctx("argon2");
        let stored = c.hash_password(PASSWORD).unwrap();
        let huge = stored.replacen("m=64,", &format!("m={},", MAX_ARGON2_MEMORY_KIB + 1), 1);
        assert!(!c.verify_password(PASSWORD, &huge));
        let max = stored.replacen("m=64,", "m=4294967295,", 1);
        assert!(!c.verify_password(PASSWORD, &max));
    }

    #[test]
    fn des_crypt_is_recognised_but_never_verifies() {
        let c = ctx("argon2");
        // passlib: des_crypt.hash("password", salt="ab")
        assert_eq!(c.scheme_of("abJnggxhB/yWI"), Some("des_crypt"));
        assert!(!c.verify_password("password", "abJnggxhB/yWI"));
    }

    #[test]
    fn debug_never_shows_the_salt() {
        let c = ctx("argon2");
        let shown = format!("{c:?} {:?}", cheap("argon2"));
        assert!(!shown.contains(SALT), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn context_is_shareable() {
        fn assert_traits<T: Clone + Send + Sync + fmt::Debug + 'static>() {}
        assert_traits::<PasswordContext>();
        assert_traits::<HashingConfig>();
        fn assert_error<T: std::error::Error + Send + Sync + 'static>() {}
        assert_error::<HashingError>();
    }

    /// Rough work a verification would do, to skip mutations that made a hash expensive.
    fn too_expensive(stored: &str) -> bool {
        let digits_after = |marker: &str| -> u64 {
            stored
                .split_once(marker)
                .map(|(_, rest)| rest.bytes().take_while(u8::is_ascii_digit).take(12))
                .map(|d| d.fold(0u64, |n, b| n * 10 + u64::from(b - b'0')))
                .unwrap_or(0)
        };
        parse_bcrypt_cost(stored).is_some_and(|c| c > 4)
            || parse_argon2(stored)
                .is_some_and(|h| u64::from(h.costs.m) * u64::from(h.costs.t) > 4096)
            || digits_after("$pbkdf2-sha256$") > 1_000
            || digits_after("$pbkdf2-sha512$") > 1_000
            || digits_after("rounds=") > 2_000
    }

    #[test]
    fn garbage_and_mutated_hashes_return_false_without_panicking() {
        let c = ctx("argon2");
        let input = PASSWORD_HMAC.as_bytes();
        let valid = [
            c.hash_password(PASSWORD).unwrap(),
            bcrypt_hash(input, 4).unwrap(),
            pbkdf2_hash(Pbkdf2::Sha256, input, 10).unwrap(),
            pbkdf2_hash(Pbkdf2::Sha512, input, 10).unwrap(),
            sha_crypt_hash(ShaCrypt::Sha256, input, 1_000).unwrap(),
            sha_crypt_hash(ShaCrypt::Sha512, input, 1_000).unwrap(),
            PASSWORD.to_owned(),
            "abJnggxhB/yWI".to_owned(),
        ];
        for stored in &valid[..7] {
            assert!(c.verify_password(PASSWORD, stored), "{stored}");
        }
        let alphabet: Vec<char> = "$=,.+/0123456789abcdefimnprtvyzAZ \u{e9}\u{fb01}\u{0}"
            .chars()
            .collect();
        let mut rng = StdRng::seed_from_u64(0x5ec0_2171);
        let mut checked = 0;
        for _ in 0..4_000 {
            let base = valid[rng.gen_range(0..valid.len())].as_bytes();
            let kind = rng.gen_range(0..4);
            let bytes: Vec<u8> = match kind {
                0 => base[..rng.gen_range(0..base.len())].to_vec(),
                1 => {
                    let mut b = base.to_vec();
                    for _ in 0..rng.gen_range(1..=3) {
                        let i = rng.gen_range(0..b.len());
                        b[i] ^= 1 << rng.gen_range(0..8);
                    }
                    b
                }
                2 => {
                    let other = valid[rng.gen_range(0..valid.len())].as_bytes();
                    let mut b = base[..rng.gen_range(0..=base.len())].to_vec();
                    b.extend_from_slice(&other[rng.gen_range(0..=other.len())..]);
                    b
                }
                _ => {
                    let len = rng.gen_range(0..120);
                    let s: String = (0..len)
                        .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                        .collect();
                    let prefix = [
                        "",
                        "$argon2id$",
                        "$2b$",
                        "$5$",
                        "$6$rounds=",
                        "$pbkdf2-sha512$",
                    ];
                    format!("{}{s}", prefix[rng.gen_range(0..prefix.len())]).into_bytes()
                }
            };
            let stored = String::from_utf8_lossy(&bytes);
            if too_expensive(&stored) {
                continue;
            }
            checked += 1;
            assert!(!c.verify_password("wrong", &stored), "{stored}");
            assert_eq!(c.verify_and_update("wrong", &stored), (false, None));
            let random_password: String = (0..rng.gen_range(0..20))
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect();
            assert!(!c.verify_password(&random_password, &stored) || random_password == stored);
            let right = c.verify_password(PASSWORD, &stored);
            if kind == 0 {
                assert!(!right, "a strict prefix verified: {stored}");
            }
            let _ = c.needs_update(&stored);
            let _ = c.scheme_of(&stored);
            let _ = PasswordContext::identify(&stored);
        }
        assert!(checked > 3_500, "{checked}");
    }
}
