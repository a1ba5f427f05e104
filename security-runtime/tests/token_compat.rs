//! Wire compatibility of `tokens::TokenSerializer` with Python's itsdangerous 2.x,
//! and robustness against tampered input.
//!
//! `data/itsdangerous_vectors.json` was written by `data/gen_token_vectors.py`
//! with the real library (see its `generator` field for versions); regenerate it
//! with `python3 gen_token_vectors.py > itsdangerous_vectors.json`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use security_runtime::tokens::*;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use std::io::Read;

const VECTORS: &str = include_str!("data/itsdangerous_vectors.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("vector file is JSON")
}

fn serializer_for(spec: &Value) -> TokenSerializer {
    let keys = spec["secret_keys"]
        .as_array()
        .expect("secret_keys")
        .iter()
        .map(|k| k.as_str().expect("key is a string").as_bytes().to_vec())
        .collect();
    TokenSerializer::new(keys, spec["salt"].as_str().expect("salt"))
}

/// A part of the vector file, its serializer, and the time under `clock` it was made at.
fn timed<'a>(spec: &'a Value, clock: &str) -> (&'a Value, TokenSerializer, u64) {
    let at = spec[clock]
        .as_u64()
        .unwrap_or_else(|| panic!("{clock} missing in {spec}"));
    (spec, serializer_for(spec), at)
}

/// Every entry of the file's `vectors` list, [`timed`] by its `timestamp`.
fn timed_vectors(doc: &Value) -> impl Iterator<Item = (&Value, TokenSerializer, u64)> {
    let vectors = doc["vectors"].as_array().expect("vectors");
    vectors.iter().map(|v| timed(v, "timestamp"))
}

/// The list `field` of `v`, asserted to hold at least `min` entries.
fn list_of<'a>(v: &'a Value, field: &str, min: usize) -> &'a Vec<Value> {
    let list = v[field].as_array().expect(field);
    assert!(list.len() >= min);
    list
}

fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} missing in {v}"))
}

