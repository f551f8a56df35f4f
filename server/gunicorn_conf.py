"""gunicorn's settings for `consent-wallet serve` and bench/: `gunicorn -c
python:server.gunicorn_conf server.wsgi:app` (options on the command line win).

Threaded workers: `WEB_CLIENT_THREADS` connection threads per worker read requests and write
answers, so that slow clients wait on those, while the app runs on `WEB_THREADS` threads of
its own (server/serving.py). gunicorn's request limits stay at its defaults, stated here:
they bound what a request head may cost before anything else runs. What gunicorn refuses
itself (a malformed request, a request line or header over the limits) is answered as a
problem document like every other error, and no answer names the server software.
"""

from __future__ import annotations

import functools
import json
import os

from gunicorn import util
from gunicorn.http import wsgi as gunicorn_wsgi
from gunicorn.workers.gthread import ThreadWorker

from server.errors import HTTP_CODES, problem_document
from server.headers import static_headers

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 2)
worker_class = "server.gunicorn_conf.Worker"
threads = int(os.environ.get("WEB_CLIENT_THREADS") or 100)
keepalive = 5  # seconds an idle kept-alive connection stays open (it holds no thread)
timeout = 30  # a worker silent this long is restarted
limit_request_line = 4094  # bytes: a longer request line is a 414 problem
limit_request_fields = 100  # headers: more is a 431 problem
limit_request_field_size = 8190  # bytes per header: longer is a 431 problem
accesslog = os.environ.get("ACCESS_LOG", "-") or None
# gunicorn's combined format, with the request id the app answered with (X-Request-Id), so an
# access line and the app's log lines of one request share it.
access_log_format = (
    '%(h)s - - %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms request_id=%({x-request-id}o)s'
)
# gunicorn believes X-Forwarded-Proto (and friends) from 127.0.0.1 by default; the app decides
# whom to believe instead (TRUSTED_PROXIES, werkzeug's ProxyFix), so gunicorn believes nobody.
forwarded_allow_ips = ""


def _write_problem(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's error page, as a problem document (replaces `gunicorn.util.write_error`)."""
    production = os.environ.get("APP_ENV") == "production"
    body = json.dumps(
        problem_document(
            status_int, HTTP_CODES.get(status_int, "http_error"), reason, mesg[:300] or None
        )
    ).encode()
    head = [
        f"HTTP/1.1 {status_int} {reason}",
        "Connection: close",
        "Content-Type: application/problem+json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in static_headers(production=production)),
    ]
    util.write_nonblock(sock, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


def _without_server(default_headers):
    @functools.wraps(default_headers)
    def headers(self) -> list[str]:
        return [line for line in default_headers(self) if not line.startswith("Server:")]

    headers.drops_server = True
    return headers


class Worker(ThreadWorker):
    """gunicorn's threaded worker, with problem documents for the errors it answers itself
    and no `Server` header. gunicorn has no setting for either: its one error-page writer
    and its response's default headers are replaced in this worker process."""

    def init_process(self) -> None:
        util.write_error = _write_problem
        response = gunicorn_wsgi.Response
        if not getattr(response.default_headers, "drops_server", False):
            response.default_headers = _without_server(response.default_headers)
        super().init_process()
