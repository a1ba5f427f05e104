#!/usr/bin/env python3
"""Creates and checks databases with Flask-Security-Too's own models, for the migration tests.

  flask_security_db.py create URL MODEL
      Creates the tables of Flask-Security's `MODEL` (fsqla, fsqla_v2, fsqla_v3, fsqla_v4) at
      the SQLAlchemy URL and seeds roles and users. Prints JSON: {"token": <auth token of
      admin@example.com issued by Flask-Security>}.
  flask_security_db.py wan-credential URL MODEL EMAIL
      Adds a WebAuthn credential to EMAIL through Flask-Security's datastore (after
      `create`). Prints JSON: {"credential_id": hex, "public_key": hex, "user_handle": ..}.
  flask_security_db.py wan-register URL MODEL EMAIL PASSWORD ALG NAME
      With WebAuthn on, signs EMAIL in through Flask-Security's JSON `/login` and registers a
      new `first` passkey named NAME (ES256 or EdDSA, from soft_authenticator.py) through
      its `/wan-register` views, which verify it with py_webauthn and store it their way.
      Prints JSON: {"secret": <soft_authenticator SECRET>, "status": <HTTP status>}.
  flask_security_db.py login URL MODEL EMAIL PASSWORD [EMAIL PASSWORD ...]
      Signs each user in through Flask-Security's JSON `/login` against the same database.
      Prints JSON: {EMAIL: {"status": <HTTP status>, "roles": [...]}}.
  flask_security_db.py us-user URL MODEL EMAIL PASSWORD PHONE
      With unified sign-in on, creates the tables of `MODEL` and one confirmed user whose
      `authenticator`, `sms` (phone PHONE, made canonical by Flask-Security's phone util in
      region US) and `email` methods Flask-Security sets up with its own TOTP factory and
      `us_set`. Prints JSON: {"b32": {METHOD: <base32 key>}, "us_phone_number": <stored>,
      "us_totp_secrets": <stored column text>}.
  flask_security_db.py us-signin URL MODEL IDENTITY PASSCODE
      Signs in through Flask-Security's JSON `/us-signin` (unified sign-in on) against the
      same database. Prints JSON: {"status": <HTTP status>, "roles": [...] or null,
      "us_phone_number": ..., "us_totp_secrets": ...} (the columns of the user IDENTITY
      names, by email or phone).

The secret key and salt are the Rust test suite's (`security_tests::test_figment`), so both
sides hash and sign alike. Flask-Security's default argon2 parameters are kept on purpose.
The unified sign-in commands use the TOTP secrets and issuer of the Rust tests
(`{"1": "tf-secret-one"}`, "Rocket Test") and need Flask-Security's `mfa` extra (cryptography,
qrcode, phonenumbers).
"""

import importlib
import json
import sys

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from flask_security import (
    Security,
    SQLAlchemyUserDatastore,
    current_user,
    hash_password,
    uia_email_mapper,
    uia_phone_mapper,
)
from flask_security.utils import naive_utcnow

MODELS = []
SEED_ROLES = [
    ("admin", "Administrators", ["full-write", "super"]),
    ("editor", "Editors", ["read"]),
]
SEED_USERS = [
    # email, password, roles, active, confirmed
    ("admin@example.com", "fs admin password 1", ["admin"], True, True),
    ("editor@example.com", "fs editor password 2", ["editor"], True, True),
    ("inactive@example.com", "fs inactive password 3", [], False, True),
    ("unconfirmed@example.com", "fs unconfirmed password 4", [], True, False),
]


# Unified sign-in as the Rust tests configure it (`tests/tests/us_compat.rs`).
US_CONFIG = dict(
    SECURITY_UNIFIED_SIGNIN=True,
    SECURITY_TOTP_SECRETS={"1": "tf-secret-one"},
    SECURITY_TOTP_ISSUER="Rocket Test",
    SECURITY_PHONE_REGION_DEFAULT="US",
    SECURITY_USER_IDENTITY_ATTRIBUTES=[
        {"email": {"mapper": uia_email_mapper, "case_insensitive": True}},
        {"us_phone_number": {"mapper": uia_phone_mapper}},
    ],
)
US_METHODS = ["authenticator", "sms", "email"]


def make_app(url, model, extra=None):
    fsqla = importlib.import_module(f"flask_security.models.{model}")
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="test-secret-key-0123456789abcdef",
        SECURITY_PASSWORD_SALT="test-password-salt",
        SECURITY_CONFIRMABLE=True,
        SQLALCHEMY_DATABASE_URI=url,
        WTF_CSRF_ENABLED=False,
        TESTING=True,
    )
    app.config.update(extra or {})
    db = SQLAlchemy(app)
    fsqla.FsModels.set_db_info(db)

    class Role(db.Model, fsqla.FsRoleMixin):
        pass

    class User(db.Model, fsqla.FsUserMixin):
        pass

    # SQLAlchemy's class registry holds models weakly: keep every one alive.
    MODELS.extend([User, Role])
    webauthn_model = None
    if hasattr(fsqla, "FsWebAuthnMixin"):

        class WebAuthn(db.Model, fsqla.FsWebAuthnMixin):
            pass

        MODELS.append(WebAuthn)
        webauthn_model = WebAuthn
    if hasattr(fsqla, "FsRefreshTrackerMixin"):

        class FsRefreshTracker(db.Model, fsqla.FsRefreshTrackerMixin):
            pass

        MODELS.append(FsRefreshTracker)

    datastore = SQLAlchemyUserDatastore(db, User, Role, webauthn_model=webauthn_model)
    Security(app, datastore)

    @app.route("/whoami")
    def whoami():
        if not current_user.is_authenticated:
            return {"roles": None}
        return {"roles": sorted(r.name for r in current_user.roles)}

    return app, db, datastore


