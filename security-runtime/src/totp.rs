//! One-time codes (RFC 6238 TOTP) with secrets stored as passlib writes them.
//!
//! Flask-Security keeps each user's TOTP secret as passlib's *encrypted JSON*
//! (`{"enckey":{"c":14,"k":..,"s":..,"t":..,"v":1},"type":"totp","v":1}`): the 20-byte
//! key encrypted with AES-256-CTR under a key and IV drawn by PBKDF2-HMAC-SHA256
//! (2^c rounds, 48 bytes) from the application secret tagged `t` in `totp_secrets` and
//! the salt `s`. [`TotpFactory`] reads and writes that format, so secrets move both ways
//! between Flask-Security and this crate. Codes are 6 digits, SHA-1, 30 s steps; a code
//! is accepted within ± a window in seconds, counted in whole steps as passlib does.
//!
//! Parity: `flask_security.totp.Totp` over `passlib.totp.TOTP`.

use std::collections::BTreeMap;
use std::fmt;

use aes::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde_json::Value;
use sha1::Sha1;

/// Seconds per code.
pub const PERIOD: u64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// Bytes of a new key (the SHA-1 digest size, 160 bits).
const KEY_BYTES: usize = 20;
/// passlib's default encryption cost: 2^14 PBKDF2 rounds.
const ENCRYPT_COST: u32 = 14;
/// passlib's salt size.
const SALT_BYTES: usize = 12;
/// The highest cost read from storage (a stored value is not trusted with more work).
const MAX_COST: u32 = 16;
/// The shortest key accepted from storage (passlib's minimum, 80 bits).
const MIN_KEY_BYTES: usize = 10;

type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// Why a stored secret could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    /// Not passlib TOTP JSON.
    #[error("not a TOTP secret")]
    Malformed,
    /// Encrypted under a tag `totp_secrets` does not hold.
    #[error("TOTP secret encrypted under unknown tag `{0}`")]
    UnknownTag(String),
}

/// The application's TOTP settings: the tagged encryption secrets and the issuer.
#[derive(Clone)]
pub struct TotpFactory {
    secrets: BTreeMap<String, Vec<u8>>,
    default_tag: String,
    issuer: String,
}

impl fmt::Debug for TotpFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpFactory")
            .field("tags", &self.secrets.keys().collect::<Vec<_>>())
            .field("issuer", &self.issuer)
            .finish()
    }
}

impl TotpFactory {
    /// A factory over `secrets` (tag → secret); the error names what is wrong.
    pub fn new(secrets: &BTreeMap<String, String>, issuer: &str) -> Result<Self, String> {
        if secrets.is_empty() {
            return Err("`security.totp_secrets` must hold at least one secret".into());
        }
        if issuer.trim().is_empty() {
            return Err("`security.totp_issuer` must be set".into());
        }
        for (tag, secret) in secrets {
            let tag_ok = !tag.is_empty()
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !tag_ok {
                return Err(format!(
                    "`security.totp_secrets` tag `{tag}` is not a-z0-9_-"
                ));
            }
            if secret.is_empty() {
                return Err(format!(
                    "`security.totp_secrets` tag `{tag}` has an empty secret"
                ));
            }
        }
        Ok(TotpFactory {
            default_tag: default_tag(secrets.keys()),
            secrets: secrets
                .iter()
                .map(|(t, s)| (t.clone(), s.as_bytes().to_vec()))
                .collect(),
            issuer: issuer.to_owned(),
        })
    }

    /// The issuer shown in authenticator apps.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// A new random key from the OS, encrypted for storage.
    pub fn generate_secret(&self) -> String {
        let mut key = [0u8; KEY_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut key);
        self.encrypt(&TotpKey(key.to_vec()))
    }

