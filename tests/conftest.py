"""Shared fixtures: one migrated database per run, each test inside a rolled-back transaction.

CW_TEST_DB chooses the database: unset or "sqlite" for a throw-away SQLite file, or a
PostgreSQL URL. An unreachable PostgreSQL is a failure, never a skip.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import secrets
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import flask_migrate
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from sqlalchemy import URL, Connection, create_engine, make_url, select, text
from sqlalchemy.orm import scoped_session, sessionmaker

from server.app import create_app
from server.db import db, reads, utcnow
from server.ratelimit import limiter
from tests import factories
from tests.factories import PatientFactory
from tests.support import issue_patient_token

TEST_PASSWORD = factories.PASSWORD

# The suite's Hypothesis profile, chosen for CI: the same examples on every run
# (derandomize, no example database), so a run never turns red on a new draw; no deadline and
# no too_slow health check, because timings on a shared, loaded two-core machine say nothing
# about the code. `HYPOTHESIS_PROFILE=explore` searches further, with fresh random draws.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("explore", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    chosen = os.environ.get("CW_TEST_DB", "sqlite")
    if chosen == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    url = make_url(chosen.replace("postgresql://", "postgresql+psycopg://", 1))
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, ... under pytest-xdist
    if worker:  # each worker has a database of its own, next to the one it was given
        url = _own_database(url, f"{url.database}_{worker}")
    return url.render_as_string(hide_password=False)


def _own_database(url: URL, name: str) -> URL:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            exists = connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # unreachable or refused: fail the run loudly
        pytest.exit(f"PostgreSQL at {engine.url!r} is not usable: {exc}", returncode=3)
    finally:
        engine.dispose()
    return url.set(database=name)


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    except Exception as exc:  # unreachable or refused: fail the run loudly
        pytest.exit(f"PostgreSQL at {engine.url!r} is not usable: {exc}", returncode=3)
    finally:
        engine.dispose()


# Redis for the rate limits when TEST_REDIS_URL is set (.ci/run sets it): each xdist worker
# counts in a database of its own (1, 2, ...), as resetting the limiter clears a whole database.
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")


def ratelimit_storage() -> str:
    """The rate limiter's store for test apps: memory, or this worker's Redis database."""
    if not TEST_REDIS_URL:
        return "memory://"
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    return f"{TEST_REDIS_URL.rstrip('/')}/{1 + worker}"


def app_config(url: str, **overrides) -> dict:
    """Return the configuration every test app uses."""
    return {
        "APP_ENV": "testing",
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "SQLALCHEMY_DATABASE_URI": url,
        "RATELIMIT_SIGNUP": "1000 per minute",
        "RATELIMIT_LOGIN": "1000 per minute",
        "RATELIMIT_LOGIN_ACCOUNT": "1000 per minute",
        "RATELIMIT_LINK_CODES": "1000 per minute",
        "RATELIMIT_LINK_REDEEM": "1000 per minute",
        "RATELIMIT_STORAGE_URI": ratelimit_storage(),
        "ISSUER": "http://localhost",
        # Webhooks go to receivers on 127.0.0.1 over http, and retry within a second.
        "WEBHOOK_ALLOW_LOCAL": True,
        "WEBHOOK_RETRY_BASE_SECONDS": 0.05,
        "WEBHOOK_TIMEOUT_SECONDS": 2.0,
        **overrides,
    }


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The migrated test database's URL."""
    url = _database_url(tmp_path_factory)
    if url.startswith("postgresql"):
        _reset_postgres(url)
    return url


@pytest.fixture(scope="session")
def app(database_url: str) -> Iterator[Flask]:
    """The application, with the schema built by the real migrations (once per run)."""
    application = create_app(app_config(database_url))
    application.test_client_class = CommittingClient
    with application.app_context():
        flask_migrate.upgrade()
    yield application
    with application.app_context():
        db.engine.dispose()


class CommittingClient(FlaskClient):
    """A test client that commits the test's own setup before each request.

    Fixtures only flush; committing here means a request that rolls back (an error answer)
    rolls back its own writes only, as it would in production.

    Every response, redirects followed included, must also be documented in openapi.yaml
    (see tests/openapi_check.py); an undocumented one fails the test that made it.
    """

    def open(self, *args, **kwargs):
        from tests.openapi_check import check_response

        __tracebackhide__ = True
        db.session.commit()
        response = super().open(*args, **kwargs)
        for answered in (*response.history, response):
            check_response(answered)
        return response


