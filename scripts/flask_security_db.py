#!/usr/bin/env python3
"""Creates and checks databases with Flask-Security-Too's own models, for the migration tests.

  flask_security_db.py create URL MODEL
      Creates the tables of Flask-Security's `MODEL` (fsqla, fsqla_v2, fsqla_v3, fsqla_v4) at
      the SQLAlchemy URL and seeds roles and users. Prints JSON: {"token": <auth token of
      admin@example.com issued by Flask-Security>}.
  flask_security_db.py login URL MODEL EMAIL PASSWORD [EMAIL PASSWORD ...]
      Signs each user in through Flask-Security's JSON `/login` against the same database.
      Prints JSON: {EMAIL: {"status": <HTTP status>, "roles": [...]}}.

The secret key and salt are the Rust test suite's (`security_tests::test_figment`), so both
sides hash and sign alike. Flask-Security's default argon2 parameters are kept on purpose.
"""

import importlib
import json
import sys

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from flask_security import Security, SQLAlchemyUserDatastore, current_user, hash_password
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


def make_app(url, model):
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
    db = SQLAlchemy(app)
    fsqla.FsModels.set_db_info(db)

    class Role(db.Model, fsqla.FsRoleMixin):
        pass

    class User(db.Model, fsqla.FsUserMixin):
        pass

    # SQLAlchemy's class registry holds models weakly: keep every one alive.
    MODELS.extend([User, Role])
    if hasattr(fsqla, "FsWebAuthnMixin"):

        class WebAuthn(db.Model, fsqla.FsWebAuthnMixin):
            pass

        MODELS.append(WebAuthn)
    if hasattr(fsqla, "FsRefreshTrackerMixin"):

        class FsRefreshTracker(db.Model, fsqla.FsRefreshTrackerMixin):
            pass

        MODELS.append(FsRefreshTracker)

    datastore = SQLAlchemyUserDatastore(db, User, Role)
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


def main(argv):
    if len(argv) >= 3 and argv[0] == "create":
        result = create(argv[1], argv[2])
    elif len(argv) >= 5 and argv[0] == "login" and len(argv) % 2 == 1:
        rest = argv[3:]
        result = login(argv[1], argv[2], list(zip(rest[::2], rest[1::2])))
    else:
        sys.stderr.write(__doc__)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