    /// `key` as passlib's encrypted JSON, under the newest tag.
    pub fn encrypt(&self, key: &TotpKey) -> String {
        let mut salt = [0u8; SALT_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let secret = &self.secrets[&self.default_tag];
        let mut data = key.0.clone();
        cipher(secret, &salt, ENCRYPT_COST).apply_keystream(&mut data);
        // passlib's `json.dumps(sort_keys=True, separators=(",", ":"))`.
        format!(
            "{{\"enckey\":{{\"c\":{ENCRYPT_COST},\"k\":\"{}\",\"s\":\"{}\",\"t\":{},\"v\":1}},\
             \"type\":\"totp\",\"v\":1}}",
            b32encode(&data),
            b32encode(&salt),
            Value::String(self.default_tag.clone()),
        )
    }

    /// The work of one decryption, with nothing decrypted: what an answer for an identity
    /// without a secret does, so that its time does not tell.
    pub fn decryption_work(&self) {
        let secret = &self.secrets[&self.default_tag];
        let _ = cipher(secret, &[0u8; SALT_BYTES], ENCRYPT_COST);
    }

    /// The key of a stored secret (encrypted, or passlib's plain `key` form).
    pub fn decrypt(&self, stored: &str) -> Result<TotpKey, TotpError> {
        let v: Value = serde_json::from_str(stored).map_err(|_| TotpError::Malformed)?;
        if v.get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t != "totp")
        {
            return Err(TotpError::Malformed);
        }
        let long_enough = |k: Vec<u8>| (k.len() >= MIN_KEY_BYTES).then_some(TotpKey(k));
        if let Some(k) = v.get("key").and_then(Value::as_str) {
            return b32decode(k)
                .and_then(long_enough)
                .ok_or(TotpError::Malformed);
        }
        let enc = v.get("enckey").ok_or(TotpError::Malformed)?;
        let text = |name: &str| enc.get(name).and_then(Value::as_str);
        let tag = match enc.get("t") {
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) => s.clone(),
            _ => return Err(TotpError::Malformed),
        };
        let cost = enc
            .get("c")
            .and_then(Value::as_u64)
            .filter(|c| *c <= u64::from(MAX_COST))
            .ok_or(TotpError::Malformed)? as u32;
        let salt = text("s").and_then(b32decode).ok_or(TotpError::Malformed)?;
        let mut data = text("k").and_then(b32decode).ok_or(TotpError::Malformed)?;
        let secret = self.secrets.get(&tag).ok_or(TotpError::UnknownTag(tag))?;
        cipher(secret, &salt, cost).apply_keystream(&mut data);
        long_enough(data).ok_or(TotpError::Malformed)
    }

    /// The `otpauth://` URI an authenticator app reads (from a QR code).
    pub fn uri(&self, key: &TotpKey, label: &str) -> String {
        let q = |s: &str, safe: &[u8]| quote(s, safe);
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}",
            q(&self.issuer, b"@"),
            q(label, b"@"),
            key.b32(),
            q(&self.issuer, b""),
        )
    }
}

/// passlib's default tag: the numerically largest when all tags are numbers, else the
/// greatest string.
fn default_tag<'a>(tags: impl Iterator<Item = &'a String> + Clone) -> String {
    let numeric: Option<Vec<(u128, &String)>> = tags
        .clone()
        .map(|t| t.parse::<u128>().ok().map(|n| (n, t)))
        .collect();
    match numeric {
        Some(v) => v.into_iter().max().map(|(_, t)| t.clone()),
        None => tags.max().cloned(),
    }
    .unwrap_or_default()
}

fn cipher(secret: &[u8], salt: &[u8], cost: u32) -> Aes256Ctr {
    let mut keyiv = [0u8; 48];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(secret, salt, 1u32 << cost, &mut keyiv);
    Aes256Ctr::new(keyiv[..32].into(), keyiv[32..].into())
}

/// A decrypted TOTP key. Its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpKey(Vec<u8>);

impl fmt::Debug for TotpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpKey(***)")
    }
}

impl TotpKey {
    /// A key from raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        TotpKey(bytes.to_vec())
    }

    /// A key from its base32 form (as an authenticator app is given it).
    pub fn from_b32(text: &str) -> Option<Self> {
        b32decode(text).map(TotpKey)
    }

    /// The key in base32 (upper case, no padding): `tf_authr_b32key`.
    pub fn b32(&self) -> String {
        b32encode(&self.0)
    }

    /// The base32 key in groups for reading aloud (passlib's `pretty_key`): `tf_authr_key`.
    pub fn pretty(&self) -> String {
        let b = self.b32();
        let size = if b.len().is_multiple_of(4) {
            4
        } else if b.len().is_multiple_of(6) {
            6
        } else {
            5
        };
        b.as_bytes()
            .chunks(size)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("-")
    }

    /// The code of step `counter` (RFC 4226 truncation, SHA-1, 6 digits).
    pub fn code_at(&self, counter: u64) -> String {
        self.code_digits(counter, DIGITS)
    }

    fn code_digits(&self, counter: u64, digits: usize) -> String {
        hotp::<Hmac<Sha1>>(&self.0, counter, digits)
    }

    /// The code of the step that holds `now` (epoch seconds).
    pub fn current_code(&self, now: f64) -> String {
        self.code_at(step_of(now))
    }

    /// The step a code matches within ± `window` seconds of `now`, above `after` (the
    /// last step accepted, for replay protection); `None` when it matches none. Every
    /// step of the window is compared, in constant time.
    ///
    /// Parity: passlib `TOTP.match(token, time, window, last_counter)`.
    pub fn verify(&self, code: &str, now: f64, window: u64, after: Option<u64>) -> Option<u64> {
        let code = normalize(code)?;
        let t = now.max(0.0) as u64;
        let start = t.saturating_sub(window) / PERIOD;
        let end = (t + window) / PERIOD;
        let mut found = None;
        for counter in start..=end {
            let same: bool =
                subtle::ConstantTimeEq::ct_eq(self.code_at(counter).as_bytes(), code.as_bytes())
                    .into();
            let fresh = after.is_none_or(|last| counter > last);
            if same && fresh && found.is_none() {
                found = Some(counter);
            }
        }
        found
    }
}

