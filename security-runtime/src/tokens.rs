//! Signed, timestamped tokens that are wire-compatible with Python's itsdangerous 2.x.
//!
//! Flask-Security signs every token it hands out (auth tokens, confirm / reset /
//! passwordless links, two-factor and unified-signin setup state, WebAuthn state,
//! the two-factor validity cookie) with an itsdangerous `URLSafeTimedSerializer`
//! built by `_get_serializer`. [`TokenSerializer`] produces and checks the same
//! tokens, so a token issued by a Python deployment verifies here and vice versa
//! while both run side by side or during a migration.
//!
//! # Wire format
//!
//! ```text
//! token     = payload "." timestamp "." signature
//! payload   = b64(json)  |  "." b64(zlib(json))      ; zlib only if 2+ bytes shorter
//! timestamp = b64(epoch seconds, big-endian, leading zero bytes stripped)
//! signature = b64(HMAC-SHA1(key, payload "." timestamp))
//! key       = SHA1(salt "signer" secret_key)          ; itsdangerous "django-concat"
//! ```
//!
//! `b64` is URL-safe base64 without padding and `json` is Python's
//! `json.dumps(value, separators=(",", ":"), ensure_ascii=False)`: compact, raw
//! UTF-8, Python's float spelling (`1e+16`, `1e-05`).
//!
//! # Deviations from itsdangerous
//!
//! None of them stops a token made by one side from verifying on the other.
//!
//! * Every base64 part must be canonical: URL-safe alphabet only, no `=`, no
//!   stray characters, unused trailing bits zero. itsdangerous skips unknown
//!   characters and accepts `+`, `/` and padding, so one signature has many
//!   spellings there; here a token verifies in exactly one spelling.
//! * Payloads larger than [`MAX_PAYLOAD_BYTES`] (after decompression) and tokens
//!   longer than [`MAX_TOKEN_LEN`] are invalid, so a zlib bomb cannot exhaust memory.
//! * JSON nested deeper than 128 levels, `NaN` and `Infinity` are invalid
//!   (serde_json's limits); Python accepts them. Integers beyond 64 bits load as
//!   floats.
//! * Compressed payloads come from flate2 (miniz_oxide), whose bytes, and so the
//!   compress-or-not decision near the two-byte margin, can differ from
//!   CPython's zlib (which itself differs between zlib and zlib-ng builds).
//!   Uncompressed tokens are byte-identical.
//! * With serde_json's default (sorted) `Map`, objects are written in key order
//!   rather than insertion order; this changes the bytes, not the meaning.
//!   Enabling serde_json's `preserve_order` feature restores Python's order.
//! * Without serde_json's `float_roundtrip` feature, a float in a payload may
//!   load one or two ULPs off (serde_json's "best effort" parsing); harmless
//!   for Flask-Security's timestamps, exact with the feature enabled.

use std::cell::RefCell;
use std::io::Write;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use hmac::digest::{Digest, Key, KeyInit};
use hmac::{Hmac, Mac};
use miniz_oxide::inflate::core::DecompressorOxide;
use serde_json::Value;
use sha1::Sha1;
use subtle::{Choice, ConstantTimeEq};

use crate::memo::TextMemo;

/// Largest payload, in bytes of JSON after base64 decoding and decompression,
/// that [`TokenSerializer`] will parse. Larger tokens are [`TokenError::Invalid`].
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

/// Longest token string, in bytes, that [`TokenSerializer`] will look at.
/// Longer input is rejected before any hashing or decoding.
pub const MAX_TOKEN_LEN: usize = 2 * MAX_PAYLOAD_BYTES;

/// Largest timestamp Python can turn into a `datetime` (9999-12-31T23:59:59Z).
/// itsdangerous' `loads` raises `ValueError`/`OverflowError` beyond it, which
/// Flask-Security treats as an invalid token; so do we.
const MAX_TIMESTAMP: u64 = 253_402_300_799;

/// Length of an HMAC-SHA1 signature in bytes.
const SIGNATURE_LEN: usize = 20;

