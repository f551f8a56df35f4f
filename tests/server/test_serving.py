"""The served configuration (`consent-wallet serve`, gunicorn) against a real process on a
free loopback port: errors gunicorn answers itself are problem documents, and clients that
drip a body do not stop the service from answering others."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from consent_api.links import refs
from consent_api.registration import service as registration
from server import demo
from server.app import create_app
from server.db import db
from tests.conftest import app_config, basic_auth, wipe_committed
from tests.support import ROOT, wait_until

DRIPPERS = 55  # more than the 50 the service must withstand
BODY_TIMEOUT = 15  # seconds a body may take (BODY_TIMEOUT), above the default for a busy CI
SERVED_NAME = "cw-served"  # application_name of the served process's database connections


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        return database_url
    return (
        make_url(database_url)
        .update_query_dict({"application_name": SERVED_NAME})
        .render_as_string(hide_password=False)
    )


class Served:
    """A `consent-wallet serve` process; stopped (SIGTERM, then SIGKILL) when done."""

    def __init__(self, database_url: str, log: Path) -> None:
        self.port = _free_port()
        env = {k: v for k, v in os.environ.items() if k not in {"GUNICORN_CMD_ARGS"}}
        env.update(
            HOST="127.0.0.1",
            PORT=str(self.port),
            DATABASE_URL=_url(database_url),
            APP_ENV="testing",
            LOG_LEVEL="WARNING",
            ACCESS_LOG="",
            BODY_TIMEOUT=str(BODY_TIMEOUT),
        )
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until(self._healthy, timeout=60, interval=0.2, what="the served /healthz")

    def _healthy(self) -> bool:
        assert self.process.poll() is None, self.log.read_text(errors="replace")
        try:
            return self.request("GET", "/healthz", timeout=5)[0] == 200
        except OSError:
            return False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, *, body=None, headers=None, timeout: float = 30):
        """Send one request on a new connection; return (status, headers, body)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    def raw(self, data: bytes, *, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
        """Send raw bytes; return the answer's status, headers and body."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(data)
            return _parse(_read_all(sock))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


@pytest.fixture(scope="module")
def served(app, database_url, tmp_path_factory) -> Iterator[Served]:
    """One served process for the module's tests (starting one takes seconds)."""
    server = Served(database_url, tmp_path_factory.mktemp("serve") / "serve.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Note: a\x00b\r\n\r\n", 400, "bad_request"),
        (b"GET /" + b"a" * 10_240 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
        (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20_480 + b"\r\n\r\n",
            431,
            "header_fields_too_large",
        ),
    ],
    ids=["nul-in-header", "10kb-path", "20kb-header"],
)
def test_what_gunicorn_refuses_is_a_problem_document(served, request_bytes, status, code):
    answered, headers, body = served.raw(request_bytes)

    assert answered == status
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["code"] == code
    assert headers["x-content-type-options"] == "nosniff"
    assert "server" not in headers


def test_the_served_answers_name_no_server_software(served):
    status, headers, _ = served.request("GET", "/healthz")

    assert status == 200
    assert headers.get("Server") is None


