"""A consent request is answered once: concurrent approvals (a double tap, two devices) make
one consent; the others are told the request is no longer pending."""

from datetime import timedelta

from sqlalchemy import func, select

from consent_api.auth.clients import create_app_client
from consent_api.consents.models import Consent
from consent_api.links import refs
from consent_api.registration import service as registrations
from consent_api.requests import service as requests
from consent_api.requests.models import ConsentRequest
from consent_api.requests.schemas import RequestIn
from server.app import create_app
from server.db import db, utcnow
from tests.conftest import REDIRECT_URI, app_config, basic_auth, wipe_committed
from tests.factories import PatientFactory
from tests.support import dispose, issue_patient_token, race

RACERS = 6


def _kidney_study(pharma, patient) -> dict:
    """A request's body: the pharma company asks the patient for a kidney study."""
    return {
        "patient_ref": refs.encode(pharma.org.id, patient.id),
        "data_categories": ["lab_results"],
        "purposes": ["HRESCH"],
        "actions": ["use"],
        "justification": "Kidney study",
        "expires_at": (utcnow() + timedelta(days=7)).isoformat(),
    }


def _racing_posts(database_url, path, token, body=None):
    """POST to `path` from RACERS apps (each its own connection pool) at once: the answers."""
    apps = [create_app(app_config(database_url)) for _ in range(RACERS)]

    def post(application):
        def run():
            answer = application.test_client().post(
                path, json=body, headers={"Authorization": f"Bearer {token}"}
            )
            return answer.status_code, answer.get_json()

        return run

    try:
        return race([post(a) for a in apps])
    finally:
        dispose(*apps)


def test_concurrent_approvals_of_one_request_make_one_consent(app, database_url):
    setup = create_app(app_config(database_url))
    with setup.app_context():
        pharma = registrations.register_org(name="Acme Pharma", type="pharma")
        patient = PatientFactory()
        body = RequestIn().load(_kidney_study(pharma, patient))
        asked = requests.create(pharma.org, body, now=utcnow())
        token = issue_patient_token(
            patient, create_app_client(name="Wallet", redirect_uris=[REDIRECT_URI])
        )
        path = f"/v1/me/consent-requests/{asked.id}/approve"
        db.session.commit()
        db.session.remove()
    try:
        answers = _racing_posts(database_url, path, token)
        assert sorted(status for status, _ in answers) == [201] + [409] * (RACERS - 1), answers
        assert {body["code"] for status, body in answers if status == 409} == {
            "request_not_pending"
        }
        with setup.app_context():
            consents = db.session.scalar(select(func.count()).select_from(Consent))
            db.session.remove()
        assert consents == 1
    finally:
        wipe_committed(setup)


def test_concurrent_duplicate_requests_file_one_and_name_it_to_the_others(app, database_url):
    setup = create_app(app_config(database_url))
    with setup.app_context():
        pharma = registrations.register_org(name="Acme Pharma", type="pharma")
        patient = PatientFactory()
        body = _kidney_study(pharma, patient)
        credentials = basic_auth(pharma.client.client_id, pharma.client_secret)
        db.session.commit()
        db.session.remove()
    token = (
        setup.test_client()
        .post("/oauth/token", data={"grant_type": "client_credentials"}, headers=credentials)
        .get_json()["access_token"]
    )
    try:
        answers = _racing_posts(database_url, "/v1/consent-requests", token, body)
        assert sorted(status for status, _ in answers) == [201] + [409] * (RACERS - 1), answers
        (filed,) = [body["id"] for status, body in answers if status == 201]
        assert {
            (body["code"], body["pending_request_id"]) for status, body in answers if status == 409
        } == {("duplicate_request", filed)}
        with setup.app_context():
            filed_rows = db.session.scalar(select(func.count()).select_from(ConsentRequest))
            db.session.remove()
        assert filed_rows == 1
    finally:
        wipe_committed(setup)