/// Why a token was refused.
///
/// Parity: itsdangerous `SignatureExpired` (→ [`TokenError::Expired`]) versus every
/// other `BadData` (→ [`TokenError::Invalid`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The signature is valid but the token is older than the allowed age, or
    /// its timestamp lies in the future (clock skew).
    #[error("token expired")]
    Expired,
    /// The token is malformed, was signed with another key or salt, or was
    /// altered in any way.
    #[error("token invalid")]
    Invalid,
}

/// Creates and checks signed, timestamped tokens for one purpose (one salt).
///
/// Parity: itsdangerous `URLSafeTimedSerializer(secret_keys, salt=salt)` as built by
/// Flask-Security's `_get_serializer`, with `secret_keys = [SECRET_KEY,
/// *SECRET_KEY_FALLBACKS]`. Tokens are signed with the **last** key and verified
/// with any of them (itsdangerous' rotation order). Each salt (`remember-salt`,
/// `confirm-salt`, `reset-salt`, …) yields tokens the other salts reject.
///
/// Only the derived signing keys are stored, and [`Debug`](std::fmt::Debug)
/// prints neither them nor the secrets.
///
/// ```
/// use security_runtime::tokens::{TokenError, TokenSerializer};
/// use serde_json::json;
///
/// let ser = TokenSerializer::new(vec![b"secret".to_vec()], "confirm-salt");
/// let token = ser.dumps_at(&json!(["uniquifier", "hash"]), 1_700_000_000);
///
/// // Valid for 60 s: still fine at the boundary, expired one second later.
/// assert_eq!(ser.loads_at(&token, Some(60), 1_700_000_060), Ok(json!(["uniquifier", "hash"])));
/// assert_eq!(ser.loads_at(&token, Some(60), 1_700_000_061), Err(TokenError::Expired));
///
/// // Another salt (another purpose) never accepts it.
/// let reset = TokenSerializer::new(vec![b"secret".to_vec()], "reset-salt");
/// assert_eq!(reset.loads_at(&token, None, 1_700_000_000), Err(TokenError::Invalid));
/// ```
#[derive(Clone)]
pub struct TokenSerializer {
    /// HMAC keys derived from each secret, oldest first; the last one signs.
    keys: Vec<SigningKey>,
    salt: String,
}

impl std::fmt::Debug for TokenSerializer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSerializer")
            .field("salt", &self.salt)
            .field("keys", &format_args!("<{} redacted>", self.keys.len()))
            .finish()
    }
}

impl TokenSerializer {
    /// Builds a serializer from `[SECRET_KEY, *SECRET_KEY_FALLBACKS]` and a salt.
    ///
    /// Python `str` secrets correspond to their UTF-8 bytes. The last key signs;
    /// all keys verify.
    ///
    /// Parity: Flask-Security `_get_serializer(app, name)` with
    /// `SECURITY_<NAME>_SALT`.
    ///
    /// # Panics
    ///
    /// If `secret_keys` is empty: there would be nothing to sign with
    /// (itsdangerous fails the same way). This is a configuration error that
    /// should stop the application at start-up.
    pub fn new(secret_keys: Vec<Vec<u8>>, salt: impl Into<String>) -> Self {
        assert!(
            !secret_keys.is_empty(),
            "TokenSerializer needs at least one secret key"
        );
        let salt = salt.into();
        let keys = secret_keys
            .iter()
            .map(|secret| SigningKey::derive(salt.as_bytes(), secret))
            .collect();
        Self { keys, salt }
    }

    /// The salt that separates this serializer's tokens from other purposes.
    pub fn salt(&self) -> &str {
        &self.salt
    }

    /// Signs `value` with timestamp `now_epoch_secs` and returns the token.
    ///
    /// For inputs Python's `json.dumps` would write the same way (insertion
    /// order equal to the `Map` order, no compression), the token is
    /// byte-identical to itsdangerous' `dumps`.
    ///
    /// Parity: itsdangerous `URLSafeTimedSerializer.dumps`.
    pub fn dumps_at(&self, value: &Value, now_epoch_secs: u64) -> String {
        let json = python_json(value);
        let compressed = zlib_compress(json.as_bytes());
        let mut token = String::with_capacity(json.len() * 4 / 3 + 48);
        match compressed {
            // itsdangerous compresses only when that saves at least two bytes.
            Some(zipped) if zipped.len() + 1 < json.len() => {
                token.push('.');
                URL_SAFE_NO_PAD.encode_string(&zipped, &mut token);
            }
            _ => URL_SAFE_NO_PAD.encode_string(json.as_bytes(), &mut token),
        }
        token.push('.');
        let ts = now_epoch_secs.to_be_bytes();
        let first_used = ts.iter().position(|&b| b != 0).unwrap_or(ts.len());
        URL_SAFE_NO_PAD.encode_string(&ts[first_used..], &mut token);
        let signature = self.signing_key().sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        token
    }

