"""Idempotency-Key on POST /v1/data-uses: a retry answers the original, writing nothing."""

import uuid

from sqlalchemy import func, select

from consent_api.consents.models import Consent
from consent_api.uses.models import DataUse
from notifications.models import Notification
from server.db import db
from tests.conftest import bearer, ref, report, use_body
from tests.factories import PatientFactory


def _count(model, **where) -> int:
    statement = select(func.count()).select_from(model)
    for name, value in where.items():
        statement = statement.where(getattr(model, name) == value)
    return db.session.scalar(statement)


def test_the_same_key_and_body_answer_the_original_and_write_nothing(client, hospital_token, grant):
    patient, consent, _ = grant()
    body = use_body(ref(hospital_token, patient))
    first = report(client, hospital_token, body, key="use-0001")
    again = report(client, hospital_token, body, key="use-0001")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _count(DataUse, patient_id=patient.id) == 1
    assert db.session.get(Consent, uuid.UUID(consent["id"])).use_count == 1
    assert _count(Notification, patient_id=patient.id) == 1


def test_key_order_and_spacing_do_not_make_a_different_body(client, hospital_token, grant):
    patient, _, _ = grant()
    body = use_body(ref(hospital_token, patient))
    report(client, hospital_token, body, key="same")
    reordered = dict(reversed(list(body.items())))
    assert report(client, hospital_token, reordered, key="same").status_code == 201
    assert _count(DataUse, patient_id=patient.id) == 1


def test_a_refusal_replays_as_the_same_403_without_a_second_alert(client, hospital_token):
    patient = PatientFactory()
    body = use_body(ref(hospital_token, patient))
    first = report(client, hospital_token, body, key="refused-1")
    again = report(client, hospital_token, body, key="refused-1")
    assert (first.status_code, again.status_code) == (403, 403)
    assert again.mimetype == "application/problem+json"
    assert again.json["data_use_id"] == first.json["data_use_id"]
    assert _count(DataUse, patient_id=patient.id) == 1
    assert _count(Notification, patient_id=patient.id) == 1


def test_the_same_key_with_another_body_is_a_422_and_changes_nothing(client, hospital_token, grant):
    patient, _, _ = grant()
    report(client, hospital_token, use_body(ref(hospital_token, patient)), key="k-1")
    response = report(
        client, hospital_token, use_body(ref(hospital_token, patient), record_count=9), key="k-1"
    )
    assert response.status_code == 422
    assert response.json["code"] == "idempotency_key_reused"
    assert "Idempotency-Key" in response.json["errors"]
    assert _count(DataUse, patient_id=patient.id) == 1


def test_keys_belong_to_one_organisation(client, hospital_token, token_for, grant):
    patient, _, _ = grant()
    body = use_body(ref(hospital_token, patient))
    report(client, hospital_token, body, key="shared")
    other_hospital = token_for("hospital")
    other_body = {**body, "patient_ref": ref(other_hospital, patient)}
    other = report(client, other_hospital, other_body, key="shared")
    assert other.status_code == 201
    assert "Idempotent-Replayed" not in other.headers
    assert _count(DataUse, patient_id=patient.id) == 2


def test_a_missing_or_malformed_key_is_refused_naming_the_header(client, hospital_token, grant):
    patient, _, _ = grant()
    missing = client.post(
        "/v1/data-uses", json=use_body(ref(hospital_token, patient)), headers=bearer(hospital_token)
    )
    assert missing.status_code == 400
    assert missing.json["code"] == "idempotency_key_missing"
    assert "Idempotency-Key" in missing.json["errors"]
    spaced = report(client, hospital_token, use_body(ref(hospital_token, patient)), key="has space")
    assert spaced.json["code"] == "idempotency_key_invalid"
    assert _count(DataUse, patient_id=patient.id) == 0


def test_a_rejected_body_does_not_use_up_the_key(client, hospital_token, grant):
    patient, _, _ = grant()
    bad = report(
        client,
        hospital_token,
        use_body(ref(hospital_token, patient), record_count=0),
        key="retry-me",
    )
    assert bad.status_code == 422
    good = report(client, hospital_token, use_body(ref(hospital_token, patient)), key="retry-me")
    assert good.status_code == 201