/// Does `serde_json::Map` keep insertion order (feature `preserve_order`)?
/// Python does; without it objects come out sorted and only itsdangerous'
/// `sort_keys=True` tokens can match byte for byte.
fn map_preserves_order() -> bool {
    let v: Value = serde_json::from_str(r#"{"b":1,"a":2}"#).expect("json");
    v.as_object()
        .and_then(|m| m.keys().next())
        .map(String::as_str)
        == Some("b")
}

/// The Python token (and its JSON text) our `dumps_at` must reproduce.
fn expected(vector: &Value) -> (&str, &str) {
    if map_preserves_order() {
        (str_of(vector, "token"), str_of(vector, "payload_json"))
    } else {
        (
            str_of(vector, "token_sorted_keys"),
            str_of(vector, "payload_json_sorted_keys"),
        )
    }
}

/// serde_json without its `float_roundtrip` feature parses floats "best
/// effort": about one in five 17-digit floats comes back one ULP (rarely two)
/// off. With the feature enabled anywhere in the build, compare exactly.
fn float_parse_is_exact() -> bool {
    let text = "1.23456789e+104";
    serde_json::from_str::<f64>(text).ok() == text.parse::<f64>().ok()
}

/// Equality of decoded payloads, allowing serde_json's float slack.
fn assert_same_value(ours: &Value, theirs: &Value, context: &str) {
    match (ours, theirs) {
        (Value::Number(a), Value::Number(b)) if a.is_f64() || b.is_f64() => {
            let (a, b) = (a.as_f64().expect("f64"), b.as_f64().expect("f64"));
            let ulps = (a.to_bits() as i64).abs_diff(b.to_bits() as i64);
            let allowed = if float_parse_is_exact() { 0 } else { 2 };
            assert!(ulps <= allowed, "{context}: {a:e} vs {b:e}");
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{context}");
            for (x, y) in a.iter().zip(b) {
                assert_same_value(x, y, context);
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            assert_eq!(a.len(), b.len(), "{context}");
            for ((ka, x), (kb, y)) in a.iter().zip(b) {
                assert_eq!(ka, kb, "{context}");
                assert_same_value(x, y, context);
            }
        }
        _ => assert_eq!(ours, theirs, "{context}"),
    }
}

/// Independent decoder: the JSON bytes inside a token's payload part.
fn payload_text(token: &str) -> Vec<u8> {
    let mut parts = token.rsplitn(3, '.');
    let (_sig, _ts) = (parts.next(), parts.next());
    let payload = parts.next().expect("payload part");
    match payload.strip_prefix('.') {
        Some(zipped) => {
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(&URL_SAFE_NO_PAD.decode(zipped).expect("b64")[..])
                .read_to_end(&mut out)
                .expect("zlib");
            out
        }
        None => URL_SAFE_NO_PAD.decode(payload).expect("b64"),
    }
}

/// Asserts that our token carries exactly Python's JSON text, and is
/// byte-identical to Python's token unless either side compressed it (zlib
/// output differs between implementations: CPython's zlib or zlib-ng, Rust's
/// miniz_oxide). Returns whether the bytes were compared.
fn assert_matches_python(ours: &str, theirs: &str, python_json: &str, context: &str) -> bool {
    assert_eq!(
        String::from_utf8(payload_text(ours)).expect("utf-8"),
        python_json,
        "{context}: JSON text"
    );
    assert_eq!(payload_text(theirs), python_json.as_bytes(), "{context}");
    // Same timestamp part.
    assert_eq!(
        ours.rsplit('.').nth(1),
        theirs.rsplit('.').nth(1),
        "{context}"
    );
    if ours.starts_with('.') || theirs.starts_with('.') {
        return false;
    }
    assert_eq!(ours, theirs, "{context}");
    true
}

/// Signs arbitrary parts exactly as itsdangerous does, independently of the
/// module under test.
fn raw_token(secret: &[u8], salt: &str, payload_part: &str, ts_bytes: &[u8]) -> String {
    let key = Sha1::new()
        .chain_update(salt.as_bytes())
        .chain_update(b"signer")
        .chain_update(secret)
        .finalize();
    let msg = format!("{payload_part}.{}", URL_SAFE_NO_PAD.encode(ts_bytes));
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(&key).expect("any key length");
    mac.update(msg.as_bytes());
    format!(
        "{msg}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// A timestamp as itsdangerous encodes it: big-endian, leading zeros stripped.
fn ts_bytes(ts: u64) -> Vec<u8> {
    let b = ts.to_be_bytes();
    b[b.iter().position(|&x| x != 0).unwrap_or(8)..].to_vec()
}

#[test]
fn dumps_matches_itsdangerous() {
    let doc = vectors();
    let vectors = list_of(&doc, "vectors", 20);
    let mut identical = 0;
    for v in vectors {
        let ser = serializer_for(v);
        let ts = v["timestamp"].as_u64().expect("timestamp");
        let ours = ser.dumps_at(&v["payload"], ts);
        let (theirs, json_text) = expected(v);
        let context = format!("vector {}", v["name"]);
        identical += usize::from(assert_matches_python(&ours, theirs, json_text, &context));
        // Clearly compressible payloads are compressed by both.
        if json_text.len() > 300 {
            assert!(
                ours.starts_with('.') && theirs.starts_with('.'),
                "{context}"
            );
        }
    }
    println!("{identical} of {} tokens byte-identical", vectors.len());
    assert!(identical >= 17, "only {identical} byte-identical tokens");
}

#[test]
fn floats_are_spelled_like_python_repr() {
    let doc = vectors();
    let (floats, ser, ts) = timed(&doc["floats"], "timestamp");
    let items = list_of(floats, "items", 800);
    let mut identical = 0;
    for item in items {
        let bits = u64::from_str_radix(str_of(item, "bits"), 16).expect("hex");
        let x = f64::from_bits(bits);
        let theirs = str_of(item, "token");
        let python_repr = str_of(item, "repr");
        let ours = ser.dumps_at(&Value::Array(vec![Value::from(x)]), ts);
        let context = format!("float {x:e} (python {python_repr})");
        let json_text = format!("[{python_repr}]");
        identical += usize::from(assert_matches_python(&ours, theirs, &json_text, &context));
        // And the Python token decodes to that f64.
        let loaded = ser
            .loads_at(theirs, None, ts)
            .expect("python token verifies");
        assert_same_value(&loaded[0], &Value::from(x), &context);
    }
    println!("{identical} of {} float tokens byte-identical", items.len());
    assert!(identical >= items.len() - 10);
}

#[test]
fn loads_accepts_itsdangerous_tokens() {
    let doc = vectors();
    for (v, ser, ts) in timed_vectors(&doc) {
        for field in ["token", "token_sorted_keys"] {
            let token = str_of(v, field);
            assert_eq!(
                ser.loads_at(token, None, ts).as_ref(),
                Ok(&v["payload"]),
                "{} {field}",
                v["name"]
            );
            assert_eq!(ser.loads_at(token, Some(0), ts).as_ref(), Ok(&v["payload"]));
            assert_eq!(
                ser.loads_unchecked_age(token),
                Ok((v["payload"].clone(), ts)),
                "{}",
                v["name"]
            );
        }
    }
}

#[test]
fn our_tokens_round_trip() {
    let doc = vectors();
    for (v, ser, ts) in timed_vectors(&doc) {
        let token = ser.dumps_at(&v["payload"], ts);
        assert_eq!(
            ser.loads_at(&token, Some(60), ts + 60).as_ref(),
            Ok(&v["payload"])
        );
        assert_eq!(
            ser.loads_unchecked_age(&token),
            Ok((v["payload"].clone(), ts))
        );
    }
}

#[test]
fn expiry_matches_itsdangerous() {
    let doc = vectors();
    let expiry = &doc["expiry"];
    let ser = serializer_for(expiry);
    let token = str_of(expiry, "token");
    let (payload, ts) = ser.loads_unchecked_age(token).expect("valid token");
    assert_eq!(ts, expiry["timestamp"].as_u64().expect("ts"));
    let cases = list_of(expiry, "cases", 14);
    for case in cases {
        let max_age = case["max_age"].as_u64();
        let now = case["now"].as_u64().expect("now");
        let ours = ser.loads_at(token, max_age, now);
        match str_of(case, "result") {
            "ok" => assert_eq!(ours.as_ref(), Ok(&payload), "{case}"),
            "expired" => assert_eq!(ours, Err(TokenError::Expired), "{case}"),
            other => panic!("unexpected python verdict {other} in {case}"),
        }
        if let Some(max_age) = max_age {
            let status = check_and_get_token_status(&ser, token, max_age, now);
            let expected = match str_of(case, "result") {
                "ok" => (false, false, Some(payload.clone())),
                _ => (true, false, Some(payload.clone())),
            };
            assert_eq!(status, expected, "{case}");
        }
    }
}

#[test]
fn expiry_boundaries() {
    let ser = TokenSerializer::new(vec![b"k".to_vec()], "remember-salt");
    let t = 1_700_000_000;
    let token = ser.dumps_at(&json!({"uid": "u"}), t);
    // age == max_age is fine, one second more is expired.
    assert!(ser.loads_at(&token, Some(900), t + 900).is_ok());
    assert_eq!(
        ser.loads_at(&token, Some(900), t + 901),
        Err(TokenError::Expired)
    );
    // TOKEN_MAX_AGE = 0: valid only within the issuing second.
    assert!(ser.loads_at(&token, Some(0), t).is_ok());
    assert_eq!(
        ser.loads_at(&token, Some(0), t + 1),
        Err(TokenError::Expired)
    );
    // A timestamp in the future (clock skew) is expired whenever an age is checked.
    assert_eq!(
        ser.loads_at(&token, Some(900), t - 1),
        Err(TokenError::Expired)
    );
    assert_eq!(
        ser.loads_at(&token, Some(u64::MAX), t - 1),
        Err(TokenError::Expired)
    );
    assert!(ser.loads_at(&token, None, t - 1).is_ok());
    // Extreme clocks do not overflow.
    assert!(ser.loads_at(&token, Some(u64::MAX), u64::MAX).is_ok());
    assert_eq!(
        ser.loads_at(&token, Some(5), u64::MAX),
        Err(TokenError::Expired)
    );
    assert_eq!(ser.loads_at(&token, Some(5), 0), Err(TokenError::Expired));
    // Timestamps Python cannot represent as a datetime are invalid there and here.
    let year_9999 = 253_402_300_799;
    assert!(ser
        .loads_at(&ser.dumps_at(&json!(1), year_9999), None, 0)
        .is_ok());
    for ts in [year_9999 + 1, u64::MAX] {
        let token = ser.dumps_at(&json!(1), ts);
        assert_eq!(ser.loads_at(&token, None, ts), Err(TokenError::Invalid));
        assert_eq!(ser.loads_unchecked_age(&token), Err(TokenError::Invalid));
    }
}

#[test]
fn check_and_get_token_status_cases() {
    let ser = TokenSerializer::new(vec![b"k".to_vec()], "confirm-salt");
    let t = 1_700_000_000;
    let data = json!(["uniq", "hash"]);
    let token = ser.dumps_at(&data, t);
    assert_eq!(
        check_and_get_token_status(&ser, &token, 60, t + 60),
        (false, false, Some(data.clone()))
    );
    assert_eq!(
        check_and_get_token_status(&ser, &token, 60, t + 61),
        (true, false, Some(data.clone()))
    );
    assert_eq!(
        check_and_get_token_status(&ser, &token, 60, t - 1),
        (true, false, Some(data))
    );
    assert_eq!(
        check_and_get_token_status(&ser, "garbage", 60, t),
        (false, true, None)
    );
    let other_salt = TokenSerializer::new(vec![b"k".to_vec()], "reset-salt");
    assert_eq!(
        check_and_get_token_status(&other_salt, &token, 60, t + 61),
        (false, true, None)
    );
    // Correctly signed, expired, but the payload is not JSON: expired, no data.
    let bad_payload = raw_token(
        b"k",
        "confirm-salt",
        &URL_SAFE_NO_PAD.encode("nope"),
        &ts_bytes(t),
    );
    assert_eq!(
        check_and_get_token_status(&ser, &bad_payload, 60, t + 61),
        (true, false, None)
    );
    assert_eq!(
        check_and_get_token_status(&ser, &bad_payload, 60, t),
        (false, true, None)
    );
}

#[test]
fn wrong_salt_or_key_is_invalid() {
    let doc = vectors();
    for v in doc["vectors"].as_array().expect("vectors") {
        let token = str_of(v, "token");
        let ts = v["timestamp"].as_u64().expect("ts");
        let salt = str_of(v, "salt");
        let keys: Vec<Vec<u8>> = v["secret_keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k.as_str().expect("str").as_bytes().to_vec())
            .collect();
        let wrong_salt = TokenSerializer::new(keys.clone(), format!("{salt}x"));
        assert_eq!(
            wrong_salt.loads_at(token, None, ts),
            Err(TokenError::Invalid)
        );
        let wrong_key = TokenSerializer::new(vec![b"not-the-key".to_vec()], salt);
        assert_eq!(
            wrong_key.loads_at(token, None, ts),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            check_and_get_token_status(&wrong_key, token, 0, ts + 10),
            (false, true, None)
        );
    }
}

#[test]
fn key_rotation_signs_with_last_and_verifies_with_any() {
    let doc = vectors();
    let v = doc["vectors"]
        .as_array()
        .expect("vectors")
        .iter()
        .find(|v| v["name"] == "two_keys_signed_with_last")
        .expect("vector");
    let token = str_of(v, "token");
    let ts = v["timestamp"].as_u64().expect("ts");
    let salt = str_of(v, "salt");
    let only = |k: &str| TokenSerializer::new(vec![k.as_bytes().to_vec()], salt);
    // itsdangerous signed with the last key ...
    assert!(only("new-key").loads_at(token, None, ts).is_ok());
    assert_eq!(
        only("old-key").loads_at(token, None, ts),
        Err(TokenError::Invalid)
    );
    // ... and so do we.
    let rotated = TokenSerializer::new(vec![b"old-key".to_vec(), b"new-key".to_vec()], salt);
    let ours = rotated.dumps_at(&v["payload"], ts);
    assert_eq!(ours, token);
    // A fallback (non-last) key still verifies.
    let demoted = TokenSerializer::new(vec![b"new-key".to_vec(), b"newest".to_vec()], salt);
    assert_eq!(
        demoted.loads_at(token, None, ts).as_ref(),
        Ok(&v["payload"])
    );
    let three = TokenSerializer::new(
        vec![b"a".to_vec(), b"new-key".to_vec(), b"b".to_vec()],
        salt,
    );
    assert!(three.loads_at(token, None, ts).is_ok());
    assert_eq!(
        TokenSerializer::new(vec![b"a".to_vec(), b"b".to_vec()], salt).loads_at(token, None, ts),
        Err(TokenError::Invalid)
    );
}

/// Outcome of loading a hostile-but-correctly-signed token here, where it
/// deliberately differs from itsdangerous.
const DELIBERATE_DEVIATIONS: &[&str] = &[
    "deep_nesting_200",      // serde_json's 128-level limit (Python: ~1000)
    "zlib_bomb_8mib",        // MAX_PAYLOAD_BYTES
    "nan_payload",           // not JSON; Python's json accepts NaN
    "padded_payload_base64", // non-canonical base64
];

#[test]
fn hostile_signed_tokens() {
    let doc = vectors();
    let (hostile, ser, now) = timed(&doc["hostile"], "now");
    let cases = list_of(hostile, "cases", 20);
    for case in cases {
        let name = str_of(case, "name");
        let token = str_of(case, "token");
        let ours = ser.loads_at(token, None, now);
        let python_ok = str_of(case, "result") == "ok";
        if DELIBERATE_DEVIATIONS.contains(&name) {
            assert!(python_ok, "{name}: python accepted");
            assert_eq!(ours, Err(TokenError::Invalid), "{name}");
            continue;
        }
        if python_ok {
            let value: Value = serde_json::from_str(str_of(case, "value_json")).expect("json");
            assert_eq!(ours, Ok(value), "{name}");
        } else {
            assert_eq!(ours, Err(TokenError::Invalid), "{name}");
        }
    }
    for name in DELIBERATE_DEVIATIONS {
        assert!(cases.iter().any(|c| c["name"] == *name), "{name} covered");
    }
}

#[test]
fn signature_must_be_canonical_base64() {
    let doc = vectors();
    let (hostile, ser, now) = timed(&doc["hostile"], "now");
    let lenient = hostile["lenient_python"].as_array().expect("lenient");
    assert_eq!(lenient.len(), 4);
    for case in lenient {
        // itsdangerous accepts these respellings of a valid signature; we do not.
        assert_eq!(str_of(case, "result"), "ok", "{case}");
        assert!(ser.loads_at(str_of(case, "base"), None, now).is_ok());
        assert_eq!(
            ser.loads_at(str_of(case, "token"), None, now),
            Err(TokenError::Invalid),
            "{case}"
        );
    }
}

#[test]
fn payload_limits() {
    let ser = TokenSerializer::new(vec![b"k".to_vec()], "s");
    let t = 1_700_000_000;
    // 10 000-deep nesting with a valid signature: serde_json's recursion limit
    // turns it into an error, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let token = raw_token(b"k", "s", &URL_SAFE_NO_PAD.encode(&deep), &ts_bytes(t));
    assert_eq!(ser.loads_at(&token, None, t), Err(TokenError::Invalid));
    let deep = format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let token = raw_token(b"k", "s", &URL_SAFE_NO_PAD.encode(&deep), &ts_bytes(t));
    assert_eq!(ser.loads_at(&token, None, t), Err(TokenError::Invalid));
    // 128 levels are still fine.
    let ok = format!("{}{}", "[".repeat(127), "]".repeat(127));
    let token = raw_token(b"k", "s", &URL_SAFE_NO_PAD.encode(&ok), &ts_bytes(t));
    assert!(ser.loads_at(&token, None, t).is_ok());

    // Compressed payloads: exactly at the cap is accepted, one byte over is not.
    let at_cap = json!("x".repeat(MAX_PAYLOAD_BYTES - 2));
    let token = ser.dumps_at(&at_cap, t);
    assert!(token.starts_with('.') && token.len() < 4096);
    assert_eq!(ser.loads_at(&token, None, t), Ok(at_cap));
    let over = json!("x".repeat(MAX_PAYLOAD_BYTES - 1));
    let token = ser.dumps_at(&over, t);
    assert_eq!(ser.loads_at(&token, None, t), Err(TokenError::Invalid));
    // Uncompressible payloads over the cap are refused too.
    let mut rng = StdRng::seed_from_u64(7);
    let noise: String = (0..MAX_PAYLOAD_BYTES)
        .map(|_| char::from(rng.gen_range(b'a'..=b'z')))
        .collect();
    let token = ser.dumps_at(&json!(noise), t);
    assert_eq!(ser.loads_at(&token, None, t), Err(TokenError::Invalid));
    // And so is any token over MAX_TOKEN_LEN, before hashing.
    let long = "A".repeat(MAX_TOKEN_LEN + 1);
    assert_eq!(ser.loads_at(&long, None, t), Err(TokenError::Invalid));
    // Non-UTF-8 JSON with a valid signature.
    let token = raw_token(
        b"k",
        "s",
        &URL_SAFE_NO_PAD.encode(b"\"\xff\""),
        &ts_bytes(t),
    );
    assert_eq!(ser.loads_at(&token, None, t), Err(TokenError::Invalid));
}

#[test]
fn malformed_input_is_invalid() {
    let ser = TokenSerializer::new(vec![b"k".to_vec()], "s");
    let t = 1_700_000_000;
    let valid = ser.dumps_at(&json!(["a"]), t);
    let sig = valid.rsplit('.').next().expect("sig");
    let mut rng = StdRng::seed_from_u64(64);
    let garbage_bytes: Vec<u8> = (0..64 * 1024).map(|_| rng.gen()).collect();
    let mut inputs = vec![
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        "....".into(),
        "a".into(),
        "a.b".into(),
        "a.b.c".into(),
        format!("..{sig}"),
        format!(".{sig}"),
        format!("{valid}."),
        format!(".{valid}"),
        valid.replace('.', ""),
        valid.replace('.', ".."),
        String::from_utf8_lossy(&garbage_bytes).into_owned(),
        "A".repeat(64 * 1024),
        "A.".repeat(32 * 1024),
        ".".repeat(64 * 1024),
        format!("{}.{sig}", "é".repeat(100)),
    ];
    for _ in 0..500 {
        let len = rng.gen_range(0..200);
        inputs.push(
            (0..len)
                .map(|_| char::from(b"AZaz09-_.=+/!"[rng.gen_range(0..13)]))
                .collect(),
        );
    }
    for input in &inputs {
        assert_eq!(
            ser.loads_at(input, None, t),
            Err(TokenError::Invalid),
            "{input:.80}"
        );
        assert_eq!(
            ser.loads_at(input, Some(0), t + 99),
            Err(TokenError::Invalid)
        );
        assert_eq!(ser.loads_unchecked_age(input), Err(TokenError::Invalid));
        assert_eq!(
            check_and_get_token_status(&ser, input, 1, t),
            (false, true, None)
        );
    }
}

/// Every mutation of a valid token must be rejected as `Invalid` (never
/// `Expired`, never accepted, never a panic). Because all base64 parts are
/// decoded strictly, no respelling of a token decodes to the same bytes, so
/// "accepted" can only mean "identical to the original".
#[test]
fn mutated_tokens_are_rejected() {
    let doc = vectors();
    let mut bases: Vec<(TokenSerializer, String, u64)> = Vec::new();
    for v in doc["vectors"].as_array().expect("vectors") {
        let name = v["name"].as_str().expect("name");
        if [
            "auth_token_v5",
            "compressed_repetitive_list",
            "non_ascii",
            "timestamp_zero",
            "two_keys_signed_with_last",
            "tf_validity_string",
        ]
        .contains(&name)
        {
            let ts = v["timestamp"].as_u64().expect("ts");
            bases.push((serializer_for(v), str_of(v, "token").to_owned(), ts));
        }
    }
    assert_eq!(bases.len(), 6);
    let mut rng = StdRng::seed_from_u64(0x5eed_70ce);
    let extra_chars = [
        '.', '=', '+', '/', '-', '_', 'A', 'a', '0', '!', ' ', 'é', '\0',
    ];
    let mut checked = 0usize;
    let mut not_utf8 = 0usize;

    let mut check = |ser: &TokenSerializer, base: &str, ts: u64, candidate: Vec<u8>| {
        let Ok(m) = String::from_utf8(candidate) else {
            not_utf8 += 1;
            return;
        };
        if m == base {
            return;
        }
        checked += 1;
        assert_eq!(
            ser.loads_at(&m, None, ts),
            Err(TokenError::Invalid),
            "{m:?} from {base:?}"
        );
        assert_eq!(
            ser.loads_at(&m, Some(1), ts + 1_000_000),
            Err(TokenError::Invalid),
            "{m:?}"
        );
    };

    for (ser, base, ts) in &bases {
        assert!(ser.loads_at(base, None, *ts).is_ok());
        let bytes = base.as_bytes();
        // Every single-bit flip.
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut m = bytes.to_vec();
                m[i] ^= 1 << bit;
                check(ser, base, *ts, m);
            }
        }
        // Every truncation (prefix and suffix), deletion and insertion.
        for i in 0..bytes.len() {
            check(ser, base, *ts, bytes[..i].to_vec());
            check(ser, base, *ts, bytes[i + 1..].to_vec());
            let mut m = bytes.to_vec();
            m.remove(i);
            check(ser, base, *ts, m);
            let c = extra_chars[i % extra_chars.len()];
            let mut m = base.clone();
            m.insert(i, c);
            check(ser, base, *ts, m.into_bytes());
        }
        // Extensions.
        for c in extra_chars {
            check(ser, base, *ts, format!("{base}{c}").into_bytes());
            check(ser, base, *ts, format!("{c}{base}").into_bytes());
        }
        // Random multi-character substitutions from the token alphabet.
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=";
        for _ in 0..1500 {
            let mut m = bytes.to_vec();
            for _ in 0..rng.gen_range(1..=4) {
                let i = rng.gen_range(0..m.len());
                m[i] = alphabet[rng.gen_range(0..alphabet.len())];
            }
            check(ser, base, *ts, m);
        }
        // Random bytes spliced in.
        for _ in 0..300 {
            let mut m = bytes.to_vec();
            let i = rng.gen_range(0..=m.len());
            let junk: Vec<u8> = (0..rng.gen_range(1..16)).map(|_| rng.gen()).collect();
            m.splice(i..i, junk);
            check(ser, base, *ts, m);
        }
    }
    // Parts of one valid token spliced onto another.
    for (ser_a, a, ts) in &bases {
        for (_, b, _) in &bases {
            if a == b {
                continue;
            }
            let (a_signed, _) = a.rsplit_once('.').expect("sig");
            let (_, b_sig) = b.rsplit_once('.').expect("sig");
            check(ser_a, a, *ts, format!("{a_signed}.{b_sig}").into_bytes());
            let (b_payload, b_rest) = b.split_at(b.len() - 35);
            let (a_payload, a_rest) = a.split_at(a.len() - 35);
            check(ser_a, a, *ts, format!("{a_payload}{b_rest}").into_bytes());
            check(ser_a, a, *ts, format!("{b_payload}{a_rest}").into_bytes());
        }
    }
    println!("{checked} mutations rejected ({not_utf8} non-UTF-8 skipped)");
    assert!(checked >= 10_000, "only {checked} mutations checked");
    assert!(not_utf8 > 0);
}

/// Tokens made by this crate, checked by the real itsdangerous: runs when
/// `PASSLIB_PYTHON` names a Python with `itsdangerous` (`.ci/run` sets it); otherwise it
/// says it checked nothing.
#[test]
fn our_tokens_verify_with_itsdangerous() {
    let Ok(python) = std::env::var("PASSLIB_PYTHON") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but PASSLIB_PYTHON is not set"
        );
        println!("PASSLIB_PYTHON not set: our tokens were not checked by itsdangerous");
        return;
    };
    let path = std::env::temp_dir().join(format!("rust_tokens_{}.json", std::process::id()));
    let doc = vectors();
    let now = 1_700_000_000;
    let mut out = Vec::new();
    let mut push = |keys: &Value, salt: &Value, payload: &Value| {
        let ser = serializer_for(&json!({"secret_keys": keys, "salt": salt}));
        out.push(json!({
            "secret_keys": keys,
            "salt": salt,
            "token": ser.dumps_at(payload, now),
            "payload": payload.to_string(),
        }));
    };
    for v in doc["vectors"].as_array().expect("vectors") {
        push(&v["secret_keys"], &v["salt"], &v["payload"]);
    }
    let mut rng = StdRng::seed_from_u64(99);
    for i in 0..300 {
        let payload = random_value(&mut rng, 4);
        push(&json!(["k", format!("key{i}")]), &json!("salt"), &payload);
    }
    std::fs::write(&path, serde_json::to_string(&out).expect("json")).expect("write");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/gen_token_vectors.py"
    );
    let run = std::process::Command::new(python)
        .arg(script)
        .arg("--verify")
        .arg(&path)
        .output()
        .expect("run python");
    let _ = std::fs::remove_file(&path);
    assert!(
        run.status.success(),
        "itsdangerous refused our tokens:\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
}

fn random_value(rng: &mut StdRng, depth: u32) -> Value {
    match rng.gen_range(0..if depth == 0 { 6 } else { 8 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.gen()),
        2 => Value::from(rng.gen::<i64>() >> rng.gen_range(0..64)),
        3 => Value::from(f64::from_bits(
            rng.gen::<u64>() & !(0x7ff << 52) | (rng.gen_range(900u64..1150) << 52),
        )),
        4 | 5 => Value::from(
            (0..rng.gen_range(0..40))
                .map(|_| {
                    let pick = rng.gen_range(0..4);
                    match pick {
                        0 => char::from(rng.gen_range(0u8..0x80)),
                        1 => char::from_u32(rng.gen_range(0x80..0x800)).unwrap_or('x'),
                        2 => char::from_u32(rng.gen_range(0x800..0xd800)).unwrap_or('x'),
                        _ => char::from_u32(rng.gen_range(0x10000..0x10ffff)).unwrap_or('x'),
                    }
                })
                .collect::<String>(),
        ),
        6 => Value::Array(
            (0..rng.gen_range(0..6))
                .map(|_| random_value(rng, depth - 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.gen_range(0..6))
                .map(|i| {
                    (
                        format!("k{i}{}", rng.gen::<u8>()),
                        random_value(rng, depth - 1),
                    )
                })
                .collect(),
        ),
    }
}

#[test]
fn random_values_round_trip() {
    let ser = TokenSerializer::new(vec![b"a".to_vec(), b"b".to_vec()], "rt");
    let mut rng = StdRng::seed_from_u64(1234);
    for i in 0..2000u64 {
        let value = random_value(&mut rng, 4);
        let token = ser.dumps_at(&value, i * 1_000_003);
        let (loaded, ts) = ser.loads_unchecked_age(&token).expect("round trip");
        assert_eq!(ts, i * 1_000_003);
        assert_same_value(&loaded, &value, &token);
    }
}
