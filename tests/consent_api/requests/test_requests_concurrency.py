"""A consent request is answered once: concurrent approvals (a double tap, two devices) make
one consent; the others are told the request is no longer pending."""

from datetime import timedelta

from sqlalchemy import func, select

from consent_api.auth.clients import create_app_client
from consent_api.consents.models import Consent
from consent_api.links import refs
from consent_api.registration import service as registrations
from consent_api.requests import service as requests
from consent_api.requests.schemas import RequestIn
from server.app import create_app
from server.db import db, utcnow
from tests.conftest import REDIRECT_URI, app_config, wipe_committed
from tests.factories import PatientFactory
from tests.support import dispose, issue_patient_token, race

RACERS = 6


def test_concurrent_approvals_of_one_request_make_one_consent(app, database_url):
    setup = create_app(app_config(database_url))
    with setup.app_context():
        pharma = registrations.register_org(name="Acme Pharma", type="pharma")
        patient = PatientFactory()
        body = RequestIn().load(
            {
                "patient_ref": refs.encode(pharma.org.id, patient.id),
                "data_categories": ["lab_results"],
                "purposes": ["HRESCH"],
                "actions": ["use"],
                "justification": "Kidney study",
                "expires_at": (utcnow() + timedelta(days=7)).isoformat(),
            }
        )
        asked = requests.create(pharma.org, body, now=utcnow())
        token = issue_patient_token(
            patient, create_app_client(name="Wallet", redirect_uris=[REDIRECT_URI])
        )
        path = f"/v1/me/consent-requests/{asked.id}/approve"
        db.session.commit()
        db.session.remove()
    apps = [create_app(app_config(database_url)) for _ in range(RACERS)]

    def approve(application):
        def run():
            answer = application.test_client().post(
                path, headers={"Authorization": f"Bearer {token}"}
            )
            return answer.status_code, answer.get_json()

        return run

    try:
        answers = race([approve(a) for a in apps])
        assert sorted(status for status, _ in answers) == [201] + [409] * (RACERS - 1), answers
        assert {body["code"] for status, body in answers if status == 409} == {
            "request_not_pending"
        }
        with setup.app_context():
            consents = db.session.scalar(select(func.count()).select_from(Consent))
            db.session.remove()
        assert consents == 1
    finally:
        dispose(*apps)
        wipe_committed(setup)
