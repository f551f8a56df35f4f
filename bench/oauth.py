"""Real tokens over HTTP: the patient's authorization code + PKCE login, an org's secret."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import requests

from bench.settings import BenchError
from server import login_client

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


def _expect(response: requests.Response, status: int, step: str) -> requests.Response:
    """Return the response if it has the expected status, else fail naming the step."""
    if response.status_code != status:
        raise BenchError(
            f"{step}: expected {status}, got {response.status_code}: {response.text[:500]}"
        )
    return response


def _token(payload: dict, step: str) -> Token:
    """Turn a token endpoint answer into a Token."""
    if payload.get("token_type", "").lower() != "bearer" or not payload.get("access_token"):
        raise BenchError(f"{step}: not a bearer token response: {payload}")
    return Token(payload["access_token"], time.monotonic() + float(payload["expires_in"]))


def patient_token(
    base_url: str, *, client_id: str, redirect_uri: str, email: str, password: str
) -> Token:
    """Get a patient access token via authorization code + PKCE S256, as the app would."""
    try:
        payload = login_client.patient_token(
            base_url, client_id=client_id, redirect_uri=redirect_uri, email=email, password=password
        )
    except login_client.LoginFailed as exc:
        raise BenchError(str(exc)) from exc
    return _token(payload, "POST /oauth/token (authorization_code)")


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
    return _token(_expect(response, 200, "POST /oauth/token").json(), "client_credentials")
