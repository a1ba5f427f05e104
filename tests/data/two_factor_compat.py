"""Two-factor secrets and recovery codes as Flask-Security-Too makes and reads them.

Used by tests/tests/two_factor_compat.rs. Reads a JSON file named on the command line:
{"secrets": {tag: secret}, "issuer": str, "time": int,
 "ours": {"totp_secret": str?, "fernet_key": str, "fernet_codes": str?}}
and prints JSON: a fresh passlib secret and its code, passlib's code for our secret, our
Fernet tokens decrypted, and two known codes encrypted here. Needs libpass and cryptography.
"""

import json
import sys

from cryptography.fernet import Fernet
from passlib.totp import TOTP

THEIR_CODES = ["aaaa-bbbb-cccc", "0123-4567-89ab"]


def main(path):
    with open(path) as f:
        data = json.load(f)
    now, ours = data["time"], data["ours"]
    # As flask_security.totp.Totp: TOTP.using(secrets=..., issuer=...).
    totp = TOTP.using(secrets=data["secrets"], issuer=data["issuer"])
    theirs = totp.new()
    our_code = None
    if ours.get("totp_secret"):
        our_code = totp.from_json(ours["totp_secret"]).generate(now).token
    # As flask_security.recovery_codes: one Fernet token per code, comma-joined.
    fernet = Fernet(ours["fernet_key"].encode())
    tokens = [t for t in (ours.get("fernet_codes") or "").split(",") if t]
    print(json.dumps({
        "their_secret": theirs.to_json(encrypt=True),
        "their_code": theirs.generate(now).token,
        "our_code": our_code,
        "our_codes_plain": [fernet.decrypt(t.encode()).decode() for t in tokens],
        # At the app's clock, so the tokens are never ahead of it.
        "their_codes": ",".join(
            fernet.encrypt_at_time(c.encode(), now).decode() for c in THEIR_CODES
        ),
    }))


if __name__ == "__main__":
    main(sys.argv[1])
