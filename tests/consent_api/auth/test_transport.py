"""OAuth needs https. Over plain http (loopback aside) the token and revocation endpoints
answer an RFC 6749 error, and behind a trusted reverse proxy that terminates TLS they
believe its X-Forwarded-Proto."""

import pytest

from server.app import create_app
from tests.conftest import CommittingClient, app_config, basic_auth

PLAIN_HTTP = "http://api.example"  # neither https nor a loopback address


@pytest.fixture
def registration(org_credentials):
    return org_credentials("hospital")


def _token(http, registration, **kwargs):
    return http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={
            **basic_auth(registration.client.client_id, registration.client_secret),
            **kwargs.pop("headers", {}),
        },
        **kwargs,
    )


def _assert_insecure_transport_refused(response):
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert response.json["error"] == "invalid_request"
    assert "https" in response.json["error_description"]
    assert response.headers["Cache-Control"] == "no-store"


def test_token_request_over_plain_http_is_invalid_request_not_500(client, registration):
    _assert_insecure_transport_refused(_token(client, registration, base_url=PLAIN_HTTP))


def test_revocation_over_plain_http_is_invalid_request_not_500(client, registration):
    response = client.post(
        "/oauth/revoke",
        data={"token": "anything"},
        headers=basic_auth(registration.client.client_id, registration.client_secret),
        base_url=PLAIN_HTTP,
    )
    _assert_insecure_transport_refused(response)


def test_forwarded_proto_is_ignored_without_trusted_proxies(client, registration):
    response = _token(
        client, registration, base_url=PLAIN_HTTP, headers={"X-Forwarded-Proto": "https"}
    )
    _assert_insecure_transport_refused(response)


@pytest.fixture
def behind_proxy(app, database_url, session):
    """The app as deployed behind one reverse proxy that terminates TLS (TRUSTED_PROXIES=1)."""
    proxied = create_app(app_config(database_url, TRUSTED_PROXIES=1))
    proxied.test_client_class = CommittingClient
    return proxied.test_client()


def test_token_endpoint_works_behind_a_trusted_https_proxy(behind_proxy, registration):
    # The proxy reached us over http on an internal address and says the client used https.
    response = _token(
        behind_proxy,
        registration,
        base_url="http://10.0.0.7:8000",
        headers={
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "api.example",
            "X-Forwarded-For": "203.0.113.9",
        },
    )
    assert response.status_code == 200, response.json
    assert response.json["access_token"]


def test_a_trusted_proxy_forwarding_plain_http_is_still_refused(behind_proxy, registration):
    response = _token(
        behind_proxy,
        registration,
        base_url="http://10.0.0.7:8000",
        headers={"X-Forwarded-Proto": "http", "X-Forwarded-Host": "api.example"},
    )
    _assert_insecure_transport_refused(response)
