"""One-time credentials under real concurrency: an authorization code and a refresh token
are each redeemed by exactly one of several requests released at once (threads, real
commits, one app per thread as in separate processes). On PostgreSQL the transactions truly
overlap (and, past two, the losers race each other to revoke what the winner got: they must
queue, not deadlock); on SQLite writers serialize, so there the losers simply arrive later.

Each race runs a few rounds: a fork needs the requests to interleave, which one round may
miss. Every loser is a replay: what the credential gave is revoked with it."""

from types import SimpleNamespace

import pytest

from consent_api.auth import clients
from server.app import create_app
from server.db import db
from tests.conftest import REDIRECT_URI, PatientLogin, app_config, bearer, wipe_committed
from tests.factories import PatientFactory
from tests.support import dispose, race

ROUNDS = 25
RACERS = 8


@pytest.fixture
def world(app, database_url):
    """A patient and the public patient app, committed; the setup app that made them."""
    setup = create_app(app_config(database_url))
    with setup.app_context():
        patient = PatientFactory()
        app_client = clients.create_app_client(name="Wallet app", redirect_uris=[REDIRECT_URI])
        db.session.commit()
        made = {"email": patient.email, "client_id": app_client.client_id}
    yield setup, made
    wipe_committed(setup)


@pytest.fixture
def racers(database_url):
    """More app instances, one per racing thread."""
    apps = [create_app(app_config(database_url)) for _ in range(RACERS)]
    yield apps
    dispose(*apps)


def _posting(application, form):
    def post():
        response = application.test_client().post("/oauth/token", data=form)
        return response.status_code, response.get_json()

    return post


def _one_winner(answers):
    """Exactly one 200, every other answer invalid_grant; return the winner's tokens."""
    assert sorted(status for status, _ in answers) == [200] + [400] * (len(answers) - 1), answers
    (winner,) = [body for status, body in answers if status == 200]
    assert all(body["error"] == "invalid_grant" for status, body in answers if status == 400)
    return winner


def _refresh_form(made, refresh_token):
    return {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": made["client_id"],
    }


def _assert_revoked(setup, made, tokens):
    http = setup.test_client()
    assert http.get("/v1/me", headers=bearer(tokens["access_token"])).status_code == 401
    again = http.post("/oauth/token", data=_refresh_form(made, tokens["refresh_token"]))
    assert again.status_code == 400
    assert again.json["error"] == "invalid_grant"


def test_concurrent_code_exchanges_one_wins(world, racers):
    setup, made = world
    login = PatientLogin(setup.test_client(), SimpleNamespace(client_id=made["client_id"]))
    for _ in range(ROUNDS):
        code, verifier = login.code(made["email"])
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": made["client_id"],
            "code_verifier": verifier,
        }

        winner = _one_winner(race([_posting(racer, form) for racer in racers]))

        # The code was presented twice: the tokens it gave are revoked (RFC 6749 4.1.2).
        _assert_revoked(setup, made, winner)


def test_concurrent_refreshes_one_wins(world, racers):
    setup, made = world
    login = PatientLogin(setup.test_client(), SimpleNamespace(client_id=made["client_id"]))
    for _ in range(ROUNDS):
        first = login.tokens(made["email"])
        form = _refresh_form(made, first["refresh_token"])

        winner = _one_winner(race([_posting(racer, form) for racer in racers]))

        # The losers presented a spent refresh token: a replay, so the whole family, the
        # winner's new pair included, is revoked (RFC 9700 4.14), as for any replay.
        _assert_revoked(setup, made, winner)
