"""How a served request reaches the app: its body is read in full, within a deadline, before
the app sees the request; then the app runs on a small pool of its own threads.

gunicorn's threaded worker gives each connection a thread while it reads the request. A
client that drips its body one byte at a time would hold that thread for as long as it likes,
and, if the app read the body itself, whatever the app holds meanwhile (the bearer check's
database connection). Here the connection threads (many, cheap) only read and write; a body
that has not arrived after `BODY_TIMEOUT` seconds is answered 408; and the app, with its
database connections, runs on `WEB_THREADS` threads that never wait for a client. A
buffering proxy in front (README, operations) does the same job at the edge.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from server.errors import problem_document
from server.headers import static_headers

CHUNK = 64 * 1024


class Deadlines:
    """Shut the reading side of a socket whose request body is overdue: a read blocked on it
    then returns at once, whatever gunicorn's reader was waiting for. One thread per
    process, started on first use (never at import, never before a fork)."""

    def __init__(self, *, interval: float = 0.25) -> None:
        self._interval = interval
        self._due: dict[object, tuple[float, socket.socket]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, seconds: float) -> object:
        """Start the clock for `sock`; return the key that stops it."""
        key = object()
        with self._lock:
            self._due[key] = (time.monotonic() + seconds, sock)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="body-deadlines", daemon=True
                )
                self._thread.start()
        return key

    def forget(self, key: object) -> None:
        """Stop the clock (the body arrived, or the read ended otherwise)."""
        with self._lock:
            self._due.pop(key, None)

    def _run(self) -> None:
        while True:
            time.sleep(self._interval)
            now = time.monotonic()
            with self._lock:
                overdue = [key for key, (due, _) in self._due.items() if due <= now]
                sockets = [self._due.pop(key)[1] for key in overdue]
            for sock in sockets:
                with contextlib.suppress(OSError):  # the client may already be gone
                    sock.shutdown(socket.SHUT_RD)


class ServedRequests:
    """WSGI middleware: read the body within a deadline, then run the app on its own pool."""

    def __init__(
        self,
        app: Callable,
        *,
        body_timeout: float,
        max_body: int,
        threads: int,
        production: bool = False,
    ) -> None:
        self.app = app
        self.body_timeout = body_timeout
        self.max_body = max_body
        self.threads = threads
        self.deadlines = Deadlines()
        self._production = production
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if not self._buffer_body(environ):
            return self._timed_out(start_response)
        status, headers, chunks = self._app_pool().submit(self._run_app, environ).result()
        start_response(status, headers)
        return chunks

    def _app_pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:  # made in the worker process, after gunicorn's fork
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="app")
            return self._pool

    def _buffer_body(self, environ: dict[str, Any]) -> bool:
        """Replace wsgi.input with the whole body read now; False if it came too slowly
        (or the client stopped sending). A body over the largest limit is left unread: the
        app answers 413 from Content-Length alone."""
        declared = environ.get("CONTENT_LENGTH") or ""
        length = int(declared) if declared.isdigit() else None
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not length and not chunked:
            return True
        if length is not None and length > self.max_body:
            return True
        wanted = length if length is not None else self.max_body + 1
        stream = environ["wsgi.input"]
        sock = environ.get("gunicorn.socket")
        key = self.deadlines.watch(sock, self.body_timeout) if sock is not None else None
        chunks, received, ended = [], 0, False
        try:
            while received < wanted:
                chunk = stream.read(min(CHUNK, wanted - received))
                if not chunk:
                    ended = True
                    break
                chunks.append(chunk)
                received += len(chunk)
        except OSError:  # a socket shut by the deadline, or gunicorn's NoMoreData
            return False
        finally:
            if key is not None:
                self.deadlines.forget(key)
        if length is not None and received < length:
            return False
        if chunked and not ended and received <= self.max_body:
            return False
        environ["wsgi.input"] = io.BytesIO(b"".join(chunks))
        environ["CONTENT_LENGTH"] = str(received)
        environ["wsgi.input_terminated"] = True
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return True

    def _run_app(self, environ: dict[str, Any]) -> tuple[str, list, list[bytes]]:
        """Call the app on one of its own threads and collect the whole answer there."""
        started: list = []
        written: list[bytes] = []

        def start_response(status: str, headers: list, exc_info=None) -> Callable:
            started[:] = [status, headers]
            return written.append

        result = self.app(environ, start_response)
        try:
            written.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return started[0], started[1], written

    def _timed_out(self, start_response: Callable) -> list[bytes]:
        body = json.dumps(
            problem_document(
                408,
                "request_timeout",
                "Request Timeout",
                f"The request body did not arrive within {self.body_timeout:g} s.",
            )
        ).encode()
        start_response(
            "408 Request Timeout",
            [
                ("Content-Type", "application/problem+json"),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
                *static_headers(production=self._production),
            ],
        )
        return [body]
