"""What several test modules share: tokens without the login form, paging, bounded waits,
thread races, real worker processes and service-account files. Every wait here has a
deadline, so a broken test fails with a message instead of hanging the suite."""

from __future__ import annotations

import json
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from flask.testing import FlaskClient

from consent_api.auth.models import OAuthClient, OAuthToken, digest
from notifications.push import RecordingPushSender
from server.db import db, reads, utcnow
from server.jobs import JobContext, dispatcher_for, job

ROOT = Path(__file__).resolve().parent.parent


def issue_patient_token(patient: Any, app_client: OAuthClient, *, scope: str = "patient") -> str:
    """Store a patient access token as the token endpoint would (hashed, 15 minutes), and
    return it: for tests that are not about logging in. The login tests keep the real flow."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(
        OAuthToken(
            client_pk=app_client.id,
            patient_id=patient.id,
            org_id=None,
            family_id=uuid.uuid4(),
            access_token_hash=digest(token),
            refresh_token_hash=None,
            scope=scope,
            issued_at=now,
            expires_at=now + timedelta(minutes=15),
        )
    )
    db.session.flush()
    return token


# Our problem codes, as FHIR OperationOutcomes carry them (consent_api/fhir/outcome.py).
PROBLEM_SYSTEM = "https://consent-wallet.example/fhir/CodeSystem/problem"


def problem_code(body: Any) -> str | None:
    """The stable code of an error answer: a problem document's `code`, an OperationOutcome's
    first issue's code in our problem system (under /fhir/), an RFC 6749 body's `error`."""
    if not isinstance(body, dict):
        return None
    if body.get("resourceType") == "OperationOutcome":
        codings = body["issue"][0].get("details", {}).get("coding", [])
        return next((c["code"] for c in codings if c.get("system") == PROBLEM_SYSTEM), None)
    return body.get("code", body.get("error"))


def all_pages(
    client: FlaskClient,
    path: str,
    *,
    headers: Mapping[str, str],
    query: Mapping[str, Any] | None = None,
    limit: int = 2,
    max_pages: int = 100,
) -> list[dict]:
    """Follow `next_cursor` from the first page to the last; return every item in order."""
    items: list[dict] = []
    cursor = None
    for _ in range(max_pages):
        params = {**(query or {}), "limit": limit, **({"cursor": cursor} if cursor else {})}
        page = client.get(path, query_string=params, headers=headers)
        assert page.status_code == 200, page.json
        items += page.json["items"]
        cursor = page.json["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError(f"{path} still had a next_cursor after {max_pages} pages")


def wait_until(
    predicate: Callable[[], Any], *, timeout: float, interval: float = 0.05, what: str
) -> Any:
    """Poll `predicate` until it is truthy and return its value; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout} s waiting for {what}")
        time.sleep(interval)


def race(work: Sequence[Callable[[], Any]], *, timeout: float = 120) -> list[Any]:
    """Run each callable on its own thread, all released at once; return their results in
    order. A thread that raises fails the test with its error; one still running after
    `timeout` seconds fails it too. Each thread's kept read connection is closed with it."""
    gate = threading.Barrier(len(work))
    results: list[Any] = [None] * len(work)
    errors: list[BaseException] = []

    def run(index: int, job: Callable[[], Any]) -> None:
        try:
            gate.wait(timeout=timeout)
            results[index] = job()
        except BaseException as error:  # handed to the test's thread below
            errors.append(error)
        finally:
            reads.release()

    threads = [
        threading.Thread(target=run, args=(i, job), daemon=True) for i, job in enumerate(work)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    stuck = sum(thread.is_alive() for thread in threads)
    if errors:
        raise errors[0]
    assert not stuck, f"{stuck} of {len(threads)} threads still running after {timeout} s"
    return results


def dispose(*apps: Flask) -> None:
    """Close the connection pools of apps a test made (they share the test database)."""
    for application in apps:
        with application.app_context():
            db.engine.dispose()


def service_account_file(path: Path, token_uri: str) -> Path:
    """Write a Google service-account JSON file with a fresh RSA key whose token endpoint is
    `token_uri` (the fake FCM server's), as firebase-admin reads it (tests and bench/)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "demo",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "push@demo.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": token_uri,
            }
        )
    )
    path.chmod(0o600)  # a private key
    return path


class WorkerProcess:
    """A real `consent-wallet worker` process, its log lines read on a thread so that a
    test can wait for one with a deadline (a blocking readline() could hang forever)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "worker"],
            env={**os.environ, **env},
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self._queue.put(line)
        self._queue.put(None)  # end of output

    def wait_for_line(self, text: str, *, timeout: float) -> str:
        """Return the first log line containing `text`; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        for line in self._drain(deadline):
            if text in line:
                return line
        raise AssertionError(f"worker never logged {text!r} in {timeout} s:\n{''.join(self.lines)}")

    def _drain(self, deadline: float) -> Iterator[str]:
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                return
            if line is None:
                return
            self.lines.append(line)
            yield line

    def stop(self, *, timeout: float = 30) -> int:
        """Send SIGTERM, wait for the process to end (kill it past `timeout`); return its
        exit code. Its remaining output is kept in `lines`."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)
            raise AssertionError(f"worker ignored SIGTERM for {timeout} s") from None
        self._close(timeout)
        return code

    def exit_code(self, *, timeout: float) -> int:
        """Wait for the process to end by itself and return its exit code; fail after
        `timeout` seconds."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"worker still running after {timeout} s") from None
        self._close(timeout)
        return code

    def kill(self) -> None:
        """End the process at once (SIGKILL), as a crash would."""
        self.process.kill()
        self.process.wait(timeout=30)
        self._close(30)

    def _close(self, timeout: float) -> None:
        self._reader.join(timeout=timeout)
        list(self._drain(time.monotonic() + 1))
        if not self._reader.is_alive():
            self.process.stderr.close()

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self._close(30)


def run_job_now(job_id: str, *, push: Any = None) -> Any:
    """Run one job's body now, as the worker would call it, inside the test's transaction
    (its commits are savepoints there), with the app's configuration and `push` as sender."""
    context = JobContext(
        config=current_app.config,
        push=push or RecordingPushSender(),
        webhooks=dispatcher_for(current_app.config),
    )
    try:
        return job(job_id).func(context)
    finally:
        context.webhooks.close()
