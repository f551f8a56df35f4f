"""Real tokens over HTTP: the patient's authorization code + PKCE login, an org's secret."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from bench.settings import BenchError

TIMEOUT = 10
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Token:
    """An access token and when (time.monotonic) it stops working."""

    access_token: str
    expires_at: float

    def lasts(self, seconds: float) -> bool:
        """Tell whether the token is still good for this many seconds."""
        return time.monotonic() + seconds < self.expires_at


def pkce_pair() -> tuple[str, str]:
    """Return a (code_verifier, S256 code_challenge) pair."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _expect(response: requests.Response, status: int, step: str) -> requests.Response:
    """Return the response if it has the expected status, else fail naming the step."""
    if response.status_code != status:
        raise BenchError(
            f"{step}: expected {status}, got {response.status_code}: {response.text[:500]}"
        )
    return response


def _cookie_header(response: requests.Response) -> str:
    """Return a Cookie header replaying the response's cookies.

    Production marks the session cookie Secure, so a cookie jar would not send it back over
    the plain-HTTP loopback the bench uses; a TLS-terminating proxy would. Replay it by hand.
    """
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in response.cookies)


def _token(response: requests.Response, step: str) -> Token:
    """Turn a token endpoint answer into a Token."""
    payload = _expect(response, 200, step).json()
    if payload.get("token_type", "").lower() != "bearer" or not payload.get("access_token"):
        raise BenchError(f"{step}: not a bearer token response: {payload}")
    return Token(payload["access_token"], time.monotonic() + float(payload["expires_in"]))


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
    form = _expect(requests.get(url, timeout=TIMEOUT), 200, "GET /oauth/authorize")
    csrf = _CSRF.search(form.text)
    if csrf is None:
        raise BenchError("GET /oauth/authorize: the login form has no csrf_token")
    submitted = requests.post(
        url,
        data={"email": email, "password": password, "csrf_token": csrf.group(1)},
        headers={"Cookie": _cookie_header(form)},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    _expect(submitted, 302, "POST /oauth/authorize")
    query = parse_qs(urlsplit(submitted.headers["Location"]).query)
    if query.get("state") != [state] or not query.get("code"):
        raise BenchError(f"POST /oauth/authorize: bad redirect {submitted.headers['Location']}")
    return query["code"][0], verifier


def patient_token(
    base_url: str, *, client_id: str, redirect_uri: str, email: str, password: str
) -> Token:
    """Get a patient access token via authorization code + PKCE S256, as the app would."""
    code, verifier = authorization_code(
        base_url, client_id=client_id, redirect_uri=redirect_uri, email=email, password=password
    )
    response = requests.post(
        f"{base_url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "code_verifier": verifier,
        },
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    return _token(response, "POST /oauth/token (authorization_code)")


def org_token(base_url: str, *, client_id: str, secret: str, scope: str | None = None) -> Token:
    """Get an organisation access token via client_credentials with HTTP Basic."""
    form = {"grant_type": "client_credentials"}
    if scope:
        form["scope"] = scope
    response = requests.post(
        f"{base_url}/oauth/token",
        data=form,
        auth=(client_id, secret),
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    return _token(response, "POST /oauth/token (client_credentials)")
