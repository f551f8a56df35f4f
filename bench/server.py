"""Gunicorn under production settings on a free loopback port, always stopped afterwards."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from bench.settings import ISSUER, PSEUDONYM_KEY, ROOT, SERVER_LOG, WORK, BenchError
from server import signing

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def signing_key_file() -> str:
    """The bench's signing keys (made once under var/bench/), as production is given its own."""
    path = WORK / "signing-keys.json"
    signing.write_new(path)
    return str(path)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def production_env(database_url: str) -> dict[str, str]:
    """Return the environment of a production process: random secret, https issuer, quiet logs."""
    env = {k: v for k, v in os.environ.items() if k not in {"GUNICORN_CMD_ARGS", "WEB_CONCURRENCY"}}
    env.update(
        APP_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(48),
        PSEUDONYM_KEY=PSEUDONYM_KEY,
        SIGNING_KEY_FILE=signing_key_file(),
        ISSUER=ISSUER,
        DATABASE_URL=database_url,
        LOG_LEVEL="WARNING",
        ACCESS_LOG="",  # no access log, as before the served configuration had one
    )
    return env


def gunicorn_argv(port: int, workers: int) -> list[str]:
    """Return the gunicorn command line: the served configuration (server/gunicorn_conf.py,
    as `consent-wallet serve` uses it) on this port and worker count, quieter."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:server.gunicorn_conf",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--graceful-timeout",
        "5",
        "server.wsgi:app",
    ]


def log_tail(path: Path = SERVER_LOG, lines: int = 30) -> str:
    """Return the last lines of the server log, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def wait_ready(base_url: str, process: subprocess.Popen, timeout: float = READY_TIMEOUT) -> None:
    """Poll /readyz until it answers 200; fail fast if gunicorn exits."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"gunicorn exited with {process.returncode}:\n{log_tail()}")
        try:
            response = requests.get(f"{base_url}/readyz", timeout=2)
        except requests.RequestException as exc:
            last = type(exc).__name__
        else:
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        time.sleep(0.2)
    raise BenchError(f"/readyz not 200 within {timeout:.0f}s (last: {last}):\n{log_tail()}")


def stop(process: subprocess.Popen) -> None:
    """Stop gunicorn gracefully (SIGTERM), then for good (SIGKILL) if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


@contextmanager
def gunicorn(database_url: str, workers: int) -> Iterator[str]:
    """Serve the app until the block ends; yield its base URL once /readyz answers 200."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    SERVER_LOG.parent.mkdir(parents=True, exist_ok=True)
    with SERVER_LOG.open("wb") as log:
        process = subprocess.Popen(
            gunicorn_argv(port, workers),
            cwd=ROOT,
            env=production_env(database_url),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(base_url, process)
        yield base_url
    finally:
        stop(process)
