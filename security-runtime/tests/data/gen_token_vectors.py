#!/usr/bin/env python3
"""Generate itsdangerous compatibility vectors for `tests/token_compat.rs`.

Usage:
    pip install 'itsdangerous>=2,<3'
    python3 gen_token_vectors.py > itsdangerous_vectors.json
    python3 gen_token_vectors.py --verify exported.json

The first form writes, using the real itsdangerous library, the tokens that
Flask-Security's `_get_serializer` (a `URLSafeTimedSerializer`) produces for
fixed inputs, plus the library's verdict on boundary and hostile tokens.

The second form checks tokens made by the Rust port: the file is a JSON list of
`{"secret_keys": [...], "salt": ..., "token": ..., "payload": ...}` objects
(payload as JSON text) written by the `export_tokens_for_python` test when
`TOKEN_COMPAT_EXPORT=<path>` is set; every token must verify here and decode to
the same value.

Everything here is deterministic: fixed timestamps, seeded randomness.
"""

import base64
import hashlib
import hmac
import importlib.metadata
import json
import random
import struct
import sys
import zlib

from itsdangerous import BadData
from itsdangerous import SignatureExpired
from itsdangerous import TimestampSigner
from itsdangerous import URLSafeTimedSerializer


def fixed_clock_signer(now):
    """A TimestampSigner whose clock always reads `now` (signing and age checks)."""

    class FixedSigner(TimestampSigner):
        def get_timestamp(self):
            return now

    return FixedSigner


def serializer(keys, salt, now, **json_kwargs):
    return URLSafeTimedSerializer(
        keys, salt=salt, signer=fixed_clock_signer(now), serializer_kwargs=json_kwargs
    )


def python_verdict(keys, salt, token, max_age, now):
    """What itsdangerous' loads() does with `token` at time `now`."""
    try:
        value = serializer(keys, salt, now).loads(token, max_age=max_age)
        return {"result": "ok", "value": value}
    except SignatureExpired:
        return {"result": "expired"}
    except BadData as e:
        return {"result": "invalid", "python_error": type(e).__name__}
    except Exception as e:  # ValueError/OverflowError escape itsdangerous
        return {"result": "invalid", "python_error": type(e).__name__}


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def raw_token(keys, salt, payload_part, ts_bytes):
    """Sign arbitrary payload/timestamp parts the way itsdangerous does, by hand."""
    derived = hashlib.sha1(salt.encode() + b"signer" + keys[-1].encode()).digest()
    msg = payload_part + "." + b64(ts_bytes)
    sig = hmac.new(derived, msg.encode("ascii"), hashlib.sha1).digest()
    return msg + "." + b64(sig)


UID = "4f2a9c6e0b7d4e51a3c8f09d12e6b7a4"
CONFIRM_HASH = "$5$rounds=535000$abcdefghijklmnop$0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcd./"
TS = 1_700_000_000

VECTORS = [
    # (name, secret_keys, salt, timestamp, payload)
    (
        "auth_token_v5",
        ["super-secret-key"],
        "remember-salt",
        TS,
        {"ver": "5", "uid": UID, "fs_paa": 1700000000.123, "exp": 0},
    ),
    (
        "auth_token_v5_augmented",
        ["super-secret-key"],
        "remember-salt",
        TS + 7,
        {"ver": "5", "uid": UID, "fs_paa": 1700000007.5, "exp": 1700003600, "extra": [1, None]},
    ),
    ("confirm_list", ["super-secret-key"], "confirm-salt", TS, [UID, CONFIRM_HASH]),
    ("reset_list_with_null", ["super-secret-key"], "reset-salt", TS, [UID, None]),
    ("login_single", ["super-secret-key"], "login-salt", TS, [UID]),
    (
        "change_email",
        ["super-secret-key"],
        "change-email-salt",
        TS,
        [UID, CONFIRM_HASH, "new@example.com"],
    ),
    ("tf_validity_string", ["super-secret-key"], "tf-validity-salt", TS, UID),
    (
        "us_setup_state",
        ["super-secret-key"],
        "us-setup-salt",
        TS,
        {"totp_secret": "JBSWY3DPEHPK3PXP", "chosen_method": "sms", "phone_number": "+16505551234"},
    ),
    (
        "compressed_long_payload",
        ["super-secret-key"],
        "wan-salt",
        TS,
        {"challenge": "abc" * 200, "name": "key " * 50, "usage": "first"},
    ),
    (
        "compressed_repetitive_list",
        ["super-secret-key"],
        "confirm-salt",
        TS,
        [UID] * 40,
    ),
    (
        "non_ascii",
        ["super-secret-key"],
        "remember-salt",
        TS,
        {"name": "J\u00f6hn D\u0153 \u65e5\u672c\u8a9e", "emoji": "\U0001F600", "ltr": "\u2028\u2029\u00a0"},
    ),
    (
        "escapes",
        ["super-secret-key"],
        "remember-salt",
        TS,
        ["tab\tnl\ncr\rbs\bff\f", "quote\" backslash\\ slash/", "\x00\x01\x1f\x7f", "<&'>"],
    ),
    (
        "scalars_and_nesting",
        ["super-secret-key"],
        "remember-salt",
        TS,
        {"t": True, "f": False, "n": None, "e": {}, "l": [], "d": {"a": [{"b": [[]]}]}},
    ),
    (
        "integers",
        ["super-secret-key"],
        "remember-salt",
        TS,
        [0, -1, 1, 2**31, 2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1],
    ),
    ("two_keys_signed_with_last", ["old-key", "new-key"], "remember-salt", TS, [UID]),
    ("three_keys", ["k1", "k2", "k3"], "reset-salt", TS, [UID, None]),
    ("empty_key", [""], "remember-salt", TS, [UID]),
    ("non_ascii_key_and_salt", ["schl\u00fcssel-\u00e9"], "s\u00e4lt", TS, {"x": 1}),
    ("timestamp_zero", ["super-secret-key"], "remember-salt", 0, [UID]),
    ("timestamp_one_byte", ["super-secret-key"], "remember-salt", 255, [UID]),
    ("timestamp_five_bytes", ["super-secret-key"], "remember-salt", 2**32 + 5, [UID]),
    ("timestamp_year_9999", ["super-secret-key"], "remember-salt", 253402300799, [UID]),
    ("empty_string_payload", ["super-secret-key"], "remember-salt", TS, ""),
    ("null_payload", ["super-secret-key"], "remember-salt", TS, None),
]


