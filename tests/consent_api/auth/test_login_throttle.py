"""Login throttles (issue 10, finding 11): failed logins are counted per account as well as per
address, and the counters are shared by every process when the store is Redis."""

import json
import os
import subprocess
import sys
import uuid

from server.config import ROOT
from tests.conftest import csrf_from, pkce_pair

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


def test_successful_logins_do_not_count_against_the_account(
    app, client, login, patient, monkeypatch
):
    monkeypatch.setitem(app.config, "RATELIMIT_LOGIN_ACCOUNT", "2 per minute")
    assert _attempt(client, login, patient.email, "wrong guess", "10.0.1.1").status_code == 200
    for _ in range(3):
        code, _ = login.code(patient.email)
        assert code
    other = _attempt(client, login, "someone.else@example.org", "wrong guess", "10.0.1.2")
    assert other.status_code == 200  # another account's counter is its own


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
