"""Reporting data uses over HTTP: decided at the time of use, counted, recorded, notified."""

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from consent_api.consents.models import Consent
from consent_api.uses.models import DataUse
from notifications.models import Notification
from server.db import db, utcnow
from tests.conftest import bearer, ref, report, shown, use_body
from tests.factories import OrganisationFactory, PatientFactory


def _uses(patient_id) -> list[DataUse]:
    return db.session.scalars(select(DataUse).where(DataUse.patient_id == patient_id)).all()


def _notices(patient_id) -> list[Notification]:
    return db.session.scalars(
        select(Notification)
        .where(Notification.patient_id == patient_id)
        .order_by(Notification.created_at)
    ).all()


def test_a_permitted_use_is_recorded_names_its_consent_and_tells_the_patient(
    client, hospital_token, grant
):
    patient, consent, _ = grant()
    response = report(
        client, hospital_token, use_body(ref(hospital_token, patient), recipient="Dr Ng")
    )

    assert response.status_code == 201, response.json
    body = response.json
    assert (body["outcome"], body["reason"], body["emergency"]) == ("permitted", "permitted", False)
    assert body["consents"] == [
        {
            "consent_id": shown(hospital_token, consent["id"]),
            "consent_version": 1,
            "data_categories": ["lab_results"],
        }
    ]
    assert body["recipient"] == "Dr Ng"
    (use,) = _uses(patient.id)
    assert str(use.id) == body["id"]
    assert db.session.get(Consent, uuid.UUID(consent["id"])).use_count == 1
    notice = _notices(patient.id)[-1]
    assert notice.type == "data_use"
    assert notice.title == "St Mary's used your lab results"
    assert notice.data["data_use_id"] == body["id"]
    assert not notice.high_priority


def test_a_refused_attempt_is_a_403_with_the_reason_and_stays_on_record_with_an_alert(
    client, hospital_token
):
    patient = PatientFactory()
    response = report(client, hospital_token, use_body(ref(hospital_token, patient)))

    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "use_not_permitted"
    assert response.json["reason"] == "no_consent"
    (use,) = _uses(patient.id)  # committed despite the error status
    assert str(use.id) == response.json["data_use_id"]
    assert (use.outcome, use.reason) == ("refused", "no_consent")
    (alert,) = _notices(patient.id)
    assert alert.type == "access_refused"
    assert alert.title == "St Mary's tried to use your lab results without consent"
    assert alert.high_priority


def test_every_category_must_be_permitted(client, hospital_token, grant):
    patient, _, _ = grant()
    body = use_body(ref(hospital_token, patient), data_categories=["lab_results", "mental_health"])
    response = report(client, hospital_token, body)
    assert response.status_code == 403
    assert response.json["reason"] == "out_of_scope"


