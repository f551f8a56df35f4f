"""A notice for everything that matters, written with the event: requests, reminders,
expiry and revocation."""

import uuid
from datetime import timedelta

from sqlalchemy import select

from consent_api.consents.models import Consent
from consent_api.requests.models import ConsentRequest
from notifications.models import Notification
from server.db import db, utcnow
from tests.conftest import bearer, ref, report, use_body
from tests.factories import PatientFactory
from tests.support import run_job_now


def _types(patient_id) -> list[str]:
    return db.session.scalars(
        select(Notification.type)
        .where(Notification.patient_id == patient_id)
        .order_by(Notification.created_at)
    ).all()


def _last(patient_id) -> Notification:
    return db.session.scalars(
        select(Notification)
        .where(Notification.patient_id == patient_id)
        .order_by(Notification.created_at.desc())
    ).first()


def _grant(client, token, *, category="lab_results", **extra) -> dict:
    body = {
        "grantee": {"org_type": "hospital"},
        "data_categories": [category],
        "purposes": ["TREAT"],
        "actions": ["use"],
        **extra,
    }
    response = client.post("/v1/me/consents", json=body, headers=bearer(token))
    assert response.status_code == 201, response.json
    return response.json


def _ask(client, token, patient, *, expires_in=timedelta(days=10), **more):
    body = {
        "patient_ref": ref(token, patient),
        "data_categories": ["lab_results"],
        "purposes": ["HRESCH"],
        "actions": ["use"],
        "justification": "A study of kidney function.",
        "expires_at": (utcnow() + expires_in).isoformat(),
        **more,
    }
    response = client.post("/v1/consent-requests", json=body, headers=bearer(token))
    assert response.status_code == 201, response.json
    return response.json


def test_a_consent_request_reaches_the_patient(client, token_for, org_credentials):
    research = org_credentials("research", name="Kidney Institute")
    patient = PatientFactory()
    request = _ask(client, token_for(registration=research), patient)
    notice = _last(patient.id)
    assert notice.type == "consent_request_received"
    assert notice.title == "Kidney Institute asks for your consent"
    assert notice.data["request_id"] == request["id"]
    assert notice.body.startswith(request["summary"] + " Answer by ")
    assert ".." not in notice.body


def test_a_pending_request_is_reminded_once_before_it_lapses(client, token_for):
    token = token_for("research")
    patient = PatientFactory()
    request = _ask(client, token, patient, expires_in=timedelta(days=3))
    # Another question (one pending request per scope): a clinical trial, not the study.
    short_lived = _ask(client, token, patient, expires_in=timedelta(hours=2), purposes=["CLINTRL"])
    row = db.session.get(ConsentRequest, uuid.UUID(request["id"]))
    row.created_at = utcnow() - timedelta(days=3)  # asked three days ago,
    row.expires_at = utcnow() + timedelta(hours=20)  # lapsing within the 24-hour window

    assert run_job_now("remind-expiring-requests") == 2
    assert run_job_now("remind-expiring-requests") == 0
    reminders = [n for n in _types(patient.id) if n == "consent_request_expiring"]
    assert reminders == ["consent_request_expiring"]  # not for the two-hour request
    assert _last(patient.id).data["request_id"] == request["id"]
    assert db.session.get(ConsentRequest, uuid.UUID(short_lived["id"])).reminded_at is not None


def test_a_consent_ending_within_seven_days_is_reminded_once_per_end_date(
    client, patient, patient_token
):
    ends = utcnow() + timedelta(days=5)
    consent = _grant(client, patient_token, valid_until=ends.isoformat())
    far = _grant(
        client,
        patient_token,
        category="imaging",
        valid_until=(utcnow() + timedelta(days=30)).isoformat(),
    )
    assert run_job_now("remind-expiring-consents") == 1
    assert run_job_now("remind-expiring-consents") == 0
    notice = _last(patient.id)
    assert (notice.type, notice.data["consent_id"]) == ("consent_expiring", consent["id"])
    assert notice.title == "Your consent for every hospital ends soon"

    # Extended, then shortened again: a new end date earns a new reminder.
    row = db.session.get(Consent, uuid.UUID(consent["id"]))
    row.valid_until = ends + timedelta(days=1)
    assert run_job_now("remind-expiring-consents") == 1
    assert db.session.get(Consent, uuid.UUID(far["id"])).expiry_reminded_for is None


def test_an_expired_consent_is_announced(client, patient, patient_token):
    consent = _grant(client, patient_token, valid_until=(utcnow() + timedelta(days=1)).isoformat())
    db.session.get(Consent, uuid.UUID(consent["id"])).valid_until = utcnow() - timedelta(seconds=1)
    assert run_job_now("expire-consents") == 1
    notice = _last(patient.id)
    assert (notice.type, notice.data["consent_id"]) == ("consent_expired", consent["id"])


def _lab_results_for(org) -> dict:
    """A consent for one organisation: its lab results, for treatment."""
    return {
        "grantee": {"org_id": str(org.org.id)},
        "data_categories": ["lab_results"],
        "purposes": ["TREAT"],
        "actions": ["use"],
    }


def test_revoking_is_confirmed_with_one_notice(client, patient, patient_token, org_credentials):
    clinic = org_credentials("hospital", name="North Clinic")
    grant = _lab_results_for(clinic)
    first = client.post("/v1/me/consents", json=grant, headers=bearer(patient_token)).json
    client.post("/v1/me/consents", json=grant, headers=bearer(patient_token))
    client.post(f"/v1/me/consents/{first['id']}/revoke", headers=bearer(patient_token))
    assert _last(patient.id).title == "Consent withdrawn: North Clinic"
    client.post(f"/v1/me/consents/{first['id']}/revoke", headers=bearer(patient_token))
    assert _types(patient.id).count("consent_revoked") == 1  # revoking again changes nothing

    client.post(
        "/v1/me/consents/revoke-all",
        json={"org_id": str(clinic.org.id)},
        headers=bearer(patient_token),
    )
    assert _types(patient.id).count("consent_revoked") == 2


def test_a_long_organisation_name_never_overflows_a_title(client, org_credentials, token_for):
    org = org_credentials("hospital", name="H" * 200)
    patient = PatientFactory()
    categories = ["lab_results", "imaging", "medications", "allergies", "diagnoses"]
    token = token_for(registration=org)
    response = report(client, token, use_body(ref(org, patient), data_categories=categories))
    assert response.status_code == 403
    (notice,) = db.session.scalars(select(Notification)).all()
    assert len(notice.title) == 200
    assert notice.title.endswith("…")


def test_a_revocation_notice_names_its_consent_as_the_contract_says(
    client, patient, patient_token, org_credentials
):
    """Issue 13: the notice's data held `consent_ids` only, where the contract says
    `consent_id`; a revoke-all names every consent too."""
    clinic = org_credentials("hospital", name="North Clinic")
    grant = _lab_results_for(clinic)
    first = client.post("/v1/me/consents", json=grant, headers=bearer(patient_token)).json
    client.post(f"/v1/me/consents/{first['id']}/revoke", headers=bearer(patient_token))
    notice = _last(patient.id)
    assert notice.data["consent_id"] == first["id"]
    assert notice.data["consent_ids"] == first["id"]