def make_vectors():
    out = []
    for name, keys, salt, ts, payload in VECTORS:
        ser = serializer(keys, salt, ts)
        token = ser.dumps(payload)
        sorted_token = serializer(keys, salt, ts, sort_keys=True).dumps(payload)
        json_text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        sorted_text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        payload_part = token.rsplit(".", 2)[0]
        assert ser.loads(token) == payload
        out.append(
            {
                "name": name,
                "secret_keys": keys,
                "salt": salt,
                "timestamp": ts,
                "payload": payload,
                "payload_json": json_text,
                "payload_json_sorted_keys": sorted_text,
                "compressed": payload_part.startswith("."),
                "token": token,
                "token_sorted_keys": sorted_token,
            }
        )
    return out


def make_floats():
    """Python float repr cases: one small token per float (a few still compress)."""
    rng = random.Random(20240601)
    values = [
        0.0, -0.0, 0.1, 0.5, 1.0, 100.0, 1e-4, 1e-5, 1.5e-7, 1e15, 1e16, 1e17,
        123456789012345680.0, 1700000000.123, 1700000000.1234567, 5e-324,
        2.2250738585072014e-308, 1.7976931348623157e308, 9007199254740993.0,
        0.30000000000000004, 1e21, 1e22, 1e-300, 12345.6789e100, -2.5,
    ]
    while len(values) < 400:
        bits = rng.getrandbits(64)
        (x,) = struct.unpack(">d", bits.to_bytes(8, "big"))
        if x == x and abs(x) != float("inf"):
            values.append(x)
    for _ in range(200):
        values.append(rng.uniform(-1e6, 1e6))
        values.append(rng.randint(-(10**9), 10**9) / 1000.0)
    keys, salt = ["float-key"], "float-salt"
    ser = serializer(keys, salt, TS)
    items = []
    for x in values:
        bits = struct.unpack(">Q", struct.pack(">d", x))[0]
        token = ser.dumps([x])
        items.append(
            {"bits": f"{bits:016x}", "repr": json.dumps(x), "token": token, "compressed": token.startswith(".")}
        )
    return {"secret_keys": keys, "salt": salt, "timestamp": TS, "items": items}


def make_expiry_cases():
    keys, salt = ["super-secret-key"], "remember-salt"
    token = serializer(keys, salt, TS).dumps({"ver": "5", "uid": UID, "fs_paa": 1.5, "exp": 0})
    cases = []
    for max_age, delta in [
        (None, 0), (None, 10**9), (None, -5),
        (0, 0), (0, 1), (0, -1),
        (900, 0), (900, 899), (900, 900), (900, 901), (900, -1), (900, -900),
        (86400, 86400), (86400, 86401),
    ]:
        now = TS + delta
        verdict = python_verdict(keys, salt, token, max_age, now)
        verdict.pop("value", None)
        cases.append({"max_age": max_age, "now": now, **verdict})
    return {"secret_keys": keys, "salt": salt, "timestamp": TS, "token": token, "cases": cases}


