"""Review of issue 11 (finding 4): concurrent wrong codes from one organisation went past its
limit (counted only after each failure: 23-25 evaluated against 20). Every redemption now
counts before it is evaluated, so concurrent guesses stay within the limit."""

from consent_api.registration import service as registration
from server.app import create_app
from server.db import db
from tests.conftest import app_config, basic_auth, bearer, wipe_committed
from tests.support import dispose, race

RACERS = 12
LIMIT = 3


def test_concurrent_guesses_by_one_organisation_stay_within_its_limit(app, database_url):
    apps = [
        create_app(app_config(database_url, RATELIMIT_LINK_REDEEM=f"{LIMIT} per minute"))
        for _ in range(RACERS)
    ]
    setup = apps[0]
    with setup.app_context():
        hospital = registration.register_org(name="Guessing Hospital", type="hospital")
        db.session.commit()
        credentials = (hospital.client.client_id, hospital.client_secret)
        db.session.remove()
    token = (
        setup.test_client()
        .post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic_auth(*credentials),
        )
        .json["access_token"]
    )

    def guess(index, application):
        client = application.test_client()
        body = {
            "code": f"ZZZZ-ZZZZ-{index:04d}",
            "identifier": {"system": "urn:oid:1.2", "value": "x"},
        }
        return lambda: (
            client.post("/v1/patient-links", json=body, headers=bearer(token)).status_code
        )

    try:
        statuses = race([guess(i, a) for i, a in enumerate(apps)])
    finally:
        dispose(*apps)
        wipe_committed(setup)
    assert statuses.count(422) <= LIMIT, statuses  # evaluated: a code looked up
    assert statuses.count(429) >= RACERS - LIMIT, statuses
