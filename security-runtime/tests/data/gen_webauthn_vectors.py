#!/usr/bin/env python3
"""Generate WebAuthn vectors for `security_runtime::webauthn` (`src/webauthn/tests.rs`).

Usage:
    pip install 'webauthn>=2.8' cryptography cbor2
    python3 gen_webauthn_vectors.py > webauthn_vectors.json

For ES256, EdDSA (Ed25519) and RS256, a key from `cryptography` registers a credential
and signs an assertion, as an authenticator would. Every vector is checked here by the
real py_webauthn (`verify_registration_response`, `verify_authentication_response`, the
calls Flask-Security makes) before it is written, and carries the public key exactly as
py_webauthn hands it to Flask-Security for storage (`credential_public_key`).
"""

import base64
import hashlib
import json
import struct
import sys

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from webauthn import verify_authentication_response, verify_registration_response
from webauthn.helpers.structs import COSEAlgorithmIdentifier

RP_ID = "app.example.com"
ORIGIN = "https://app.example.com"
# Flask-Security's challenge: the ASCII bytes of a `secrets.token_urlsafe()` string.
CHALLENGE = b"kQ3y-qR0Z8tJb1vE2xW9mN4pL7sA6dF5gH8jK0cV1bU"


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def client_data(kind):
    return json.dumps(
        {"type": kind, "challenge": b64url(CHALLENGE), "origin": ORIGIN, "crossOrigin": False},
        separators=(",", ":"),
    ).encode()


def keys():
    p = ec.generate_private_key(ec.SECP256R1())
    n = p.public_key().public_numbers()
    yield "ES256", -7, p, {1: 2, 3: -7, -1: 1, -2: n.x.to_bytes(32, "big"), -3: n.y.to_bytes(32, "big")}
    e = ed25519.Ed25519PrivateKey.generate()
    raw = e.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    yield "EdDSA", -8, e, {1: 1, 3: -8, -1: 6, -2: raw}
    r = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rn = r.public_key().public_numbers()
    yield "RS256", -257, r, {1: 3, 3: -257, -1: rn.n.to_bytes(256, "big"), -2: rn.e.to_bytes(3, "big")}


def sign(alg, key, msg):
    if alg == "ES256":
        return key.sign(msg, ec.ECDSA(hashes.SHA256()))
    if alg == "EdDSA":
        return key.sign(msg)
    return key.sign(msg, padding.PKCS1v15(), hashes.SHA256())


def auth_data(flags, count, attested=b""):
    return hashlib.sha256(RP_ID.encode()).digest() + bytes([flags]) + struct.pack(">I", count) + attested


def vector(alg, alg_id, key, cose):
    cred_id = hashlib.sha256(alg.encode()).digest()[:20]
    attested = bytes(16) + struct.pack(">H", len(cred_id)) + cred_id + cbor2.dumps(cose)
    reg_cd = client_data("webauthn.create")
    att = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data(0x45, 0, attested)})
    reg = verify_registration_response(
        credential=json.dumps({
            "id": b64url(cred_id), "rawId": b64url(cred_id), "type": "public-key",
            "response": {"clientDataJSON": b64url(reg_cd), "attestationObject": b64url(att)},
        }),
        expected_challenge=CHALLENGE, expected_rp_id=RP_ID, expected_origin=ORIGIN,
        supported_pub_key_algs=[COSEAlgorithmIdentifier(alg_id)],
    )
    get_cd = client_data("webauthn.get")
    ad = auth_data(0x05, 5)
    sig = sign(alg, key, ad + hashlib.sha256(get_cd).digest())
    used = verify_authentication_response(
        credential=json.dumps({
            "id": b64url(cred_id), "rawId": b64url(cred_id), "type": "public-key",
            "response": {"clientDataJSON": b64url(get_cd), "authenticatorData": b64url(ad),
                         "signature": b64url(sig), "userHandle": None},
        }),
        expected_challenge=CHALLENGE, expected_rp_id=RP_ID, expected_origin=ORIGIN,
        credential_public_key=reg.credential_public_key, credential_current_sign_count=4,
    )
    assert used.new_sign_count == 5
    return {
        "alg": alg,
        "registration": {"clientDataJSON": b64url(reg_cd), "attestationObject": b64url(att)},
        "credential_id": reg.credential_id.hex(),
        "stored_public_key": reg.credential_public_key.hex(),
        "assertion": {"clientDataJSON": b64url(get_cd), "authenticatorData": b64url(ad),
                      "signature": b64url(sig)},
        "stored_sign_count": 4,
        "new_sign_count": used.new_sign_count,
    }


def main():
    out = {"rp_id": RP_ID, "origin": ORIGIN, "challenge": CHALLENGE.decode(),
           "vectors": [vector(*k) for k in keys()]}
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