    /// Verifies `token` and returns its payload.
    ///
    /// With `max_age_secs = Some(max)`, the token's age `now - timestamp` must
    /// satisfy `0 <= age <= max`, otherwise [`TokenError::Expired`] (only ever
    /// returned for a correctly signed token). So `Some(0)` accepts a token only
    /// during the second it was issued — Flask-Security's `TOKEN_MAX_AGE = 0`
    /// means "expires at once", not "never". `None` skips the age check.
    ///
    /// Parity: itsdangerous `URLSafeTimedSerializer.loads(token, max_age=...)`
    /// (`age > max_age` and `age < 0` both raise `SignatureExpired`).
    pub fn loads_at(
        &self,
        token: &str,
        max_age_secs: Option<u64>,
        now_epoch_secs: u64,
    ) -> Result<Value, TokenError> {
        let payload = self.verify_age(token, max_age_secs, now_epoch_secs)?;
        parse_json(&payload_json(payload, inflate_payload)?)
    }

    /// [`loads_at`](Self::loads_at)'s checks, returning the payload's JSON text (UTF-8,
    /// at most [`MAX_PAYLOAD_BYTES`], not yet parsed) for a caller that reads it into a
    /// type of its own: the auth-token guard reads three fields without a `Value`.
    ///
    /// For tokens a client sends again and again (auth tokens): a compressed payload
    /// of at most 2 KiB is inflated once and its JSON kept in a memo shared by the
    /// process (4 MiB at most), keyed by the payload's text. Every call still checks
    /// the signature and the age before it reads the memo. Tokens used once (links,
    /// sign-in state) go through [`loads_at`](Self::loads_at), which keeps nothing.
    pub fn loads_json_at(
        &self,
        token: &str,
        max_age_secs: Option<u64>,
        now_epoch_secs: u64,
    ) -> Result<String, TokenError> {
        payload_text(self.verify_age(token, max_age_secs, now_epoch_secs)?)
    }

    /// [`verify`](Self::verify), then the age check of [`loads_at`](Self::loads_at): the
    /// payload part (base64, `.`-prefixed when compressed), whose JSON [`payload_text`]
    /// gives, for a caller that keeps what a payload reads as.
    pub(crate) fn verify_age<'t>(
        &self,
        token: &'t str,
        max_age_secs: Option<u64>,
        now_epoch_secs: u64,
    ) -> Result<&'t str, TokenError> {
        let (payload, timestamp) = self.verify(token)?;
        if let Some(max_age) = max_age_secs {
            let age = i128::from(now_epoch_secs) - i128::from(timestamp);
            if age > i128::from(max_age) || age < 0 {
                return Err(TokenError::Expired);
            }
        }
        Ok(payload)
    }

    /// Verifies the signature of `token` but not its age, and returns the
    /// payload with the signing timestamp (epoch seconds).
    ///
    /// Used to read an expired token's data, e.g. to mail a new link to the
    /// user a stale link belongs to.
    ///
    /// Parity: itsdangerous `loads_unsafe`, as used by Flask-Security's
    /// `check_and_get_token_status` after `SignatureExpired`. Unlike
    /// `loads_unsafe`, a bad signature is an error here, never unverified data.
    pub fn loads_unchecked_age(&self, token: &str) -> Result<(Value, u64), TokenError> {
        let (payload, timestamp) = self.verify(token)?;
        Ok((
            parse_json(&payload_json(payload, inflate_payload)?)?,
            timestamp,
        ))
    }

    /// The key that signs new tokens: the last one, as in itsdangerous.
    fn signing_key(&self) -> &SigningKey {
        // `new` refuses an empty key list and `keys` is never modified.
        &self.keys[self.keys.len() - 1]
    }

    /// Checks the signature and timestamp encoding; returns the payload part
    /// (still base64, possibly `.`-prefixed) and the timestamp.
    fn verify<'t>(&self, token: &'t str) -> Result<(&'t str, u64), TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Invalid);
        }
        let (signed, signature) = token.rsplit_once('.').ok_or(TokenError::Invalid)?;
        // Decoded on the stack: base64's size estimate for 20 bytes is 21.
        let mut buf = [0u8; SIGNATURE_LEN + 4];
        let len = decode_b64_into(signature, &mut buf)?;
        let signature = &buf[..len];
        if signature.len() != SIGNATURE_LEN {
            return Err(TokenError::Invalid);
        }
        // Try every key without stopping early, so timing does not reveal
        // which key (if any) matched.
        let mut valid = Choice::from(0);
        for key in &self.keys {
            valid |= key.sign(signed.as_bytes()).as_slice().ct_eq(signature);
        }
        if !bool::from(valid) {
            return Err(TokenError::Invalid);
        }
        let (payload, timestamp) = signed.rsplit_once('.').ok_or(TokenError::Invalid)?;
        Ok((payload, decode_timestamp(timestamp)?))
    }
}

