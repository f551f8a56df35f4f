"""The patient app's authorization code flow with PKCE, through the real login form."""

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import REDIRECT_URI, TEST_PASSWORD, bearer, csrf_from, pkce_pair


def _redirect_query(response):
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI)
    return parse_qs(urlsplit(location).query)


def test_login_form_then_code_then_tokens_give_the_patient_their_profile(client, login, patient):
    tokens = login.tokens(patient.email)

    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 900
    assert tokens["scope"] == "patient"
    assert tokens["refresh_token"]
    me = client.get("/v1/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert me.json == {
        "id": str(patient.id),
        "email": patient.email,
        "display_name": patient.display_name,
    }


def test_login_form_is_html_with_email_password_and_csrf(client, login):
    _, challenge = pkce_pair()
    page = client.get("/oauth/authorize", query_string=login.authorize_params(challenge))
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    for field in ('name="email"', 'name="password"', 'name="csrf_token"'):
        assert field in page.text


def test_authorize_without_code_challenge_is_refused(client, login):
    params = login.authorize_params("x" * 43, code_challenge=None, code_challenge_method=None)
    query = _redirect_query(client.get("/oauth/authorize", query_string=params))
    assert query["error"] == ["invalid_request"]
    assert query["state"] == ["xyz"]


def test_authorize_with_plain_challenge_method_is_refused(client, login):
    params = login.authorize_params("x" * 43, code_challenge_method="plain")
    query = _redirect_query(client.get("/oauth/authorize", query_string=params))
    assert query["error"] == ["invalid_request"]


def test_authorize_with_missing_challenge_method_is_refused(client, login):
    params = login.authorize_params("x" * 43, code_challenge_method=None)
    query = _redirect_query(client.get("/oauth/authorize", query_string=params))
    assert query["error"] == ["invalid_request"]


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://app.example/callback/extra",
        "https://app.example/callbackx",
        "https://evil.example/callback",
        "https://app.example/callback?next=x",
    ],
)
def test_redirect_uri_must_match_exactly_and_is_never_redirected_to(client, login, redirect_uri):
    _, challenge = pkce_pair()
    params = login.authorize_params(challenge, redirect_uri=redirect_uri)
    response = client.get("/oauth/authorize", query_string=params)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "invalid_authorization_request"
    assert "Location" not in response.headers


def test_unknown_client_gets_a_problem_not_a_redirect(client, login):
    _, challenge = pkce_pair()
    params = login.authorize_params(challenge, client_id="nope")
    response = client.get("/oauth/authorize", query_string=params)
    assert response.status_code == 400
    assert response.json["oauth_error"] == "invalid_client"


def test_requesting_an_organisation_scope_is_invalid_scope(client, login):
    _, challenge = pkce_pair()
    params = login.authorize_params(challenge, scope="patient consent.check")
    query = _redirect_query(client.get("/oauth/authorize", query_string=params))
    assert query["error"] == ["invalid_scope"]


def test_login_post_without_csrf_token_is_refused(client, login, patient):
    _, challenge = pkce_pair()
    params = login.authorize_params(challenge)
    response = client.post(
        "/oauth/authorize",
        query_string=params,
        data={"email": patient.email, "password": "correct horse battery staple"},
    )
    assert response.status_code == 400
    assert response.json["code"] == "csrf_failed"


def test_wrong_password_shows_the_form_again_without_a_code(client, login, patient):
    _, challenge = pkce_pair()
    params = login.authorize_params(challenge)
    form = client.get("/oauth/authorize", query_string=params)
    response = client.post(
        "/oauth/authorize",
        query_string=params,
        data={"email": patient.email, "password": "wrong", "csrf_token": csrf_from(form.text)},
    )
    assert response.status_code == 200
    assert "Wrong e-mail or password" in response.text
    assert "Location" not in response.headers


def _exchange(client, login, code, verifier, **extra):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": login.app_client.client_id,
        "code_verifier": verifier,
    }
    data.update(extra)
    return client.post("/oauth/token", data={k: v for k, v in data.items() if v is not None})


def test_wrong_code_verifier_is_invalid_grant(client, login, patient):
    code, _ = login.code(patient.email)
    other_verifier, _ = pkce_pair()
    response = _exchange(client, login, code, other_verifier)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_grant"


def test_missing_code_verifier_is_refused(client, login, patient):
    code, _ = login.code(patient.email)
    response = _exchange(client, login, code, None)
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"


