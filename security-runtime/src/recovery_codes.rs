//! Multi-factor recovery codes: generation and storage.
//!
//! A code is 12 lowercase hex characters (48 bits from the OS) shown as
//! `xxxx-xxxx-xxxx`. The user's codes are stored comma-joined in `mf_recovery_codes`,
//! each in the clear or, with `multi_factor_recovery_codes_keys` set, as a Fernet token
//! under the first key (any key decrypts), exactly as Flask-Security writes them, so
//! either side reads the other's.
//!
//! Parity: `flask_security.recovery_codes` (`MfRecoveryCodesUtil`).

use rand::RngCore;
use subtle::ConstantTimeEq;

/// `n` new codes.
pub fn generate(n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let mut b = [0u8; 6];
            rand::rngs::OsRng.fill_bytes(&mut b);
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!("{}-{}-{}", &hex[..4], &hex[4..8], &hex[8..])
        })
        .collect()
}

/// How codes are kept at rest.
pub struct CodeStore {
    keys: Vec<fernet::Fernet>,
    ttl: Option<u64>,
}

impl std::fmt::Debug for CodeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeStore")
            .field("encrypted", &!self.keys.is_empty())
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl CodeStore {
    /// Codes in the clear (`keys` empty) or encrypted under Fernet `keys` (url-safe
    /// base64 of 32 bytes, as `Fernet.generate_key()` prints); `ttl` drops older ones.
    pub fn new(keys: &[String], ttl: Option<u64>) -> Result<Self, String> {
        let keys = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                fernet::Fernet::new(k).ok_or_else(|| {
                    format!(
                        "`security.multi_factor_recovery_codes_keys` entry {i} is not a \
                         Fernet key (url-safe base64 of 32 bytes)"
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CodeStore { keys, ttl })
    }

    /// The column value for `codes` at `now` (epoch seconds).
    pub fn encode(&self, codes: &[String], now: u64) -> String {
        match self.keys.first() {
            None => codes.join(","),
            Some(k) => codes
                .iter()
                .map(|c| k.encrypt_at_time(c.as_bytes(), now))
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// The codes in a column value, each with its stored form; a code that no key
    /// decrypts, or that outlived the TTL, is left out.
    pub fn decode(&self, stored: Option<&str>, now: u64) -> Vec<StoredCode> {
        let Some(stored) = stored.filter(|s| !s.is_empty()) else {
            return Vec::new();
        };
        stored
            .split(',')
            .filter_map(|raw| {
                let code = if self.keys.is_empty() {
                    raw.to_owned()
                } else {
                    self.keys.iter().find_map(|k| {
                        let plain = k.decrypt_at_time(raw, self.ttl, now).ok()?;
                        String::from_utf8(plain).ok()
                    })?
                };
                Some(StoredCode {
                    code,
                    raw: raw.to_owned(),
                })
            })
            .collect()
    }
}

/// One stored code.
#[derive(Debug, Clone)]
pub struct StoredCode {
    /// The code as the user types it.
    pub code: String,
    /// Its stored form (the code itself, or its Fernet token).
    pub raw: String,
}

/// The index of the code equal to `given`, every code compared in constant time.
///
/// Parity: `check_recovery_code` (`code in codes`, exact).
pub fn find(codes: &[StoredCode], given: &str) -> Option<usize> {
    let mut found = None;
    for (i, c) in codes.iter().enumerate() {
        let same: bool = c.code.as_bytes().ct_eq(given.as_bytes()).into();
        if same && found.is_none() {
            found = Some(i);
        }
    }
    found
}

/// The column value with code `index` removed (the other tokens kept as stored).
pub fn without(codes: &[StoredCode], index: usize) -> String {
    codes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != index)
        .map(|(_, c)| c.raw.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";

    #[test]
    fn codes_have_the_flask_security_shape_and_differ() {
        let codes = generate(5);
        assert_eq!(codes.len(), 5);
        for c in &codes {
            assert_eq!(c.len(), 14);
            let parts: Vec<&str> = c.split('-').collect();
            assert_eq!(parts.len(), 3);
            assert!(parts.iter().all(|p| p.len() == 4
                && p.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())));
        }
        let mut d = codes.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), 5);
    }

    #[test]
    fn plain_and_encrypted_storage_round_trip_and_expire() {
        let codes = vec!["aaaa-bbbb-cccc".to_owned(), "1111-2222-3333".to_owned()];
        let plain = CodeStore::new(&[], None).unwrap();
        assert_eq!(plain.encode(&codes, 0), "aaaa-bbbb-cccc,1111-2222-3333");
        let enc = CodeStore::new(&[KEY.to_owned()], Some(100)).unwrap();
        let stored = enc.encode(&codes, 1_000);
        assert!(!stored.contains("aaaa"));
        let back = enc.decode(Some(&stored), 1_050);
        assert_eq!(
            back.iter().map(|c| c.code.as_str()).collect::<Vec<_>>(),
            ["aaaa-bbbb-cccc", "1111-2222-3333"]
        );
        assert_eq!(find(&back, "1111-2222-3333"), Some(1));
        assert_eq!(find(&back, "1111-2222-333"), None);
        let rest = without(&back, 1);
        assert_eq!(enc.decode(Some(&rest), 1_050).len(), 1);
        assert!(enc.decode(Some(&stored), 1_200).is_empty(), "past the TTL");
        assert!(CodeStore::new(&["short".into()], None).is_err());
    }
}