def test_forwarded_headers_are_not_believed_without_trusted_proxies(served):
    """Found by the outside review: gunicorn itself trusted X-Forwarded-Proto from 127.0.0.1
    (its forwarded_allow_ips default), so with TRUSTED_PROXIES=0 a local client could pass
    plain http off as https to the token endpoint."""
    forged = {"Host": "wallet.example", "X-Forwarded-Proto": "https"}
    status, _, body = served.request(
        "POST",
        "/oauth/token",
        body="grant_type=client_credentials",
        headers={**forged, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (status, json.loads(body)["error"]) == (400, "invalid_request")
    status, _, body = served.request(
        "GET", "/.well-known/oauth-authorization-server", headers=forged
    )
    assert status == 200
    assert json.loads(body)["issuer"] == "http://wallet.example"


@pytest.fixture
def checker(app, database_url):
    """An organisation allowed to check consents, committed for real: its client id and
    secret, and its reference of a patient who does not exist."""
    writer = create_app(app_config(database_url))
    with writer.app_context():
        org = registration.register_org(name="Drip Hospital", type="hospital")
        db.session.commit()
        credentials = (
            org.client.client_id,
            org.client_secret,
            refs.encode(org.org.id, uuid.uuid4()),
        )
    yield credentials
    wipe_committed(writer)


def _drip_open(port: int, token: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        b"POST /v1/consent-checks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\nContent-Length: 200\r\n\r\n{"
    )
    return sock


def _answered(sockets: list[socket.socket]) -> list[socket.socket]:
    """The sockets on which the server has said something (or hung up)."""
    readable, _, _ = select.select(sockets, [], [], 0)
    return readable


def test_the_service_answers_while_50_clients_drip_a_body(served, checker, database_url):
    token_answer = served.request(
        "POST",
        "/oauth/token",
        body="grant_type=client_credentials",
        headers={"Content-Type": "application/x-www-form-urlencoded", **basic_auth(*checker[:2])},
    )
    assert token_answer[0] == 200, token_answer
    token = json.loads(token_answer[2])["access_token"]
    check = json.dumps(
        {
            "patient_ref": checker[2],
            "data_category": "lab_results",
            "purpose": "TREAT",
            "action": "use",
        }
    )
    drippers = [_drip_open(served.port, token) for _ in range(DRIPPERS)]
    stop = threading.Event()

    def drip() -> None:  # one byte on every connection every 2 s, until told to stop
        while not stop.wait(2):
            for sock in drippers:
                with contextlib.suppress(OSError):
                    sock.send(b" ")

    dripping = threading.Thread(target=drip, daemon=True)
    dripping.start()
    try:
        latencies = []
        for _ in range(5):
            started = time.monotonic()
            health = served.request("GET", "/healthz")
            latencies.append(time.monotonic() - started)
            assert health[0] == 200
            checked = served.request(
                "POST",
                "/v1/consent-checks",
                body=check,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            )
            assert checked[0] == 200, checked
            assert json.loads(checked[2])["decision"] == "deny"
            # ...all while every dripping client is still waiting for its answer.
            assert _answered(drippers) == []
        if database_url.startswith("postgresql"):  # the drips hold no database connection
            engine = create_engine(database_url)
            with engine.connect() as connection:
                held = connection.scalar(
                    text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :n"),
                    {"n": SERVED_NAME},
                )
            engine.dispose()
            assert held < DRIPPERS
        print(f"healthz during the drip: {[round(s * 1000) for s in latencies]} ms")

        # A body slower than BODY_TIMEOUT is refused: 408, as a problem document.
        for sock in drippers:
            sock.settimeout(BODY_TIMEOUT + 30)
            status, headers, body = _parse(_read_all(sock))
            assert status == 408
            assert headers["content-type"] == "application/problem+json"
            assert json.loads(body)["code"] == "request_timeout"
    finally:
        stop.set()
        dripping.join(timeout=10)
        for sock in drippers:
            sock.close()


def _cli(*args: str) -> subprocess.CompletedProcess:
    """Run `consent-wallet` as a process of its own, as `make run` and a newcomer do."""
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_demo_login_logs_the_demo_patient_in_over_http(served, database_url):
    """`consent-wallet demo-login` (the README's walk-through) goes through the real login
    form and PKCE against the served app, and its token is the demo patient's."""
    writer = create_app(app_config(database_url))
    with writer.app_context():
        demo.seed()
        db.session.commit()
    try:
        login = _cli("demo-login", "--base-url", served.base_url)
        assert login.returncode == 0, login.stderr
        token = login.stdout.strip()
        status, _, body = served.request(
            "GET", "/v1/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert status == 200
        assert json.loads(body)["email"] == demo.DEMO_PATIENT[0]
    finally:
        wipe_committed(writer)


def test_the_demo_banner_prints_once_the_served_api_is_ready(served):
    """Issue 13: `make run` prints the credentials and curl once /readyz answers."""
    banner = _cli("demo-banner", "--base-url", served.base_url)
    assert banner.returncode == 0, banner.stderr
    assert "client_id=demo-hospital" in banner.stderr
    assert served.base_url in banner.stderr


def _pasted(banner: str) -> str:
    """The shell lines of the banner as a newcomer copies them: the indented block from BASE."""
    lines = banner.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  BASE="))
    block = [line[2:] for line in lines[start:] if line.startswith("  ")]
    return "\n".join(block)


def test_the_demo_story_answers_the_banners_curls_as_pasted(served, database_url):
    """Issue 13: the seeded story shows a permit, the patient's access history and points,
    through the curls the banner prints, run by a shell against the served app."""
    writer = create_app(app_config(database_url))
    with writer.app_context():
        demo.seed()
        db.session.commit()
        demo.seed()  # a second `make run` tells the story once
        db.session.commit()
    try:
        script = _pasted(demo.describe(demo.known(), served.base_url))
        run = subprocess.run(
            ["/bin/bash", "-euo", "pipefail", "-c", script],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        check, history, points = (json.loads(line) for line in run.stdout.splitlines())
        assert check["decision"] == "permit"
        assert check["consent_id"]
        kinds = {entry["kind"] for entry in history["items"]}
        assert "data_use" in kinds
        assert history["next_cursor"]  # there is more story than one page of three
        token = subprocess.run(
            [sys.executable, "-m", "server.cli", "demo-login", "--base-url", served.base_url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        bearer = {"Authorization": f"Bearer {token}"}
        _, _, body = served.request("GET", "/v1/me/access-log?limit=50", headers=bearer)
        uses = [e for e in json.loads(body)["items"] if e["kind"] == "data_use"]
        assert {e["outcome"] for e in uses} == {"permitted", "refused"}
        earned = sum(e["points_credited"] for e in uses)
        assert earned > 0
        assert points["balance"] == earned
        _, _, body = served.request("GET", "/v1/me/consents", headers=bearer)
        statuses = sorted(c["status"] for c in json.loads(body)["items"])
        assert statuses == ["active", "active", "revoked"]  # told once, though seeded twice
        _, _, body = served.request("GET", "/v1/me/consent-requests", headers=bearer)
        asked = json.loads(body)["items"]
        assert sorted(r["status"] for r in asked) == ["approved", "pending", "pending"]
        # The last is Demo Pharma's study's invitation, filed by the fan-out.
        assert [bool(r["study"]) for r in asked] == [False, False, True]
        assert asked[-1]["study"]["title"] == "Blood pressure at home"
    finally:
        wipe_committed(writer)
