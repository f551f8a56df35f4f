"""How clients authenticate at the token and revocation endpoints: credentials no client
could hold, or can even be decoded, are a failed authentication (RFC 6749 5.2), never a
500; and a request authenticates one way only (RFC 6749 2.3)."""

import base64
import json
import time
import uuid

import pytest

from tests.conftest import basic_auth

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ENDPOINTS = {
    "/oauth/token": {"grant_type": "client_credentials"},
    "/oauth/revoke": {"token": "anything"},
}
# A client id no client has, which PostgreSQL text cannot even hold.
NUL_ID = "a\x00b"


def _basic(raw: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def _unsigned_assertion(client_id: str) -> str:
    """An assertion naming `client_id`; unsigned, as the client is looked up before any
    signature is checked."""
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": "http://localhost/oauth/token",
        "exp": now + 60,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    header, payload = (
        base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
        for part in ({"alg": "RS256"}, claims)
    )
    return f"{header}.{payload}.c2lnbmF0dXJl"


def _refused_as_invalid_client(response, status=401):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.json["error"] == "invalid_client"
    assert "access_token" not in response.json


@pytest.mark.parametrize("path", ENDPOINTS)
def test_basic_credentials_with_a_nul_in_the_client_id_are_invalid_client(client, path):
    response = client.post(path, data=ENDPOINTS[path], headers=basic_auth(NUL_ID, "secret"))
    _refused_as_invalid_client(response)


def test_an_assertion_naming_a_client_id_with_a_nul_is_invalid_client(client):
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": _unsigned_assertion(NUL_ID),
        },
    )
    _refused_as_invalid_client(response, status=400)


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Basic //46eA==", id="not-utf8"),  # b"\xff\xfe:x"
        pytest.param("Basic \xc3\xa9\xff", id="raw-bytes"),
    ],
)
def test_undecodable_basic_credentials_are_invalid_client(client, path, authorization):
    response = client.post(path, data=ENDPOINTS[path], headers={"Authorization": authorization})
    _refused_as_invalid_client(response)
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_basic_credentials_and_an_assertion_together_are_refused(client, org_credentials):
    # Valid Basic credentials: without the rule, the assertion beside them is simply ignored.
    registration = org_credentials("hospital")
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": _unsigned_assertion(registration.client.client_id),
        },
        headers=basic_auth(registration.client.client_id, registration.client_secret),
    )
    assert response.status_code == 400, response.json
    assert response.json["error"] == "invalid_request"
    assert "access_token" not in response.json


def test_basic_credentials_and_a_posted_secret_together_are_refused(client, org_credentials):
    registration = org_credentials("hospital")
    response = client.post(
        "/oauth/revoke",
        data={"token": "anything", "client_secret": registration.client_secret},
        headers=basic_auth(registration.client.client_id, registration.client_secret),
    )
    assert response.status_code == 400, response.json
    assert response.json["error"] == "invalid_request"