def test_uses_count_against_max_uses_exactly(client, hospital_token, grant):
    patient, consent, _ = grant(max_uses=2)
    answers = [
        report(client, hospital_token, use_body(ref(hospital_token, patient))) for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [201, 201, 403]
    assert answers[2].json["reason"] == "max_uses_reached"
    assert db.session.get(Consent, uuid.UUID(consent["id"])).use_count == 2


def test_the_decision_is_made_at_occurred_at_against_the_version_then_in_force(
    client, hospital_token, grant
):
    patient, consent, patient_token = grant()
    before_revoke = utcnow()
    client.post(f"/v1/me/consents/{consent['id']}/revoke", headers=bearer(patient_token))

    earlier = report(
        client, hospital_token, use_body(ref(hospital_token, patient), occurred_at=before_revoke)
    )
    assert earlier.status_code == 201, earlier.json
    assert earlier.json["consents"][0]["consent_version"] == 1

    later = report(client, hospital_token, use_body(ref(hospital_token, patient)))
    assert later.status_code == 403
    assert later.json["reason"] == "revoked"


def test_a_use_before_the_consent_existed_is_refused(client, hospital_token, grant):
    before = utcnow() - timedelta(minutes=5)
    patient, _, _ = grant()
    response = report(
        client, hospital_token, use_body(ref(hospital_token, patient), occurred_at=before)
    )
    assert response.status_code == 403
    assert response.json["reason"] == "no_consent"


def test_an_amended_consent_is_judged_by_the_terms_at_the_time(client, hospital_token, grant):
    patient, consent, patient_token = grant(data_categories=["lab_results", "imaging"])
    before_amend = utcnow()
    client.patch(
        f"/v1/me/consents/{consent['id']}",
        json={"data_categories": ["imaging"]},
        headers=bearer(patient_token),
    )
    assert (
        report(
            client, hospital_token, use_body(ref(hospital_token, patient), occurred_at=before_amend)
        ).json["consents"][0]["consent_version"]
        == 1
    )
    assert (
        report(client, hospital_token, use_body(ref(hospital_token, patient))).json["reason"]
        == "out_of_scope"
    )


def test_records_outside_the_consented_data_period_are_refused(client, hospital_token, grant):
    patient, _, _ = grant(data_period={"start": "2024-01-01", "end": "2024-12-31"})
    inside = {"start": "2024-02-01", "end": "2024-03-01"}
    straddling = {"start": "2024-12-01", "end": "2025-01-15"}
    ok = report(
        client, hospital_token, use_body(ref(hospital_token, patient), data_date_range=inside)
    )
    assert ok.status_code == 201
    assert ok.json["data_date_range"] == inside
    refused = report(
        client, hospital_token, use_body(ref(hospital_token, patient), data_date_range=straddling)
    )
    assert refused.json["reason"] == "outside_data_period"


def test_emergency_treatment_by_a_hospital_needs_no_consent_and_is_flagged(client, hospital_token):
    patient = PatientFactory()
    response = report(
        client, hospital_token, use_body(ref(hospital_token, patient), purpose="ETREAT")
    )
    assert response.status_code == 201, response.json
    assert (response.json["reason"], response.json["emergency"]) == ("emergency_access", True)
    (use,) = _uses(patient.id)
    assert use.emergency
    (alert,) = _notices(patient.id)
    assert alert.type == "emergency_access"
    assert alert.high_priority


def test_emergency_access_under_a_consent_is_still_flagged(client, hospital_token, grant):
    patient, consent, _ = grant(purposes=["ETREAT"])
    response = report(
        client, hospital_token, use_body(ref(hospital_token, patient), purpose="ETREAT")
    )
    assert (response.json["reason"], response.json["emergency"]) == ("permitted", True)
    assert response.json["consents"][0]["consent_id"] == shown(hospital_token, consent["id"])
    assert _notices(patient.id)[-1].type == "emergency_access"


def test_a_patient_who_opted_out_of_emergency_access_is_asked_first(
    client, hospital_token, patient_token_for
):
    patient = PatientFactory()
    token = patient_token_for(patient)
    assert client.get("/v1/me/emergency-access", headers=bearer(token)).json == {"allowed": True}
    answer = client.put("/v1/me/emergency-access", json={"allowed": False}, headers=bearer(token))
    assert answer.json == {"allowed": False}

    response = report(
        client, hospital_token, use_body(ref(hospital_token, patient), purpose="ETREAT")
    )
    assert response.status_code == 403
    assert response.json["reason"] == "no_consent"
    assert _notices(patient.id)[-1].type == "access_refused"


def test_only_hospitals_have_emergency_access(client, token_for):
    patient = PatientFactory()
    pharma = token_for("pharma")
    response = report(client, pharma, use_body(ref(pharma, patient), purpose="ETREAT"))
    assert response.status_code == 403
    assert response.json["reason"] == "no_consent"


def test_bad_reports_name_the_field_and_record_nothing(client, hospital_token, grant):
    patient, _, _ = grant()
    unknown_org = "00000000-0000-0000-0000-000000000001"
    cases = [
        ({"holder_org_id": unknown_org}, "holder_org_id"),
        ({"occurred_at": (utcnow() + timedelta(hours=1)).isoformat()}, "occurred_at"),
        ({"data_categories": ["all"]}, "data_categories"),
        ({"record_count": 0}, "record_count"),
        ({"data_date_range": {"start": "2024-02-01", "end": "2024-01-01"}}, "data_date_range"),
    ]
    for overrides, field in cases:
        response = report(
            client, hospital_token, {**use_body(ref(hospital_token, patient)), **overrides}
        )
        assert response.status_code == 422, (field, response.json)
        assert field in response.json["errors"], response.json
    assert _uses(patient.id) == []


def test_a_holder_organisation_is_recorded(client, hospital_token, grant):
    patient, _, _ = grant()
    holder = OrganisationFactory(name="City Lab")
    response = report(
        client, hospital_token, use_body(ref(hospital_token, patient), holder_org_id=str(holder.id))
    )
    assert response.json["holder_org_id"] == str(holder.id)


def test_patients_cannot_report_uses(client, patient_token, patient):
    response = report(client, patient_token, use_body("a" * 32))
    assert response.status_code == 403
    assert response.json["code"] == "insufficient_scope"


def test_an_erased_patient_is_refused_as_anyone_and_told_nothing(
    client, hospital_token, patient_token_for
):
    patient = PatientFactory()
    token = patient_token_for(patient)
    assert client.delete("/v1/me", headers=bearer(token)).status_code == 204
    response = report(client, hospital_token, use_body(ref(hospital_token, patient)))
    assert response.status_code == 403  # as for any patient without consent: see test_probing
    assert response.json["code"] == "use_not_permitted"
    # The attempt is on the (pseudonymous) record, as any patient's; her inbox is gone.
    assert db.session.scalar(select(func.count()).select_from(DataUse)) == 1
    assert _notices(patient.id) == []


def test_a_use_cannot_be_backdated_beyond_the_reporting_window(client, hospital_token, grant):
    patient, _, _ = grant()
    old = use_body(ref(hospital_token, patient), occurred_at=utcnow() - timedelta(hours=73))
    response = report(client, hospital_token, old)
    assert response.status_code == 422
    assert "occurred_at" in response.json["errors"]


def test_a_report_without_dates_is_not_covered_by_a_consent_limited_to_a_period(
    client, hospital_token, grant
):
    patient, _, _ = grant(data_period={"start": "2020-01-01", "end": "2020-12-31"})
    response = report(client, hospital_token, use_body(ref(hospital_token, patient)))
    assert response.status_code == 403
    assert response.json["reason"] == "outside_data_period"