@pytest.fixture
def commit_patients(app, database_url):
    """Make `count` patients, each with a token, committed for real (for app instances
    racing on them); returns the app that made them and the tokens. Wiped after the test."""
    from consent_api.auth import clients
    from tests.support import dispose

    made: list[Flask] = []

    def make(count: int) -> tuple[Flask, list[str]]:
        setup = create_app(app_config(database_url))
        made.append(setup)
        with setup.app_context():
            app_client = clients.create_app_client(
                name="Wallet app", redirect_uris=["https://app.example/callback"]
            )
            tokens = []
            for _ in range(count):
                someone = factories.PatientFactory()
                db.session.flush()
                tokens.append(issue_patient_token(someone, app_client))
            db.session.commit()
            db.session.remove()
        return setup, tokens

    yield make
    for setup in made:
        wipe_committed(setup)
        dispose(setup)


@pytest.fixture
def signing_key_file(tmp_path) -> str:
    """A key file of one new ES256 key, as production is given one (SIGNING_KEY_FILE)."""
    from server import signing

    path = tmp_path / "signing-keys.json"
    signing.write_new(path)
    return str(path)


def wipe_committed(application: Flask) -> None:
    """Delete every row, children first: for tests that commit for real (other processes or
    app instances must see their data). Other tests never commit, so nothing else is lost."""
    with application.app_context():
        # The ledger refuses deletes (append-only triggers): lift that for this one session.
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("SET LOCAL session_replication_role = replica"))
            triggers = []
        else:
            triggers = db.session.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
            ).all()
            for name, _ in triggers:
                db.session.execute(text(f'DROP TRIGGER "{name}"'))
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        for _, sql in triggers:
            db.session.execute(text(sql))
        db.session.commit()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _release_read_connection() -> Iterator[None]:
    """Apps made inside a test keep a read connection per thread; close it with the test."""
    yield
    reads.release()


@contextlib.contextmanager
def rolled_back(app: Flask) -> Iterator[Connection]:
    """One outer transaction, rolled back at the end, under the app's session and reads:
    commits inside it become savepoints. Yields its connection."""
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        db.session = scoped_session(
            sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
        )
        reads.override = connection
        limiter.reset()
        try:
            yield connection
        finally:
            reads.override = None
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture
def session(app: Flask) -> Iterator[None]:
    """Run the test in one outer transaction that is rolled back; commits become savepoints."""
    with rolled_back(app):
        yield


@pytest.fixture
def client(app: Flask, session) -> FlaskClient:
    """An HTTP client for the app, inside the test's transaction."""
    return app.test_client()


@pytest.fixture
def org_credentials(session):
    """Register an organisation through the real service; return (registration, secret)."""

    def make(org_type: str = "hospital", *, name: str | None = None, scopes=None, jwks=None):
        from consent_api.registration import service

        return service.register_org(
            name=name or f"{org_type.title()} {secrets.token_hex(3)}",
            type=org_type,
            scopes=scopes,
            jwks=jwks,
        )

    return make


def basic_auth(client_id: str, secret: str) -> dict[str, str]:
    """Return an HTTP Basic Authorization header."""
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def bearer(token: str) -> dict[str, str]:
    """Return a bearer Authorization header."""
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def token_for(client: FlaskClient, org_credentials):
    """Get a real access token for a new organisation of a type, via client_credentials."""

    def make(org_type: str = "hospital", *, scopes: str | None = None, registration=None):
        registration = registration or org_credentials(org_type)
        form = {"grant_type": "client_credentials"}
        if scopes:
            form["scope"] = scopes
        response = client.post(
            "/oauth/token",
            data=form,
            headers=basic_auth(registration.client.client_id, registration.client_secret),
        )
        assert response.status_code == 200, response.json
        return response.json["access_token"]

    return make


@pytest.fixture
def admin_token(token_for) -> str:
    """An operator token with the admin scope."""
    return token_for("operator")


# --- the patient app and the authorization code + PKCE flow -----------------------------

REDIRECT_URI = "https://app.example/callback"


@pytest.fixture
def patient_app(session):
    """The public patient app client."""
    from consent_api.auth import clients

    return clients.create_app_client(name="Wallet app", redirect_uris=[REDIRECT_URI])


def pkce_pair() -> tuple[str, str]:
    """Return a (verifier, S256 challenge) pair."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def csrf_from(html: str) -> str:
    """Pull the CSRF token out of the login form."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "login form has no CSRF token"
    return match.group(1)