/// Checks a token with a maximum age and reports `(expired, invalid, data)`.
///
/// Parity: Flask-Security `check_and_get_token_status(token, serializer_name,
/// within)`, with `within` in whole seconds.
///
/// * valid and young enough: `(false, false, Some(data))`
/// * correctly signed but older than `within_secs` (or from the future):
///   `(true, false, data)`, where `data` is the payload if it decodes
/// * anything else: `(false, true, None)`
pub fn check_and_get_token_status(
    ser: &TokenSerializer,
    token: &str,
    within_secs: u64,
    now_epoch_secs: u64,
) -> (bool, bool, Option<Value>) {
    match ser.loads_at(token, Some(within_secs), now_epoch_secs) {
        Ok(data) => (false, false, Some(data)),
        Err(TokenError::Expired) => {
            let data = ser.loads_unchecked_age(token).ok().map(|(data, _)| data);
            (true, false, data)
        }
        Err(TokenError::Invalid) => (false, true, None),
    }
}

/// An HMAC-SHA1 key derived from one secret, kept keyed: the inner and outer pads are
/// hashed once here, and each signature starts from a copy of that state (two SHA-1
/// blocks fewer per token checked).
///
/// HMAC pads keys shorter than a block with zeros (RFC 2104), so the padded
/// block gives the same MAC as the 20-byte key and lets us use the infallible
/// fixed-size constructor.
#[derive(Clone)]
struct SigningKey(Hmac<Sha1>);

impl SigningKey {
    /// itsdangerous' default "django-concat" derivation: `SHA1(salt + b"signer" + secret)`.
    fn derive(salt: &[u8], secret: &[u8]) -> Self {
        let digest = Sha1::new()
            .chain_update(salt)
            .chain_update(b"signer")
            .chain_update(secret)
            .finalize();
        let mut block = Key::<Hmac<Sha1>>::default();
        block[..digest.len()].copy_from_slice(&digest);
        Self(<Hmac<Sha1> as KeyInit>::new(&block))
    }

    fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        let mut mac = self.0.clone();
        mac.update(message);
        mac.finalize().into_bytes().into()
    }
}

/// Strict URL-safe base64: no padding, no foreign characters, no stray bits.
fn decode_b64(part: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Invalid)
}

/// [`decode_b64`] into `out`, returning the length; a part that may decode to more than
/// `out` holds is invalid.
fn decode_b64_into(part: &str, out: &mut [u8]) -> Result<usize, TokenError> {
    URL_SAFE_NO_PAD
        .decode_slice(part, out)
        .map_err(|_| TokenError::Invalid)
}

/// Big-endian unsigned timestamp of at most 8 bytes. Leading zero bytes and the
/// empty string (= 0) are accepted, as itsdangerous does.
fn decode_timestamp(part: &str) -> Result<u64, TokenError> {
    // Longer parts do not fit the buffer, and are invalid.
    let mut buf = [0u8; 12];
    let len = decode_b64_into(part, &mut buf)?;
    let bytes = &buf[..len];
    if bytes.len() > 8 {
        return Err(TokenError::Invalid);
    }
    let timestamp = bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    if timestamp > MAX_TIMESTAMP {
        return Err(TokenError::Invalid);
    }
    Ok(timestamp)
}