def test_a_code_works_only_once(client, login, patient):
    code, verifier = login.code(patient.email)
    assert _exchange(client, login, code, verifier).status_code == 200
    again = _exchange(client, login, code, verifier)
    assert again.status_code == 400
    assert again.json["error"] == "invalid_grant"


def test_code_exchange_with_a_different_redirect_uri_fails(client, login, patient):
    code, verifier = login.code(patient.email)
    response = _exchange(client, login, code, verifier, redirect_uri="https://app.example/other")
    assert response.status_code == 400
    assert response.json["error"] == "invalid_grant"


def test_a_replayed_code_revokes_the_tokens_issued_from_it(client, login, patient):
    # RFC 6749 4.1.2: a code used twice was intercepted; what it gave must stop working.
    code, verifier = login.code(patient.email)
    tokens = _exchange(client, login, code, verifier).json

    replay = _exchange(client, login, code, verifier)

    assert replay.status_code == 400
    assert replay.json["error"] == "invalid_grant"
    assert client.get("/v1/me", headers=bearer(tokens["access_token"])).status_code == 401
    refreshed = client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": login.app_client.client_id,
        },
    )
    assert refreshed.json["error"] == "invalid_grant"


def test_a_replayed_code_leaves_other_logins_alone(client, login, patient):
    other = login.tokens(patient.email)
    code, verifier = login.code(patient.email)
    _exchange(client, login, code, verifier)

    _exchange(client, login, code, verifier)

    assert client.get("/v1/me", headers=bearer(other["access_token"])).status_code == 200


def test_a_code_with_the_wrong_verifier_stays_redeemable(client, login, patient):
    # A failed exchange spends nothing: the app that holds the verifier still gets its tokens.
    code, verifier = login.code(patient.email)
    wrong, _ = pkce_pair()
    assert _exchange(client, login, code, wrong).json["error"] == "invalid_grant"
    assert _exchange(client, login, code, verifier).status_code == 200


def _app_params(registered: str, presented: str, challenge: str) -> dict[str, str]:
    """Authorization parameters of a new app registered with one redirect URI."""
    from consent_api.auth import clients

    app = clients.create_app_client(name="Desktop wallet", redirect_uris=[registered])
    return {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": presented,
        "scope": "patient",
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }


@pytest.mark.parametrize(
    ("registered", "presented"),
    [
        ("http://127.0.0.1/callback", "http://127.0.0.1:51234/callback"),
        ("http://127.0.0.1:8765/callback", "http://127.0.0.1:40001/callback"),
        ("http://[::1]/cb", "http://[::1]:6000/cb"),
    ],
)
def test_a_loopback_redirect_uri_may_come_back_on_any_port(
    client, session, patient, registered, presented
):
    """RFC 8252 7.3: a native app listens on an ephemeral port it learns only at run time."""
    verifier, challenge = pkce_pair()
    params = _app_params(registered, presented, challenge)
    form = client.get("/oauth/authorize", query_string=params)
    assert form.status_code == 200
    answer = client.post(
        "/oauth/authorize",
        query_string=params,
        data={
            "email": patient.email,
            "password": TEST_PASSWORD,
            "csrf_token": csrf_from(form.text),
        },
    )
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith(presented + "?")
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    tokens = client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": presented,
            "client_id": params["client_id"],
            "code_verifier": verifier,
        },
    )
    assert tokens.status_code == 200


@pytest.mark.parametrize(
    "presented",
    [
        "http://127.0.0.1:51234/other",  # another path
        "http://127.0.0.1:51234/callback?x=1",  # a query the registration has not
        "http://localhost:51234/callback",  # another host, even a loopback one
        "https://127.0.0.1:51234/callback",  # another scheme
        "http://127.0.0.1.evil.example:51234/callback",
        "http://user@127.0.0.1:51234/callback",
        "http://127.0.0.1:0/callback",  # review finding: port 0 receives nothing
    ],
)
def test_only_the_port_of_a_loopback_redirect_uri_may_differ(client, session, presented):
    params = _app_params("http://127.0.0.1/callback", presented, pkce_pair()[1])
    answer = client.get("/oauth/authorize", query_string=params)
    assert answer.status_code == 400
    assert "Location" not in answer.headers


def test_an_https_redirect_uri_keeps_its_port(client, session):
    registered, presented = (
        "https://wallet.example/callback",
        "https://wallet.example:8443/callback",
    )
    params = _app_params(registered, presented, pkce_pair()[1])
    assert client.get("/oauth/authorize", query_string=params).status_code == 400