class PatientLogin:
    """Drive the authorization code + PKCE flow through the real login form."""

    def __init__(self, client: FlaskClient, app_client) -> None:
        self.client = client
        self.app_client = app_client

    def authorize_params(self, challenge: str, **extra) -> dict[str, str]:
        params = {
            "response_type": "code",
            "client_id": self.app_client.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": "patient",
            "state": "xyz",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        params.update(extra)
        return {k: v for k, v in params.items() if v is not None}

    def code(self, email: str, password: str = TEST_PASSWORD, **extra) -> tuple[str, str]:
        """Log in and return (code, verifier)."""
        verifier, challenge = pkce_pair()
        params = self.authorize_params(challenge, **extra)
        form = self.client.get("/oauth/authorize", query_string=params)
        assert form.status_code == 200, form.get_data(as_text=True)
        response = self.client.post(
            "/oauth/authorize",
            query_string=params,
            data={"email": email, "password": password, "csrf_token": csrf_from(form.text)},
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        query = parse_qs(urlsplit(response.headers["Location"]).query)
        assert query["state"] == ["xyz"]
        return query["code"][0], verifier

    def tokens(self, email: str, password: str = TEST_PASSWORD) -> dict:
        """Log in and exchange the code; return the token response."""
        code, verifier = self.code(email, password)
        response = self.client.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "client_id": self.app_client.client_id,
                "code_verifier": verifier,
            },
        )
        assert response.status_code == 200, response.json
        return response.json


@pytest.fixture
def login(client: FlaskClient, patient_app) -> PatientLogin:
    """The PKCE login driver for the test patient app."""
    return PatientLogin(client, patient_app)


@pytest.fixture
def patient(session):
    """A patient with the known test password."""
    return factories.PatientFactory()


@pytest.fixture
def patient_token_for(patient_app):
    """Issue a patient's access token directly, stored as the token endpoint stores one:
    for tests that are not about logging in (those drive the login form and PKCE)."""

    def make(someone) -> str:
        return issue_patient_token(someone, patient_app)

    return make


@pytest.fixture
def patient_token(patient_token_for, patient) -> str:
    """A real access token of the test patient (see `patient_token_for`)."""
    return patient_token_for(patient)


# --- data uses: an organisation reporting, a patient granting ---------------------------

USE = {"data_categories": ["lab_results"], "purpose": "TREAT", "action": "use", "record_count": 3}


@pytest.fixture
def hospital(org_credentials):
    return org_credentials("hospital", name="St Mary's")


@pytest.fixture
def hospital_token(token_for, hospital):
    return token_for(registration=hospital)


@pytest.fixture
def grant(client, patient_token_for):
    """A patient grants a consent through the API; returns (patient, consent JSON, token)."""

    def make(patient=None, **overrides):
        patient = patient or PatientFactory()
        token = patient_token_for(patient)
        body = {
            "grantee": {"org_type": "hospital"},
            "data_categories": ["lab_results"],
            "purposes": ["TREAT"],
            "actions": ["access", "use"],
            **overrides,
        }
        response = client.post("/v1/me/consents", json=body, headers=bearer(token))
        assert response.status_code == 201, response.json
        return patient, response.json, token

    return make


def org_id_of(org) -> uuid.UUID:
    """An organisation's id, from its bearer token, registration, model or id."""
    from consent_api.auth.models import OAuthToken, digest

    if isinstance(org, uuid.UUID):
        return org
    if isinstance(org, str):
        token = db.session.scalar(
            select(OAuthToken).where(OAuthToken.access_token_hash == digest(org))
        )
        assert token is not None, "a token the server never issued"
        assert token.org_id is not None, "not an organisation's token"
        return token.org_id
    return getattr(org, "org", org).id


def ref(org, patient) -> str:
    """The patient_ref an organisation (its token, registration, model or id) knows a patient
    (or a patient id) by: computed as the server computes it, with the app's key."""
    from consent_api.links import refs

    patient_id = (
        patient
        if isinstance(patient, uuid.UUID)
        else uuid.UUID(str(getattr(patient, "id", patient)))
    )
    return refs.encode(org_id_of(org), patient_id)


def shown(org, consent_id) -> str:
    """The id an organisation (its token, registration, model or id) knows a consent by (the
    patient's view gives its own id): computed as the server computes it."""
    from consent_api.links import refs

    return str(refs.shown_consent_id(org_id_of(org), uuid.UUID(str(consent_id))))


def use_body(patient_ref: str, **overrides) -> dict:
    """A data-use report about the patient with this reference, occurring now unless told
    otherwise."""
    when = overrides.pop("occurred_at", utcnow())
    return {
        "patient_ref": patient_ref,
        **USE,
        "occurred_at": when.isoformat(),
        **overrides,
    }


def report(client, token, body, *, key: str | None = None):
    """POST /v1/data-uses with a fresh Idempotency-Key unless one is given."""
    headers = {**bearer(token), "Idempotency-Key": key or uuid.uuid4().hex}
    return client.post("/v1/data-uses", json=body, headers=headers)