/// The JSON text of a verified payload part, as [`TokenSerializer::loads_json_at`] reads
/// it (a small compressed one inflated once).
pub(crate) fn payload_text(part: &str) -> Result<String, TokenError> {
    payload_json(part, inflated_json)
}

/// Base64-decodes the payload part into its JSON text, which must be UTF-8; a
/// compressed one (`.`-prefixed) goes through `inflate` ([`inflate_payload`], or
/// [`inflated_json`] for auth tokens).
fn payload_json(
    part: &str,
    inflate: fn(&str) -> Result<String, TokenError>,
) -> Result<String, TokenError> {
    match part.strip_prefix('.') {
        Some(zipped) => inflate(zipped),
        None => utf8_payload(decode_b64(part)?),
    }
}

/// A compressed payload's JSON text (bounded).
fn inflate_payload(zipped: &str) -> Result<String, TokenError> {
    utf8_payload(zlib_decompress_bounded(&decode_b64(zipped)?)?)
}

fn utf8_payload(json: Vec<u8>) -> Result<String, TokenError> {
    if json.len() > MAX_PAYLOAD_BYTES {
        return Err(TokenError::Invalid);
    }
    String::from_utf8(json).map_err(|_| TokenError::Invalid)
}

/// Compressed payloads of verified auth tokens (a client sends its token with every
/// request), inflated, by their base64 text; see [`TextMemo`]. Small payloads only,
/// [`MEMO_BYTES`] in all.
static INFLATED: std::sync::LazyLock<TextMemo<Arc<str>>> = std::sync::LazyLock::new(|| {
    TextMemo::new(MEMO_BYTES, MEMO_ENTRY_MAX, |zipped, json| {
        zipped.len() + json.len() + MEMO_ENTRY_OVERHEAD
    })
});

/// Bytes the memo's entries weigh at most in all.
const MEMO_BYTES: usize = 4 * 1024 * 1024;
/// Longest compressed text, and longest JSON, the memo keeps (auth tokens are ~150).
const MEMO_ENTRY_MAX: usize = 2048;
/// What an entry costs besides its two texts (the `Arc`, the slot, the table).
const MEMO_ENTRY_OVERHEAD: usize = 64;

/// A verified compressed payload's JSON: from the memo, or inflated (2 µs for an auth
/// token here, most of it building the block's Huffman tables) and kept. Nothing a
/// forger sends gets here, and a payload that fails is not kept.
fn inflated_json(zipped: &str) -> Result<String, TokenError> {
    if let Some(json) = INFLATED.get(zipped) {
        return Ok(String::from(&*json));
    }
    let json = inflate_payload(zipped)?;
    if json.len() <= MEMO_ENTRY_MAX {
        INFLATED.keep(zipped, json.as_str().into());
    }
    Ok(json)
}

/// Parses a payload's JSON text; serde_json rejects nesting deeper than 128 levels.
fn parse_json(json: &str) -> Result<Value, TokenError> {
    serde_json::from_str(json).map_err(|_| TokenError::Invalid)
}

fn zlib_compress(data: &[u8]) -> Option<Vec<u8>> {
    // Level 6 is zlib's (and so Python's `zlib.compress`) default.
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::new(6));
    encoder.write_all(data).ok()?;
    encoder.finish().ok()
}

thread_local! {
    /// One inflater per thread (10 KiB), made on first use and reset per payload:
    /// flate2's reader allocates and clears 43 KiB of state per stream, which made
    /// inflating an auth token's payload take 4.1 µs instead of 2.2 µs here.
    static INFLATER: RefCell<Box<DecompressorOxide>> = RefCell::new(Box::default());
}

/// Inflates a zlib stream, failing once the output would exceed
/// [`MAX_PAYLOAD_BYTES`]. Bytes after the end of the stream are ignored, like
/// Python's `zlib.decompress`.
fn zlib_decompress_bounded(data: &[u8]) -> Result<Vec<u8>, TokenError> {
    #[cfg(test)]
    crate::memo::count_decode();
    INFLATER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut inflater) => inflate_bounded(&mut inflater, data),
        // Not reached (nothing here re-enters), but never a panic.
        Err(_) => inflate_bounded(&mut Box::default(), data),
    })
}

