"""Log a patient in over HTTP exactly as the patient app does: the login form, then the
authorization code with PKCE S256, then the token endpoint. For `consent-wallet demo-login`
(the README's walk-through) and the bench; and wait until the API is ready (`demo-banner`).
Standard library only."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
import urllib.error
import urllib.request
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

TIMEOUT = 10
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class LoginFailed(RuntimeError):
    """A step of the login did not answer as it should; the message names it."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 302 to the app's redirect URI is the answer, not a page to fetch


_opener = urllib.request.build_opener(_NoRedirect)


def pkce_pair() -> tuple[str, str]:
    """A (code_verifier, S256 code_challenge) pair."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _call(step: str, url: str, *, form: dict | None = None, headers: dict | None = None):
    data = urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310 - http(s) URLs the caller gives
    try:
        return _opener.open(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as answer:
        if answer.code == 302:
            return answer
        body = answer.read()[:500].decode(errors="replace")
        raise LoginFailed(f"{step}: {answer.code} {body}") from None
    except OSError as exc:
        raise LoginFailed(f"{step}: {exc}") from None


def authorization_code(
    base_url: str, *, client_id: str, redirect_uri: str, email: str, password: str
) -> tuple[str, str]:
    """Log in through the HTML form; return (code, code_verifier)."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "patient",
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    url = f"{base_url}/oauth/authorize?{urlencode(params)}"
    with _call("GET /oauth/authorize", url) as form:
        page = form.read().decode()
        cookies = SimpleCookie()
        for header in form.headers.get_all("Set-Cookie") or []:
            cookies.load(header)
    csrf = _CSRF.search(page)
    if csrf is None:
        raise LoginFailed("GET /oauth/authorize: the login form has no csrf_token")
    # Replayed by hand: production marks the session cookie Secure, which a cookie jar would
    # not send back over plain-HTTP loopback (a TLS-terminating proxy would).
    cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in cookies.items())
    submitted = _call(
        "POST /oauth/authorize",
        url,
        form={"email": email, "password": password, "csrf_token": csrf.group(1)},
        headers={"Cookie": cookie},
    )
    if submitted.getcode() != 302:  # the form again: the login was refused
        raise LoginFailed("POST /oauth/authorize: refused (wrong e-mail or password?)")
    location = submitted.headers.get("Location", "")
    query = parse_qs(urlsplit(location).query)
    if query.get("state") != [state] or not query.get("code"):
        raise LoginFailed(f"POST /oauth/authorize: bad redirect {location}")
    return query["code"][0], verifier


def patient_token(
    base_url: str, *, client_id: str, redirect_uri: str, email: str, password: str
) -> dict[str, Any]:
    """Log in and exchange the code: the token endpoint's answer (access_token, ...)."""
    code, verifier = authorization_code(
        base_url, client_id=client_id, redirect_uri=redirect_uri, email=email, password=password
    )
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "code_verifier": verifier,
    }
    with _call("POST /oauth/token", f"{base_url}/oauth/token", form=form) as answer:
        return json.loads(answer.read())


def wait_ready(base_url: str, *, timeout: float, every: float = 0.5) -> bool:
    """Wait until `base_url/readyz` answers 200 (for at most `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base_url}/readyz", timeout=every * 4) as answer:  # noqa: S310 - our own URL
                if answer.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass  # not listening yet, or not ready (503)
        if time.monotonic() >= deadline:
            return False
        time.sleep(every)
