"""The login page a patient sees (issue 13): a way to say no, the access asked for in words,
a page for an expired form, and the browser's language where we have it."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import REDIRECT_URI, TEST_PASSWORD, csrf_from, pkce_pair

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def _form(client, login, **headers):
    params = login.authorize_params(pkce_pair()[1])
    page = client.get("/oauth/authorize", query_string=params, headers=headers)
    assert page.status_code == 200
    return params, page


def test_denying_sends_access_denied_back_to_the_app_without_a_code(client, login):
    params, page = _form(client, login)
    answer = client.post(
        "/oauth/authorize",
        query_string=params,
        data={"decision": "deny", "csrf_token": csrf_from(page.text)},
    )
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    query = parse_qs(location.query)
    assert query["error"] == ["access_denied"]
    assert query["state"] == ["xyz"]
    assert "code" not in query


def test_denying_needs_the_form_we_gave(client, login):
    params, _ = _form(client, login)
    answer = client.post(
        "/oauth/authorize", query_string=params, data={"decision": "deny", "csrf_token": "forged"}
    )
    assert answer.status_code == 400
    assert "Location" not in answer.headers


def test_the_page_says_in_words_what_the_app_may_do(client, login):
    _, page = _form(client, login)
    assert "see and manage your consents" in page.text
    assert 'value="deny"' in page.text


@pytest.mark.parametrize(
    ("accept_language", "lang", "sign_in"),
    [
        ("de-DE,de;q=0.9,en;q=0.5", "de", "Anmelden und erlauben"),
        ("fr-FR,fr;q=0.9", "en", "Sign in and allow"),  # no French yet: English
        ("en-GB", "en", "Sign in and allow"),
    ],
)
def test_the_page_speaks_the_browsers_language_where_we_have_it(
    client, login, accept_language, lang, sign_in
):
    _, page = _form(client, login, **{"Accept-Language": accept_language})
    assert f'<html lang="{lang}">' in page.text
    assert sign_in in page.text
    assert page.headers["Content-Language"] == lang
    assert "Accept-Language" in page.headers.get("Vary", "")


def test_a_wrong_password_is_said_in_the_same_language(client, login, patient):
    german = {"Accept-Language": "de"}
    params, page = _form(client, login, **german)
    answer = client.post(
        "/oauth/authorize",
        query_string=params,
        headers=german,
        data={"email": patient.email, "password": "wrong", "csrf_token": csrf_from(page.text)},
    )
    assert answer.status_code == 200
    assert "Falsche E-Mail-Adresse oder falsches Passwort." in answer.text


def test_an_expired_form_in_a_browser_is_a_page_with_a_fresh_form(client, login, patient):
    params, _ = _form(client, login)
    answer = client.post(
        "/oauth/authorize",
        query_string=params,
        headers=BROWSER,
        data={"email": patient.email, "password": TEST_PASSWORD, "csrf_token": "stale"},
    )
    assert answer.status_code == 400
    assert answer.mimetype == "text/html"
    assert "expired" in answer.text
    retry = client.post(  # the fresh form on that page works
        "/oauth/authorize",
        query_string=params,
        data={
            "email": patient.email,
            "password": TEST_PASSWORD,
            "csrf_token": csrf_from(answer.text),
        },
    )
    assert retry.status_code == 302
    assert "code" in parse_qs(urlsplit(retry.headers["Location"]).query)


def test_the_apps_name_is_shown_as_text_never_as_markup(client, session):
    from consent_api.auth import clients

    app = clients.create_app_client(
        name='<img src=x onerror="alert(1)">', redirect_uris=[REDIRECT_URI]
    )
    params = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "patient",
        "state": "s",
        "code_challenge": pkce_pair()[1],
        "code_challenge_method": "S256",
    }
    page = client.get("/oauth/authorize", query_string=params)
    assert "<img" not in page.text
    assert "&lt;img src=x" in page.text


@pytest.mark.parametrize("decision", ["maybe", "ALLOW", ""])
def test_only_allow_or_deny_is_a_decision(client, login, patient, decision):
    """Review finding: any other value signed the patient in and issued a code."""
    params, page = _form(client, login)
    answer = client.post(
        "/oauth/authorize",
        query_string=params,
        data={
            "decision": decision,
            "email": patient.email,
            "password": TEST_PASSWORD,
            "csrf_token": csrf_from(page.text),
        },
    )
    assert answer.status_code == 400
    assert answer.json["code"] == "invalid_decision"
    assert "Location" not in answer.headers


@pytest.mark.parametrize("decisions", [["allow", "deny"], ["deny", "allow"]])
def test_two_decisions_are_no_decision(client, login, patient, decisions):
    """Second review: with two values the first won, so 'allow&deny' signed in."""
    params, page = _form(client, login)
    data = {
        "email": patient.email,
        "password": TEST_PASSWORD,
        "csrf_token": csrf_from(page.text),
        "decision": decisions,
    }
    answer = client.post("/oauth/authorize", query_string=params, data=data)
    assert answer.status_code == 400
    assert answer.json["code"] == "invalid_decision"