/// RFC 4226 HOTP of `counter` with the MAC `M` (HMAC-SHA-1 for every code here).
fn hotp<M: Mac + hmac::digest::KeyInit>(key: &[u8], counter: u64, digits: usize) -> String {
    let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = usize::from(h[h.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes([h[off] & 0x7f, h[off + 1], h[off + 2], h[off + 3]]);
    let modulo = 10u64.pow(digits as u32);
    format!("{:0digits$}", u64::from(bin) % modulo)
}

/// The 30 s step of `now`.
pub fn step_of(now: f64) -> u64 {
    now.max(0.0) as u64 / PERIOD
}

/// A code as passlib reads it: whitespace, `-` and `=` removed; exactly 6 digits.
pub fn normalize(code: &str) -> Option<String> {
    let c: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '=')
        .collect();
    (c.len() == DIGITS && c.bytes().all(|b| b.is_ascii_digit())).then_some(c)
}

/// `uri` as an inline SVG QR code (`data:image/svg+xml;base64,...`), for the setup page.
pub fn qr_svg_data_uri(uri: &str) -> Option<String> {
    use base64::Engine;
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    Some(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32, upper case, no padding.
fn b32encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in data {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(B32[((buf >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(B32[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// passlib's lenient base32: any case, `8` read as `B` and `0` as `O`, padding optional.
fn b32decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buf, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').chars() {
        let c = match c.to_ascii_uppercase() {
            '8' => 'B',
            '0' => 'O',
            c => c,
        };
        let v = B32.iter().position(|&b| b as char == c)? as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
        buf &= (1 << bits) - 1;
    }
    Some(out)
}

/// Python's `urllib.parse.quote(s, safe)`: unreserved characters and `safe` kept.
fn quote(s: &str, safe: &[u8]) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"_.-~/".contains(&b) || safe.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factory() -> TotpFactory {
        let secrets = BTreeMap::from([("1".to_owned(), "my-secret".to_owned())]);
        TotpFactory::new(&secrets, "Test").unwrap()
    }

    /// RFC 6238 appendix B, SHA-1 (key "12345678901234567890"), 8 digits.
    #[test]
    fn rfc6238_vectors() {
        let key = TotpKey::from_bytes(b"12345678901234567890");
        for (t, code) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(key.code_digits(t / PERIOD, 8), code, "t={t}");
            // The 6-digit code is the last six digits.
            assert_eq!(key.code_at(t / PERIOD), code[2..], "t={t}");
        }
    }

    /// RFC 6238 appendix B for SHA-256 and SHA-512 (32- and 64-byte seeds): the
    /// truncation is the same for every hash.
    #[test]
    fn rfc6238_sha256_and_sha512_vectors() {
        let k256 = b"12345678901234567890123456789012";
        let k512 = b"1234567890123456789012345678901234567890123456789012345678901234";
        for (t, c256, c512) in [
            (59u64, "46119246", "90693936"),
            (1_111_111_109, "68084774", "25091201"),
            (1_111_111_111, "67062674", "99943326"),
            (1_234_567_890, "91819424", "93441116"),
            (2_000_000_000, "90698825", "38618901"),
            (20_000_000_000, "77737706", "47863826"),
        ] {
            assert_eq!(
                hotp::<Hmac<sha2::Sha256>>(k256, t / PERIOD, 8),
                c256,
                "t={t}"
            );
            assert_eq!(
                hotp::<Hmac<sha2::Sha512>>(k512, t / PERIOD, 8),
                c512,
                "t={t}"
            );
        }
    }

    #[test]
    fn libpass_vector_decrypts_to_its_key() {
        // libpass 1.9.4, secrets={'1': 'my-secret'}: encrypted and plain forms of one key.
        let enc = r#"{"enckey":{"c":14,"k":"NV64RNQQD7544AL4VGTIWKCEO7CJZYQ2","s":"DHR7YH6D7CPTHRUYCOBA","t":"1","v":1},"type":"totp","v":1}"#;
        let key = factory().decrypt(enc).unwrap();
        assert_eq!(key.b32(), "YK4FOSVJKVVA3IPU32NTHZR4Q5IOVXM3");
        assert_eq!(key.pretty(), "YK4F-OSVJ-KVVA-3IPU-32NT-HZR4-Q5IO-VXM3");
        // passlib: `TOTP.from_json(enc).generate(1700000000).token`.
        assert_eq!(key.current_code(1_700_000_000.0), "302718");
    }

    #[test]
    fn encrypt_then_decrypt_round_trips_under_older_tags_too() {
        let f = factory();
        let stored = f.generate_secret();
        assert!(
            stored.starts_with("{\"enckey\":{\"c\":14,\"k\":\""),
            "{stored}"
        );
        assert!(stored.ends_with("\"t\":\"1\",\"v\":1},\"type\":\"totp\",\"v\":1}"));
        let key = f.decrypt(&stored).unwrap();
        let newer = TotpFactory::new(
            &BTreeMap::from([
                ("1".to_owned(), "my-secret".to_owned()),
                ("10".to_owned(), "newer".to_owned()),
                ("9".to_owned(), "older".to_owned()),
            ]),
            "Test",
        )
        .unwrap();
        assert_eq!(newer.default_tag, "10");
        assert_eq!(newer.decrypt(&stored).unwrap(), key);
        assert!(newer.encrypt(&key).contains("\"t\":\"10\""));
        let other = TotpFactory::new(&BTreeMap::from([("2".into(), "x".into())]), "T").unwrap();
        assert_eq!(
            other.decrypt(&stored),
            Err(TotpError::UnknownTag("1".into()))
        );
        assert_eq!(f.decrypt("{}"), Err(TotpError::Malformed));
        assert_eq!(f.decrypt("not json"), Err(TotpError::Malformed));
        // Too short a key, too high a cost: refused, not computed.
        assert_eq!(
            f.decrypt(r#"{"key":"AAAA","type":"totp"}"#),
            Err(TotpError::Malformed)
        );
        let costly = stored.replace("\"c\":14", "\"c\":30");
        assert_eq!(f.decrypt(&costly), Err(TotpError::Malformed));
    }

    #[test]
    fn window_counts_whole_steps_both_ways_and_refuses_used_steps() {
        let key = TotpKey::from_bytes(b"12345678901234567890");
        let now = 1_700_000_015.0;
        let step = step_of(now);
        for d in [-4i64, 0, 4] {
            let c = key.code_at((step as i64 + d) as u64);
            assert_eq!(
                key.verify(&c, now, 120, None),
                Some((step as i64 + d) as u64)
            );
        }
        for d in [-5i64, 5] {
            let c = key.code_at((step as i64 + d) as u64);
            assert_eq!(key.verify(&c, now, 120, None), None, "d={d}");
        }
        let c = key.code_at(step);
        assert_eq!(key.verify(&c, now, 120, Some(step)), None);
        assert_eq!(key.verify(&c, now, 120, Some(step - 1)), Some(step));
        let spaced = format!("{} {}-", &c[..3], &c[3..]);
        assert_eq!(key.verify(&spaced, now, 0, None), Some(step));
    }

    #[test]
    fn codes_are_normalised_as_passlib_does() {
        assert_eq!(normalize(" 012 345 ").as_deref(), Some("012345"));
        assert_eq!(normalize("012-345=").as_deref(), Some("012345"));
        assert_eq!(normalize("12345"), None);
        assert_eq!(normalize("1234567"), None);
        assert_eq!(normalize("12a456"), None);
    }

    #[test]
    fn uri_key_forms_and_qr() {
        let key = b32decode("YK4FOSVJKVVA3IPU32NTHZR4Q5IOVXM3")
            .map(TotpKey)
            .unwrap();
        assert_eq!(key.b32(), "YK4FOSVJKVVA3IPU32NTHZR4Q5IOVXM3");
        assert_eq!(
            factory().uri(&key, "a@b.com"),
            "otpauth://totp/Test:a@b.com?secret=YK4FOSVJKVVA3IPU32NTHZR4Q5IOVXM3&issuer=Test"
        );
        assert!(key.pretty().starts_with("YK4F-OSVJ-"));
        assert_eq!(key.pretty().split('-').count(), 8);
        assert_eq!(
            b32decode("yk4fosvjkvva3ipu32nthzr4q5iovxm3").unwrap(),
            key.0
        );
        let qr = qr_svg_data_uri("otpauth://totp/x").unwrap();
        assert!(qr.starts_with("data:image/svg+xml;base64,"));
        assert!(!format!("{key:?}").contains("YK4F"));
    }
}
