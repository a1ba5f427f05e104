#!/usr/bin/env python3
"""A software WebAuthn authenticator for the compatibility tests, on `cryptography` and
`cbor2` (the packages py_webauthn itself uses).

Usage:
  soft_authenticator.py assert SECRET OPTIONS ORIGIN COUNT
      SECRET is the JSON `register` returned; OPTIONS the server's bare
      PublicKeyCredentialRequestOptions JSON. Prints the `credential` JSON string
      Flask-Security's webauthn.js posts (userHandle padded base64url), with signature
      counter COUNT.

`register(options, origin, alg)` (imported by flask_security_db.py) answers bare
PublicKeyCredentialCreationOptions with a new ES256 or EdDSA key: the credential JSON
string to post and the SECRET to sign with later.
"""

import base64
import hashlib
import json
import os
import struct
import sys

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

# User present, user verified; with attested credential data at registration.
UP_UV = 0x05
UP_UV_AT = 0x45


def b64url(b, padded=False):
    s = base64.urlsafe_b64encode(b).decode()
    return s if padded else s.rstrip("=")


def unb64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def new_key(alg):
    """A private key and its COSE public key."""
    if alg == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
        n = key.public_key().public_numbers()
        cose = {1: 2, 3: -7, -1: 1, -2: n.x.to_bytes(32, "big"), -3: n.y.to_bytes(32, "big")}
        return key, cose
    if alg == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return key, {1: 1, 3: -8, -1: 6, -2: raw}
    raise SystemExit(f"unsupported algorithm {alg}")


def client_data(kind, challenge, origin):
    return json.dumps(
        {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False},
        separators=(",", ":"),
    ).encode()


def register(options, origin, alg):
    """The registration credential string and the secret to sign with later."""
    key, cose = new_key(alg)
    rp_id = options["rp"]["id"]
    cred_id = os.urandom(16)
    attested = bytes(16) + struct.pack(">H", len(cred_id)) + cred_id + cbor2.dumps(cose)
    auth_data = hashlib.sha256(rp_id.encode()).digest() + bytes([UP_UV_AT]) + struct.pack(">I", 0)
    att = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data + attested})
    cd = client_data("webauthn.create", options["challenge"], origin)
    credential = {
        "id": b64url(cred_id),
        "rawId": b64url(cred_id),
        "type": "public-key",
        "response": {
            "attestationObject": b64url(att),
            "clientDataJSON": b64url(cd),
            "transports": ["usb"],
        },
        "extensions": json.dumps({"credProps": {"rk": True}}),
    }
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    secret = {
        "alg": alg,
        "key": pkcs8.hex(),
        "credential_id": cred_id.hex(),
        "user_handle": unb64url(options["user"]["id"]).hex(),
        "rp_id": rp_id,
    }
    return json.dumps(credential), secret


def assertion(secret, options, origin, count):
    """The assertion credential string for `options`, signed with `secret`'s key."""
    key = serialization.load_der_private_key(bytes.fromhex(secret["key"]), None)
    rp_id = options.get("rpId") or secret["rp_id"]
    auth_data = hashlib.sha256(rp_id.encode()).digest() + bytes([UP_UV]) + struct.pack(">I", count)
    cd = client_data("webauthn.get", options["challenge"], origin)
    signed = auth_data + hashlib.sha256(cd).digest()
    if secret["alg"] == "ES256":
        signature = key.sign(signed, ec.ECDSA(hashes.SHA256()))
    else:
        signature = key.sign(signed)
    cred_id = bytes.fromhex(secret["credential_id"])
    return json.dumps({
        "id": b64url(cred_id),
        "rawId": b64url(cred_id),
        "type": "public-key",
        "response": {
            "authenticatorData": b64url(auth_data),
            "clientDataJSON": b64url(cd),
            "signature": b64url(signature),
            "userHandle": b64url(bytes.fromhex(secret["user_handle"]), padded=True),
        },
        "assertionClientExtensions": "{}",
    })


def main(argv):
    if len(argv) == 5 and argv[0] == "assert":
        secret, options = json.loads(argv[1]), json.loads(argv[2])
        print(json.dumps({"credential": assertion(secret, options, argv[3], int(argv[4]))}))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
