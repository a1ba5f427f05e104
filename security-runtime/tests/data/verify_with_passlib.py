#!/usr/bin/env python3
"""Check hashes written by the Rust port with passlib, the way Flask-Security-Too verifies.

Run by tests/hash_compat.rs (``passlib_accepts_our_hashes``) when PASSLIB_PYTHON is set:

    python verify_with_passlib.py hashes.json

Exits 0 when every hash identifies as its scheme, verifies with its password (after
Flask-Security's get_hmac step unless single-hashed), fails with the wrong password, and,
for hashes made with the listed argon2 settings, does not need an update.
Needs ``pip install libpass argon2-cffi bcrypt``.
"""

import base64
import hashlib
import hmac
import json
import sys

from passlib.context import CryptContext

SCHEMES = ["bcrypt", "argon2", "des_crypt", "pbkdf2_sha256", "pbkdf2_sha512",
           "sha256_crypt", "sha512_crypt", "plaintext"]


def main(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    salt = data["password_salt"].encode("utf-8")
    a = data["argon2"]
    context = CryptContext(
        schemes=SCHEMES, default="argon2", deprecated=["auto"],
        argon2__memory_cost=a["memory_cost"], argon2__rounds=a["time_cost"],
        argon2__parallelism=a["parallelism"],
    )

    def verify(password, item):  # flask_security.utils.verify_password
        if not item["single_hash"]:
            password = base64.b64encode(
                hmac.new(salt, password.encode("utf-8"), hashlib.sha512).digest())
            if item["scheme"] == "bcrypt":
                password = password[:72]
        return context.verify(password, item["hash"])

    failures = 0
    for item in data["hashes"]:
        problem = None
        try:
            if context.identify(item["hash"]) != item["scheme"]:
                problem = "identified as %s" % context.identify(item["hash"])
            elif not verify(item["password"], item):
                problem = "right password rejected"
            elif verify(data["wrong_password"], item):
                problem = "wrong password accepted"
            elif item["current"] and context.needs_update(item["hash"]):
                problem = "needs_update is true"
        except Exception as e:  # noqa: BLE001 - report every failure
            problem = "%s: %s" % (type(e).__name__, e)
        if problem:
            failures += 1
            print("FAIL %s %r: %s" % (item["scheme"], item["hash"], problem))
    print("passlib checked %d hashes, %d failed" % (len(data["hashes"]), failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
