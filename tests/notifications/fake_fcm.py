"""A local fake of the FCM HTTP v1 send endpoint, for the real firebase-admin client."""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# token prefix -> (HTTP status, canonical status, FCM error code) answered instead of success
FAILURES = {
    "unregistered": (404, "NOT_FOUND", "UNREGISTERED"),
    "quota": (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
    "unavailable": (503, "UNAVAILABLE", None),
    "invalid": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
}


class _Server(ThreadingHTTPServer):
    # firebase-admin sends a batch from as many threads as messages: a listen backlog of 5
    # (the default) resets some of those connections, as a real FCM front end would not.
    request_queue_size = 512

    def handle_error(self, request, client_address) -> None:
        # A worker killed mid-batch (on purpose) leaves answers nobody reads: not an error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeFcm:
    """Record every send; answer by the device token (see FAILURES)."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self.delay = delay  # seconds per send, to catch a worker in the middle of a batch
        self.received: list[dict] = []
        self.arrived = 0  # requests seen, answered or not
        self.authorizations: list[str] = []
        self.token_requests: list[str] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw_body = self.rfile.read(length)
                if self.path == "/token":  # Google's OAuth token endpoint, for service accounts
                    with fake._lock:
                        fake.token_requests.append(raw_body.decode())
                    self._answer(200, {"access_token": "sa-token", "expires_in": 3600})
                    return
                body = json.loads(raw_body)
                with fake._lock:
                    fake.arrived += 1
                if fake.delay:
                    time.sleep(fake.delay)
                with fake._lock:
                    fake.received.append({"path": self.path, **body})
                    fake.authorizations.append(self.headers.get("Authorization", ""))
                token = body["message"].get("token", "")
                status, canonical, code = FAILURES.get(token.split(":")[0], (200, None, None))
                if status == 200:
                    payload = {"name": f"projects/demo/messages/{len(fake.received)}"}
                else:
                    payload = {"error": {"code": status, "status": canonical, "message": "fake"}}
                    if code:
                        payload["error"]["details"] = [
                            {
                                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                                "errorCode": code,
                            }
                        ]
                self._answer(status, payload)

            def _answer(self, status: int, payload: dict) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *_args) -> None:
                pass  # keep test output quiet

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # A short poll interval: shutdown() waits for the serving loop's next poll.
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FakeFcm:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