/// [`zlib_decompress_bounded`] with the given inflater. The output buffer is the
/// window (a back-reference before its start fails), so nothing of an earlier
/// payload is reachable.
fn inflate_bounded(inflater: &mut DecompressorOxide, data: &[u8]) -> Result<Vec<u8>, TokenError> {
    use miniz_oxide::inflate::core::inflate_flags::{
        TINFL_FLAG_COMPUTE_ADLER32, TINFL_FLAG_PARSE_ZLIB_HEADER,
        TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
    };
    use miniz_oxide::inflate::TINFLStatus;
    const FLAGS: u32 = TINFL_FLAG_PARSE_ZLIB_HEADER
        | TINFL_FLAG_COMPUTE_ADLER32
        | TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    inflater.init();
    let mut out = vec![0; data.len().saturating_mul(2).clamp(64, MAX_PAYLOAD_BYTES)];
    let (mut read, mut written) = (0, 0);
    loop {
        let (status, r, w) = miniz_oxide::inflate::core::decompress(
            inflater,
            &data[read..],
            &mut out,
            written,
            FLAGS,
        );
        read += r;
        written += w;
        match status {
            TINFLStatus::Done => {
                out.truncate(written);
                return Ok(out);
            }
            TINFLStatus::HasMoreOutput if out.len() < MAX_PAYLOAD_BYTES => {
                out.resize(out.len().saturating_mul(2).min(MAX_PAYLOAD_BYTES), 0);
            }
            // Over the cap, truncated, corrupt or a bad checksum.
            _ => return Err(TokenError::Invalid),
        }
    }
}

/// Python's `json.dumps(value, separators=(",", ":"), ensure_ascii=False)`.
///
/// serde_json's compact output differs from it in float spelling only, but
/// that is enough to change the signature, so the writer is spelled out here.
fn python_json(value: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, value);
    out
}

fn write_json(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => out.push_str(&u.to_string()),
            (None, Some(i), _) => out.push_str(&i.to_string()),
            (None, None, Some(f)) => out.push_str(&python_float_repr(f)),
            (None, None, None) => out.push_str(&n.to_string()),
        },
        Value::String(s) => write_json_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, key);
                out.push(':');
                write_json(out, item);
            }
            out.push('}');
        }
    }
}

