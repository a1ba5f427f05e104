#!/usr/bin/env python3
"""Generate ``hash_vectors.json`` for ``tests/hash_compat.rs``.

Documentation of how the committed test data was made; the Rust tests never
run this script. It reproduces what Flask-Security-Too 5.9 does around passlib
(``utils.get_hmac``, ``hash_password``, ``verify_password``,
``PasswordUtil.normalize``) with a fixed ``SECURITY_PASSWORD_SALT``, without
needing a Flask app.

    python -m venv venv && venv/bin/pip install libpass argon2-cffi bcrypt
    venv/bin/python gen_hash_vectors.py > hash_vectors.json

``libpass`` is the maintained passlib fork Flask-Security uses (same import
name ``passlib``). Hashes are salted at random, so every run gives new hashes.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import unicodedata
from importlib.metadata import version

from argon2 import low_level as argon2_ll
from passlib.context import CryptContext
from passlib.hash import (
    argon2,
    bcrypt,
    des_crypt,
    pbkdf2_sha256,
    pbkdf2_sha512,
    sha256_crypt,
    sha512_crypt,
)

PASSWORD_SALT = "test-salt-do-not-use"
WRONG_PASSWORD = "wrong-Passw0rd!"
# Flask-Security defaults (core.py _default_config).
SCHEMES = [
    "bcrypt",
    "argon2",
    "des_crypt",
    "pbkdf2_sha256",
    "pbkdf2_sha512",
    "sha256_crypt",
    "sha512_crypt",
    "plaintext",
]
SINGLE_HASH = {"plaintext"}  # plus django_* names, irrelevant here
CONTEXT = CryptContext(schemes=SCHEMES, default="argon2", deprecated=["auto"])

RAW_PASSWORDS = [
    "Passw0rd!-ascii",
    "\ufb01anc\u00e9-Passw0rd",  # ligature fi + precomposed e-acute: NFKD changes it
    "Long-" + "x\u00e9y0123456789" * 6 + "-end-of-100-chars",  # 100 chars before NFKD
]


def normalize(password, form="NFKD"):
    """PasswordUtil.normalize with SECURITY_PASSWORD_NORMALIZE_FORM."""
    return unicodedata.normalize(form, password) if form else password


def get_hmac(password):
    """flask_security.utils.get_hmac."""
    mac = hmac.new(PASSWORD_SALT.encode(), password.encode("utf-8"), hashlib.sha512)
    return base64.b64encode(mac.digest())


def fs_hash(handler, scheme, password, single_hash):
    """flask_security.utils.hash_password with PASSWORD_HASH = scheme."""
    if scheme not in single_hash:
        password = get_hmac(password).decode("ascii")
    if scheme == "bcrypt":
        password = password[:72]
    return handler.hash(password)


def fs_verify(password, stored, single_hash):
    """flask_security.utils.verify_password."""
    if CONTEXT.identify(stored) not in single_hash:
        password = get_hmac(password)
        if CONTEXT.identify(stored) == "bcrypt":
            password = password[:72]
    return CONTEXT.verify(password, stored)


class Argon2V10:
    """Argon2 version 1.0 (0x10) hashes: passlib verifies them but cannot write them."""

    def __init__(self, omit_version):
        self.omit_version = omit_version  # passlib's own rendering drops "v=16$"

    def hash(self, secret):
        stored = argon2_ll.hash_secret(
            secret.encode("utf-8"), os.urandom(16), time_cost=3, memory_cost=4096,
            parallelism=1, hash_len=32, type=argon2_ll.Type.ID, version=0x10,
        ).decode("ascii")
        return stored.replace("v=16$", "") if self.omit_version else stored


# (label, scheme, handler, single-hash?, which passwords)
CHEAP = dict(memory_cost=4096, rounds=3, parallelism=1)
CASES = [
    ("argon2 defaults", "argon2", argon2, False, "all"),
    ("argon2 cheap m=4096,t=3,p=1", "argon2", argon2.using(**CHEAP), False, "all"),
    ("argon2i", "argon2", argon2.using(type="i", **CHEAP), False, "first"),
    ("argon2d", "argon2", argon2.using(type="d", **CHEAP), False, "first"),
    ("argon2id v=16", "argon2", Argon2V10(False), False, "first"),
    ("argon2id version omitted (0x10)", "argon2", Argon2V10(True), False, "first"),
    ("argon2id single-hash", "argon2", argon2.using(**CHEAP), True, "all"),
    ("bcrypt 2b rounds=4", "bcrypt", bcrypt.using(rounds=4), False, "all"),
    ("bcrypt 2a", "bcrypt", bcrypt.using(rounds=4, ident="2a"), False, "first"),
    ("bcrypt 2y", "bcrypt", bcrypt.using(rounds=4, ident="2y"), False, "first"),
    ("bcrypt single-hash", "bcrypt", bcrypt.using(rounds=4), True, "first"),
    ("pbkdf2_sha256 defaults", "pbkdf2_sha256", pbkdf2_sha256, False, "first"),
    ("pbkdf2_sha256 rounds=1000", "pbkdf2_sha256", pbkdf2_sha256.using(rounds=1000), False, "all"),
    ("pbkdf2_sha512 defaults", "pbkdf2_sha512", pbkdf2_sha512, False, "first"),
    ("pbkdf2_sha512 rounds=1000", "pbkdf2_sha512", pbkdf2_sha512.using(rounds=1000), False, "all"),
    ("pbkdf2_sha512 single-hash", "pbkdf2_sha512", pbkdf2_sha512.using(rounds=1000), True, "all"),
    ("sha256_crypt implicit rounds", "sha256_crypt", sha256_crypt.using(rounds=5000), False, "all"),
    ("sha256_crypt rounds=1000", "sha256_crypt", sha256_crypt.using(rounds=1000), False, "first"),
    ("sha512_crypt implicit rounds", "sha512_crypt", sha512_crypt.using(rounds=5000), False, "all"),
    ("sha512_crypt rounds=1000", "sha512_crypt", sha512_crypt.using(rounds=1000), False, "first"),
    ("sha512_crypt single-hash", "sha512_crypt", sha512_crypt.using(rounds=1000), True, "first"),
    ("des_crypt (verify unsupported in Rust)", "des_crypt", des_crypt, False, "first"),
    ("plaintext", "plaintext", None, True, "all"),
]


def main():
    passwords = [normalize(p) for p in RAW_PASSWORDS]
    vectors = []
    for label, scheme, handler, single, which in CASES:
        single_hash = SINGLE_HASH | ({scheme} if single else set())
        for password in passwords if which == "all" else passwords[:1]:
            if handler is None:  # plaintext: Flask-Security stores the input as-is
                stored = CONTEXT.hash(password, scheme="plaintext")
            else:
                stored = fs_hash(handler, scheme, password, single_hash)
            assert CONTEXT.identify(stored) == scheme, (label, stored)
            assert fs_verify(password, stored, single_hash), label
            assert not fs_verify(WRONG_PASSWORD, stored, single_hash), label
            vectors.append(
                {
                    "label": label,
                    "scheme": scheme,
                    "single_hash": single,
                    "password": password,
                    "hash": stored,
                    "needs_update": CONTEXT.needs_update(stored),
                }
            )
    out = {
        "comment": "generated by gen_hash_vectors.py; do not edit by hand",
        "generator": {
            name: version(name) for name in ("libpass", "argon2-cffi", "bcrypt")
        },
        "password_salt": PASSWORD_SALT,
        "wrong_password": WRONG_PASSWORD,
        "normalize": [
            {"form": form, "input": raw, "output": normalize(raw, form)}
            for raw in RAW_PASSWORDS[:2]
            for form in ("NFKD", "NFKC", "NFD", "NFC", "")
        ],
        "hmac": [
            {"password": p, "hmac": get_hmac(p).decode("ascii")} for p in passwords
        ],
        "vectors": vectors,
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