def make_hostile():
    """Tokens with a VALID signature but unusual content, and itsdangerous' verdict."""
    keys, salt = ["super-secret-key"], "hostile-salt"
    ts8 = struct.pack(">Q", TS).lstrip(b"\0")
    bomb = zlib.compress(b'"' + b"a" * (8 * 1024 * 1024) + b'"', 9)
    deep = b"[" * 10000 + b"]" * 10000
    cases = [
        ("deep_nesting_10k", b64(deep), ts8),
        ("deep_nesting_100", b64(b"[" * 100 + b"]" * 100), ts8),
        ("deep_nesting_200", b64(b"[" * 200 + b"]" * 200), ts8),
        ("zlib_bomb_8mib", "." + b64(bomb), ts8),
        ("zlib_truncated", "." + b64(zlib.compress(b'["abc"]' * 20)[:-6]), ts8),
        ("zlib_garbage", "." + b64(b"not zlib at all"), ts8),
        ("zlib_trailing_junk", "." + b64(zlib.compress(b'["x"]') + b"junk"), ts8),
        ("non_utf8_payload", b64(b'"\xff\xfe"'), ts8),
        ("not_json", b64(b"hello"), ts8),
        ("empty_payload", "", ts8),
        ("nan_payload", b64(b"NaN"), ts8),
        ("json_with_whitespace", b64(b' [ 1 , 2 ] '), ts8),
        ("duplicate_keys", b64(b'{"a":1,"a":2}'), ts8),
        ("big_int_beyond_u64", b64(b"[18446744073709551616]"), ts8),
        ("payload_with_inner_dot", b64(b"[1]") + "." + b64(b"[2]"), ts8),
        ("padded_payload_base64", b64(b'"ab"') + "==", ts8),
        ("timestamp_empty", b64(b"[1]"), b""),
        ("timestamp_leading_zero", b64(b"[1]"), b"\0" + ts8),
        ("timestamp_8_bytes_max", b64(b"[1]"), b"\xff" * 8),
        ("timestamp_9_bytes", b64(b"[1]"), b"\x01" + b"\0" * 8),
        ("timestamp_year_10000", b64(b"[1]"), struct.pack(">Q", 253402300800).lstrip(b"\0")),
    ]
    out = []
    for name, payload_part, ts_bytes in cases:
        token = raw_token(keys, salt, payload_part, ts_bytes)
        verdict = python_verdict(keys, salt, token, None, TS)
        if verdict["result"] == "ok":
            value_json = json.dumps(verdict.pop("value"), ensure_ascii=False)
            # The 8 MiB bomb value is summarised to keep this file small.
            if len(value_json) > 4096:
                verdict["value_json_len"] = len(value_json)
            else:
                verdict["value_json"] = value_json
        out.append({"name": name, "token": token, **verdict})
    # Python decodes the signature part leniently (non-ASCII characters are
    # dropped, other stray characters skipped, '+' '/' and extra '=' allowed).
    # Record which respellings of a valid signature it accepts; the Rust port
    # rejects every non-canonical spelling on purpose.
    good = next(
        tok
        for tok in (raw_token(keys, salt, b64(json.dumps([i]).encode()), ts8) for i in range(1000))
        if "-" in tok.rsplit(".", 1)[1] or "_" in tok.rsplit(".", 1)[1]
    )
    head, sig = good.rsplit(".", 1)
    lenient = []
    for name, new_sig in [
        ("sig_with_padding", sig + "="),
        ("sig_with_non_ascii_char", sig[:5] + "\u00e9" + sig[5:]),
        ("sig_with_four_garbage_chars", sig[:5] + "!!!!" + sig[5:]),
        ("sig_std_alphabet", sig.replace("-", "+").replace("_", "/")),
    ]:
        tok = head + "." + new_sig
        v = python_verdict(keys, salt, tok, None, TS)
        v.pop("value", None)
        lenient.append({"name": name, "token": tok, "base": good, **v})
    return {"secret_keys": keys, "salt": salt, "now": TS, "cases": out, "lenient_python": lenient}


def verify(path):
    with open(path, encoding="utf-8") as f:
        items = json.load(f)
    for item in items:
        ser = URLSafeTimedSerializer(item["secret_keys"], salt=item["salt"])
        value = ser.loads(item["token"])
        expected = json.loads(item["payload"])
        if value != expected:
            raise SystemExit(f"value mismatch for {item['token']!r}: {value!r} != {expected!r}")
    print(f"itsdangerous verified {len(items)} Rust tokens")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--verify":
        verify(sys.argv[2])
        return
    doc = {
        "generator": {
            "script": "gen_token_vectors.py",
            "itsdangerous": importlib.metadata.version("itsdangerous"),
            "python": sys.version.split()[0],
            "zlib": zlib.ZLIB_RUNTIME_VERSION,
        },
        "vectors": make_vectors(),
        "floats": make_floats(),
        "expiry": make_expiry_cases(),
        "hostile": make_hostile(),
    }
    json.dump(doc, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
