"""A local webhook receiver, as an organisation would run one: it checks every signature with
the `standardwebhooks` library (not our code) and answers as the test tells it."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        # A sender that gave up waiting (a timeout on purpose) leaves a closed socket.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Receiver:
    """Record every webhook; answer `answer(n)` for the n-th request (default 204), after
    `delay` seconds. `secrets` verify the signatures; each arrival records whether one of
    them verified it."""

    def __init__(self, *, secrets: list[str] | None = None, delay: float = 0.0) -> None:
        self.secrets = secrets or []
        self.delay = delay
        self.answer: Callable[[int], int] = lambda n: 204
        # Instead of `answer`: write the whole response by hand (a receiver breaking HTTP).
        self.respond: Callable[[BaseHTTPRequestHandler, int], None] | None = None
        self.arrivals: list[dict] = []  # every request, answered or not
        self._lock = threading.Lock()
        self.port = 0
        self._server: _Server | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {key.lower(): value for key, value in self.headers.items()}
                with receiver._lock:
                    n = len(receiver.arrivals)
                    arrival = {
                        "n": n,
                        "arrived_at": time.time(),
                        "path": self.path,
                        "headers": headers,
                        "body": json.loads(raw),
                        "verified": receiver._verified(raw, headers),
                        "status": None,
                    }
                    receiver.arrivals.append(arrival)
                if receiver.delay:
                    time.sleep(receiver.delay)
                if receiver.respond is not None:
                    receiver.respond(self, n)
                    return
                status = receiver.answer(n)
                arrival["status"] = status
                self.send_response(status)
                if status == 204:  # no content: no body, whatever the connection
                    self.end_headers()
                    return
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self._handler = Handler

    def _verified(self, raw: bytes, headers: dict[str, str]) -> bool:
        for secret in self.secrets:
            try:
                Webhook(secret).verify(raw, headers)
                return True
            except WebhookVerificationError:
                continue
        return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def delivered(self) -> list[dict]:
        """The bodies of the requests answered 2xx, in order of arrival."""
        with self._lock:
            return [a["body"] for a in self.arrivals if a["status"] and a["status"] < 300]

    def start(self) -> Receiver:
        self._server = _Server(("127.0.0.1", self.port), self._handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