/// Python's `ensure_ascii=False` string escaping: only `"`, `\` and C0 controls.
fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `float.__repr__`: the shortest digits that round-trip, written
/// positionally when the decimal exponent is in `-5 < e < 16`, otherwise in
/// scientific notation with a signed two-digit-minimum exponent (`1e+16`,
/// `1e-05`); whole numbers keep a `.0`.
fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    // Rust's `{:e}` also prints the shortest round-trip digits, e.g. "-1.25e-7".
    let sci = format!("{f:e}");
    let Some((mantissa, exponent)) = sci.split_once('e') else {
        return f.to_string();
    };
    let Ok(exponent) = exponent.parse::<i32>() else {
        return f.to_string();
    };
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|&c| c != '.').collect();
    // Position of the decimal point relative to the first digit, as CPython's
    // `format_float_short` counts it.
    let point = exponent + 1;
    let mut out = String::from(sign);
    if !(-4 < point && point <= 16) {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push_str(&format!("e{exponent:+03}"));
    } else if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
        out.push_str(&digits);
    } else {
        let point = point as usize;
        if point >= digits.len() {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', point - digits.len()));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memo::decoded as inflations;

    /// A compressible payload no other test signs (the memo is shared).
    fn unique_payload(tag: &str, pad: usize) -> Value {
        let nonce = format!("{tag}-{:016x}", rand::random::<u64>());
        serde_json::json!({"ver": "5", "uid": nonce, "fs_paa": 1.5, "exp": 0, "pad": "ab".repeat(pad)})
    }

    /// `loads_json_at`'s payload, parsed.
    fn json_at(
        ser: &TokenSerializer,
        token: &str,
        max_age: Option<u64>,
    ) -> Result<Value, TokenError> {
        ser.loads_json_at(token, max_age, 1_000)
            .map(|j| serde_json::from_str(&j).expect("json"))
    }

    /// A token with timestamp bytes `stamp`, signed with `ser`'s key; with `sig_len`, its
    /// true signature cut or zero-padded to that many bytes.
    fn token_with(ser: &TokenSerializer, stamp: &[u8], sig_len: Option<usize>) -> String {
        let mut token = format!("{}.", URL_SAFE_NO_PAD.encode(b"[]"));
        URL_SAFE_NO_PAD.encode_string(stamp, &mut token);
        let mut signature = ser.signing_key().sign(token.as_bytes()).to_vec();
        signature.resize(sig_len.unwrap_or(SIGNATURE_LEN), 0);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
        token
    }

    #[test]
    fn timestamps_and_signatures_of_any_other_length_are_invalid() {
        let ser = TokenSerializer::new(vec![b"k".to_vec()], "auth");
        // Up to 8 bytes, leading zeros allowed (as itsdangerous): valid.
        for stamp in [&[][..], &[0, 0, 0, 0, 0, 0, 3, 232], &[3, 232]] {
            let token = token_with(&ser, stamp, None);
            assert_eq!(ser.loads_at(&token, None, 0), Ok(Value::Array(vec![])));
        }
        // Longer ones, whether or not they fit the decoding buffer: invalid.
        for len in [9, 12, 13, 40] {
            let token = token_with(&ser, &vec![0; len], None);
            assert_eq!(
                ser.loads_at(&token, None, 0),
                Err(TokenError::Invalid),
                "{len}"
            );
        }
        // The true signature with bytes cut or added (within the decoding buffer and
        // beyond it): invalid.
        for len in [0, 19, 21, 24, 25, 64] {
            let token = token_with(&ser, &[3, 232], Some(len));
            assert_eq!(
                ser.loads_at(&token, None, 0),
                Err(TokenError::Invalid),
                "{len}"
            );
        }
    }

    #[test]
    fn a_verified_payload_is_inflated_once_and_read_the_same() {
        let ser = TokenSerializer::new(vec![b"k".to_vec()], "auth");
        let (a, b) = (unique_payload("a", 40), unique_payload("b", 40));
        let (ta, tb) = (ser.dumps_at(&a, 1_000), ser.dumps_at(&b, 1_000));
        assert!(
            ta.starts_with('.') && tb.starts_with('.'),
            "compressed: {ta}"
        );
        let before = inflations();
        for _ in 0..3 {
            assert_eq!(json_at(&ser, &ta, None), Ok(a.clone()));
            assert_eq!(json_at(&ser, &tb, None), Ok(b.clone()));
        }
        assert_eq!(inflations() - before, 2, "one inflation per payload");
        // The memo decides nothing: age and signature are checked every time.
        let late = ser.loads_json_at(&ta, Some(10), 1_011);
        assert_eq!(late, Err(TokenError::Expired));
        let other = TokenSerializer::new(vec![b"other".to_vec()], "auth");
        assert_eq!(json_at(&other, &ta, None), Err(TokenError::Invalid));
        let flipped = |t: &str| {
            let (signed, sig) = t.rsplit_once('.').expect("signature");
            let c = if sig.starts_with('A') { 'B' } else { 'A' };
            format!("{signed}.{c}{}", &sig[1..])
        };
        assert_eq!(json_at(&ser, &flipped(&ta), None), Err(TokenError::Invalid));
        assert_eq!(inflations() - before, 2, "nothing unverified inflated");
        // Tokens read by `loads_at` (used once) are inflated every time, kept nowhere.
        let c = ser.dumps_at(&unique_payload("c", 40), 1_000);
        for _ in 0..2 {
            assert!(ser.loads_at(&c, None, 1_000).is_ok());
        }
        assert_eq!(inflations() - before, 4);
        assert!(json_at(&ser, &c, None).is_ok());
        assert_eq!(inflations() - before, 5);
    }

    #[test]
    fn failed_and_large_payloads_are_inflated_every_time() {
        let ser = TokenSerializer::new(vec![b"k".to_vec()], "auth");
        let big = unique_payload("big", MEMO_ENTRY_MAX);
        let token = ser.dumps_at(&big, 1_000);
        assert!(token.starts_with('.'));
        // A signed payload that does not inflate (a bad checksum), nor is kept as failed.
        let zipped = zlib_compress(unique_payload("bad", 40).to_string().as_bytes());
        let mut zipped = zipped.expect("compressed");
        *zipped.last_mut().expect("byte") ^= 1;
        let signed = format!(".{}.{}", URL_SAFE_NO_PAD.encode(zipped), "AAAA");
        let sig = URL_SAFE_NO_PAD.encode(ser.signing_key().sign(signed.as_bytes()));
        let bad = format!("{signed}.{sig}");
        let before = inflations();
        for _ in 0..2 {
            assert_eq!(json_at(&ser, &token, None), Ok(big.clone()));
            assert_eq!(json_at(&ser, &bad, None), Err(TokenError::Invalid));
        }
        assert_eq!(inflations() - before, 4);
    }

    #[test]
    fn float_repr_matches_python_spelling() {
        for (f, python) in [
            (1700000000.123, "1700000000.123"),
            (100.0, "100.0"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (-2.5e-7, "-2.5e-07"),
            (1.5e300, "1.5e+300"),
            (5e-324, "5e-324"),
            (-0.0, "-0.0"),
            (123456789012345680.0, "1.2345678901234568e+17"),
        ] {
            assert_eq!(python_float_repr(f), python, "{f:e}");
        }
    }

    #[test]
    fn json_escapes_like_python() {
        let v = serde_json::json!(["a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}é😀"]);
        assert_eq!(
            python_json(&v),
            "[\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\u{7f}é😀\"]"
        );
    }

    #[test]
    fn serializer_is_shareable() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<TokenSerializer>();
    }

    #[test]
    fn debug_hides_keys() {
        let ser = TokenSerializer::new(vec![b"hunter2".to_vec()], "s");
        let shown = format!("{ser:?}");
        assert_eq!(shown, "TokenSerializer { salt: \"s\", keys: <1 redacted> }");
    }

    #[test]
    fn the_reused_inflater_starts_clean_for_every_payload() {
        let long = "abcdefgh".repeat(4096);
        let zipped = |text: &str| zlib_compress(text.as_bytes()).expect("compressed");
        let (a, b) = (zipped(&long), zipped("{\"uid\":\"x\"}"));
        assert_eq!(zlib_decompress_bounded(&a).as_deref(), Ok(long.as_bytes()));
        // Truncated, corrupt and bad-checksum streams fail and leave nothing behind.
        let mut bad_sum = b.clone();
        *bad_sum.last_mut().expect("byte") ^= 1;
        for broken in [
            &a[..a.len() / 2],
            &[0x78, 0x9c, 0xff, 0xff][..],
            &bad_sum[..],
        ] {
            assert_eq!(zlib_decompress_bounded(broken), Err(TokenError::Invalid));
            assert_eq!(
                zlib_decompress_bounded(&b).as_deref(),
                Ok(&b"{\"uid\":\"x\"}"[..])
            );
        }
        // A back-reference into the previous payload's output is refused: a stored
        // block "ab", then a fixed block copying 3 bytes from 10 back (Python's zlib:
        // "invalid distance too far back"); from 2 back it gives "ababa".
        let stream = |fixed: [u8; 3], adler: [u8; 4]| {
            let mut s = vec![0x78, 0x01, 0x00, 0x02, 0x00, 0xfd, 0xff, b'a', b'b'];
            s.extend_from_slice(&fixed);
            s.extend_from_slice(&adler);
            s
        };
        let near = stream([0x03, 0x42, 0x00], [0x05, 0xba, 0x01, 0xe8]);
        let far = stream([0x03, 0xb2, 0x00], [0x04, 0xec, 0x01, 0x81]);
        assert_eq!(zlib_decompress_bounded(&near).as_deref(), Ok(&b"ababa"[..]));
        assert!(zlib_decompress_bounded(&a).is_ok());
        assert_eq!(zlib_decompress_bounded(&far), Err(TokenError::Invalid));
        // Trailing bytes after the stream are ignored, as by Python's zlib.decompress.
        let mut trailing = b.clone();
        trailing.extend_from_slice(b"junk");
        assert_eq!(
            zlib_decompress_bounded(&trailing).as_deref(),
            Ok(&b"{\"uid\":\"x\"}"[..])
        );
    }
}
