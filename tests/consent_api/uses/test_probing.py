"""Probing for patients (issue 10, finding 12): an organisation learns nothing from which
patient ids exist, and a patient probed over and over gets one alert with a count, not one
push per probe."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from consent_api.orgs.values import Org
from consent_api.requests.models import ConsentRequest
from consent_api.uses import service as uses
from consent_api.uses.models import DataUse
from notifications.models import Notification, OutboxMessage
from server.db import db, utcnow
from tests.conftest import bearer, ref, report, use_body
from tests.factories import PatientFactory


def _erased(client, patient_token_for):
    patient = PatientFactory()
    assert client.delete("/v1/me", headers=bearer(patient_token_for(patient))).status_code == 204
    return patient.id


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _shape(response) -> tuple:
    body = response.json
    return (
        response.status_code,
        response.mimetype,
        body.get("code"),
        body.get("reason"),
        body.get("detail"),
        sorted(body),
    )


def test_data_uses_answer_unknown_erased_and_unconsented_patients_alike(
    client, hospital_token, patient_token_for
):
    unconsented = PatientFactory().id
    erased = _erased(client, patient_token_for)
    unknown = uuid.uuid4()
    answers = {
        who: report(client, hospital_token, use_body(ref(hospital_token, patient_id)))
        for who, patient_id in [
            ("unconsented", unconsented),
            ("erased", erased),
            ("unknown", unknown),
        ]
    }
    shapes = {who: _shape(answer) for who, answer in answers.items()}
    assert shapes["unconsented"][:4] == (
        403,
        "application/problem+json",
        "use_not_permitted",
        "no_consent",
    )
    assert shapes["erased"] == shapes["unconsented"], shapes
    assert shapes["unknown"] == shapes["unconsented"], shapes
    # Every patient's attempt is on the record (the erased one's pseudonymous, as her past
    # uses are); nothing is written for an id that is no patient; no inbox gets the erased.
    assert _count(DataUse, DataUse.patient_id == unconsented) == 1
    assert _count(DataUse, DataUse.patient_id == erased) == 1
    assert _count(DataUse, DataUse.patient_id == unknown) == 0
    assert _count(Notification, Notification.patient_id == erased) == 0


def test_consent_requests_answer_unknown_erased_and_real_patients_alike(
    client, token_for, patient_token_for
):
    pharma = token_for("pharma")
    real = PatientFactory()
    erased = _erased(client, patient_token_for)
    unknown = uuid.uuid4()
    body = {
        "data_categories": ["lab_results"],
        "purposes": ["HRESCH"],
        "actions": ["use"],
        "justification": "Kidney study",
        "expires_at": (utcnow() + timedelta(days=7)).isoformat(),
    }
    shapes = {}
    for who, patient_id in [("real", real.id), ("erased", erased), ("unknown", unknown)]:
        asked = client.post(
            "/v1/consent-requests",
            json={**body, "patient_ref": ref(pharma, patient_id)},
            headers=bearer(pharma),
        )
        assert asked.status_code == 201, (who, asked.json)
        seen = client.get(f"/v1/consent-requests/{asked.json['id']}", headers=bearer(pharma))
        assert seen.status_code == 200
        shapes[who] = (seen.json["status"], sorted(seen.json))
    assert shapes["erased"] == shapes["real"] == shapes["unknown"]
    # Only the real patient is asked; the others' requests lapse unanswered.
    own = client.get("/v1/me/consent-requests", headers=bearer(patient_token_for(real)))
    assert len(own.json["items"]) == 1
    assert _count(Notification, Notification.patient_id.in_([erased, unknown])) == 0
    assert _count(ConsentRequest) == 3


def test_repeated_refusals_by_one_organisation_make_one_alert_with_a_count(
    client, hospital_token, token_for, patient_token_for
):
    patient = PatientFactory()
    token = patient_token_for(patient)
    device = client.post(
        "/v1/me/devices",
        json={"token": "probe-phone", "platform": "android"},
        headers=bearer(token),
    )
    assert device.status_code == 201, device.json
    for _ in range(30):
        assert (
            report(client, hospital_token, use_body(ref(hospital_token, patient))).status_code
            == 403
        )

    alerts = db.session.scalars(
        select(Notification).where(
            Notification.patient_id == patient.id, Notification.type == "access_refused"
        )
    ).all()
    assert len(alerts) == 1
    assert "30 times" in alerts[0].title, alerts[0].title
    assert alerts[0].high_priority
    assert _count(OutboxMessage, OutboxMessage.notification_id == alerts[0].id) == 1  # one push
    # Every attempt stays in the access history.
    log = client.get("/v1/me/access-log", query_string={"limit": 100}, headers=bearer(token))
    assert [entry["outcome"] for entry in log.json["items"]] == ["refused"] * 30

    # Another organisation's attempt is an alert of its own, pushed.
    pharma = token_for("pharma")
    assert report(client, pharma, use_body(ref(pharma, patient))).status_code == 403
    assert _count(Notification, Notification.type == "access_refused") == 2
    assert _count(OutboxMessage) == 2


def test_a_new_window_starts_a_new_alert(app, client, hospital, hospital_token):
    patient = PatientFactory()
    assert report(client, hospital_token, use_body(ref(hospital_token, patient))).status_code == 403
    later = utcnow() + timedelta(hours=2)
    org = Org(hospital.org.id, hospital.org.type, True, hospital.org.name)
    body = {
        "patient_ref": ref(hospital_token, patient),
        "data_categories": ["lab_results"],
        "purpose": "TREAT",
        "action": "use",
        "record_count": 1,
        "occurred_at": later,
    }
    with pytest.raises(uses.UseNotPermitted):
        uses.report(org, body, now=later)
    assert _count(Notification, Notification.type == "access_refused") == 2


def test_an_erased_patient_is_answered_as_a_living_one_who_revoked(client, hospital_token, grant):
    """Review of issue 11 (finding 3): an organisation that holds a patient's reference
    could tell that she erased her account: her data use said `no_consent` where her check
    said `revoked`, and emergency access was refused where a living patient's is permitted.
    Now both are answered as for a living patient who revoked; nothing reaches her inbox."""
    erased_patient, _, erased_token = grant()
    living, consent, living_token = grant()
    client.post(f"/v1/me/consents/{consent['id']}/revoke", headers=bearer(living_token))
    assert client.delete("/v1/me", headers=bearer(erased_token)).status_code == 204
    before = _count(Notification, Notification.patient_id == erased_patient.id)

    def answers(patient):
        named = ref(hospital_token, patient)
        checked = client.post(
            "/v1/consent-checks",
            json={
                "patient_ref": named,
                "data_category": "lab_results",
                "purpose": "TREAT",
                "action": "use",
            },
            headers=bearer(hospital_token),
        ).json["reason"]
        used = report(client, hospital_token, use_body(named))
        emergency = report(client, hospital_token, use_body(named, purpose="ETREAT"))
        return checked, _shape(used), emergency.status_code, emergency.json.get("reason")

    assert answers(erased_patient) == answers(living)
    assert answers(living)[0] == "revoked"
    assert _count(Notification, Notification.patient_id == erased_patient.id) == before == 0
