"""Login throttles (issue 10, finding 11): logins are counted per account as well as per
address, and the counters are shared by every process when the store is Redis."""

import json
import os
import subprocess
import sys
import uuid
from types import SimpleNamespace

from consent_api.auth.clients import create_app_client
from server.app import create_app
from server.config import ROOT
from server.db import db
from tests.conftest import (
    REDIRECT_URI,
    PatientLogin,
    app_config,
    csrf_from,
    pkce_pair,
    wipe_committed,
)
from tests.factories import PatientFactory
from tests.support import dispose, race

RACERS = 12

# Database 0: the suite's own apps count in databases 1, 2, ... (see tests/conftest.py).
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/") + "/0"


def _attempt(client, login, email: str, password: str, address: str):
    _, challenge = pkce_pair()
    params = login.authorize_params(challenge)
    form = client.get("/oauth/authorize", query_string=params)
    return client.post(
        "/oauth/authorize",
        query_string=params,
        data={"email": email, "password": password, "csrf_token": csrf_from(form.text)},
        environ_base={"REMOTE_ADDR": address},
    )


def test_failed_logins_are_throttled_per_account_whatever_the_address(
    app, client, login, patient, monkeypatch
):
    monkeypatch.setitem(app.config, "RATELIMIT_LOGIN_ACCOUNT", "3 per minute")
    for n in range(3):  # three guesses, each from an address of its own
        answer = _attempt(client, login, patient.email, "wrong guess", f"10.0.0.{n}")
        assert answer.status_code == 200
        assert "Wrong e-mail or password" in answer.text
    # The fourth is refused before the password is looked at, even the right one.
    refused = _attempt(
        client, login, patient.email.upper(), "correct horse battery staple", "10.9.9.9"
    )
    assert refused.status_code == 429
    assert refused.json["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0


def test_each_account_has_a_counter_of_its_own(app, client, login, patient, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_LOGIN_ACCOUNT", "2 per minute")
    assert _attempt(client, login, patient.email, "wrong guess", "10.0.1.1").status_code == 200
    code, _ = login.code(patient.email)  # the patient's own login counts too
    assert code
    assert _attempt(client, login, patient.email, "wrong guess", "10.0.1.3").status_code == 429
    other = _attempt(client, login, "someone.else@example.org", "wrong guess", "10.0.1.2")
    assert other.status_code == 200


COUNTER = """
import json, sys
from server.app import create_app
app = create_app(json.loads(sys.argv[1]))
web = app.test_client()
print(json.dumps([web.post("/oauth/authorize").status_code for _ in range(5)]))
"""


def test_the_limits_are_shared_by_processes_through_redis(database_url):
    """Two processes (as two gunicorn workers would be) share one login limit of 5."""
    config = {
        "APP_ENV": "testing",
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",  # this run's counters only
        "RATELIMIT_LOGIN": "5 per minute",
    }
    answers = []
    for _ in range(2):
        run = subprocess.run(
            [sys.executable, "-c", COUNTER, json.dumps(config)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        answers += json.loads(run.stdout.strip().splitlines()[-1])
    assert answers.count(429) == 5, answers
    assert answers[:5] == [400] * 5


def test_concurrent_guesses_at_one_account_stay_within_its_limit(app, database_url):
    """Found by the outside review: 50 wrong passwords at once from 50 addresses made 17
    password checks against a limit of 10 (counted only after each failure)."""
    apps = [
        create_app(app_config(database_url, RATELIMIT_LOGIN_ACCOUNT="3 per minute"))
        for _ in range(RACERS)
    ]
    setup = apps[0]
    with setup.app_context():
        patient = PatientFactory()
        wallet = SimpleNamespace(
            client_id=create_app_client(name="Wallet", redirect_uris=[REDIRECT_URI]).client_id
        )
        email = patient.email
        db.session.commit()
        logins = [PatientLogin(a.test_client(), wallet) for a in apps]
        db.session.remove()

    def guess(index, login):
        _, challenge = pkce_pair()
        params = login.authorize_params(challenge)
        form = login.client.get("/oauth/authorize", query_string=params)
        csrf = csrf_from(form.text)

        def post():
            answer = login.client.post(
                "/oauth/authorize",
                query_string=params,
                data={"email": email, "password": "wrong guess", "csrf_token": csrf},
                environ_base={"REMOTE_ADDR": f"10.1.0.{index}"},
            )
            return answer.status_code

        return post

    try:
        statuses = race([guess(i, login) for i, login in enumerate(logins)])
    finally:
        dispose(*apps)
        wipe_committed(setup)
    assert statuses.count(200) <= 3, statuses  # a password checked: the form shown again
    assert statuses.count(429) >= RACERS - 3, statuses