def create(url, model):
    app, db, ds = make_app(url, model)
    with app.app_context():
        db.create_all()
        for name, description, permissions in SEED_ROLES:
            ds.create_role(name=name, description=description, permissions=permissions)
        for email, password, roles, active, confirmed in SEED_USERS:
            ds.create_user(
                email=email,
                password=hash_password(password),
                roles=roles,
                active=active,
                confirmed_at=naive_utcnow() if confirmed else None,
            )
        db.session.commit()
        with app.test_request_context():
            token = ds.find_user(email="admin@example.com").get_auth_token()
    return {"token": token}


def login(url, model, pairs):
    app, _, _ = make_app(url, model)
    out = {}
    for email, password in pairs:
        client = app.test_client()
        r = client.post("/login", json={"email": email, "password": password})
        roles = client.get("/whoami").get_json()["roles"]
        out[email] = {"status": r.status_code, "roles": roles}
    return out


def us_columns(user):
    return {
        "us_phone_number": user.us_phone_number,
        "us_totp_secrets": user.us_totp_secrets,
    }


def us_user(url, model, email, password, phone):
    app, db, ds = make_app(url, model, US_CONFIG)
    security = app.extensions["security"]
    with app.app_context():
        db.create_all()
        canonical = security._phone_util.get_canonical_form(phone)
        if canonical is None:
            raise SystemExit(f"Flask-Security finds {phone!r} no phone number")
        user = ds.create_user(
            email=email, password=hash_password(password), confirmed_at=naive_utcnow()
        )
        db.session.commit()
        b32 = {}
        for method in US_METHODS:
            secret = security._totp_factory.generate_totp_secret()
            ds.us_set(user, method, secret, canonical if method == "sms" else None)
            b32[method] = security._totp_factory.get_totp_b32_key(secret)
        db.session.commit()
        user = ds.find_user(email=email)
        return {"b32": b32, **us_columns(user)}


def us_signin(url, model, identity, passcode):
    app, _, ds = make_app(url, model, US_CONFIG)
    client = app.test_client()
    r = client.post("/us-signin", json={"identity": identity, "passcode": passcode})
    roles = client.get("/whoami").get_json()["roles"]
    with app.app_context():
        canonical = app.extensions["security"]._phone_util.get_canonical_form(identity)
        user = ds.find_user(email=identity)
        if user is None and canonical:
            user = ds.find_user(us_phone_number=canonical)
        columns = us_columns(user) if user else {}
    return {"status": r.status_code, "roles": roles, **columns}


def wan_credential(url, model, email):
    """Adds a WebAuthn credential to EMAIL through Flask-Security's datastore."""
    app, db, ds = make_app(url, model)
    with app.app_context():
        user = ds.find_user(email=email)
        ds.set_webauthn_user_handle(user)
        ds.create_webauthn(
            user,
            credential_id=bytes(range(32)) + b"\x00\xff",
            public_key=bytes.fromhex("a5010203262001215820") + bytes(32) + b"\x22\x58\x20" + bytes(32),
            name="fs key",
            sign_count=7,
            usage="first",
            device_type="multi_device",
            backup_state=True,
            transports=["usb", "nfc"],
            extensions='{"credProps": {"rk": true}}',
        )
        db.session.commit()
        user = ds.find_user(email=email)
        cred = user.webauthn[0]
        return {
            "credential_id": cred.credential_id.hex(),
            "public_key": cred.public_key.hex(),
            "user_handle": user.fs_webauthn_user_handle,
        }


def wan_register(url, model, email, password, alg, name):
    """Registers a passkey for EMAIL through Flask-Security's own views."""
    import soft_authenticator

    app, _, _ = make_app(url, model, {"SECURITY_WEBAUTHN": True})
    client = app.test_client()
    r = client.post("/login", json={"email": email, "password": password})
    if r.status_code != 200:
        raise SystemExit(f"login: {r.status_code} {r.get_data(as_text=True)}")
    r = client.post("/wan-register", json={"name": name, "usage": "first"})
    if r.status_code != 200:
        raise SystemExit(f"wan-register: {r.status_code} {r.get_data(as_text=True)}")
    begun = r.get_json()["response"]
    # The test client's origin: Flask-Security takes it from the request's host.
    credential, secret = soft_authenticator.register(
        begun["credential_options"], "http://localhost", alg
    )
    r = client.post(f"/wan-register/{begun['wan_state']}", json={"credential": credential})
    return {"secret": secret, "status": r.status_code, "answer": r.get_json()}


def main(argv):
    if len(argv) >= 3 and argv[0] == "create":
        result = create(argv[1], argv[2])
    elif len(argv) >= 5 and argv[0] == "login" and len(argv) % 2 == 1:
        rest = argv[3:]
        result = login(argv[1], argv[2], list(zip(rest[::2], rest[1::2])))
    elif len(argv) == 6 and argv[0] == "us-user":
        result = us_user(*argv[1:])
    elif len(argv) == 5 and argv[0] == "us-signin":
        result = us_signin(*argv[1:])
    elif len(argv) == 7 and argv[0] == "wan-register":
        result = wan_register(*argv[1:])
    elif len(argv) == 4 and argv[0] == "wan-credential":
        result = wan_credential(*argv[1:])
    else:
        sys.stderr.write(__doc__)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
