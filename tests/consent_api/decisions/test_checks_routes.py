"""The decision API over HTTP: single and batch checks, with real organisation tokens."""

import uuid

import pytest
from sqlalchemy import event

from server.db import db
from tests.conftest import bearer, ref, shown

CHECK = {"data_category": "lab_results", "purpose": "TREAT", "action": "use"}
NOBODY = uuid.UUID(int=0)  # an id that is no patient's


def check(client, token, patient, **overrides):
    """One check about a patient (or a patient id), named by the caller's reference."""
    body = {"patient_ref": ref(token, patient), **CHECK, **overrides}
    return client.post("/v1/consent-checks", json=body, headers=bearer(token))


def test_check_permits_under_a_consent_and_names_it(client, hospital_token, grant):
    patient, consent, _ = grant()
    response = check(client, hospital_token, patient.id)
    assert response.status_code == 200
    assert response.json == {
        "decision": "permit",
        "reason": "permitted",
        "consent_id": shown(hospital_token, consent["id"]),
        "consent_version": 1,
    }


def test_check_for_an_unknown_patient_is_a_plain_deny(client, hospital_token):
    response = check(client, hospital_token, NOBODY)
    assert response.json["decision"] == "deny"
    assert response.json["reason"] == "no_consent"


def test_revoked_consent_denies_the_next_check(client, hospital_token, grant):
    patient, consent, patient_token = grant()
    assert check(client, hospital_token, patient.id).json["decision"] == "permit"
    client.post(f"/v1/me/consents/{consent['id']}/revoke", headers=bearer(patient_token))
    answer = check(client, hospital_token, patient.id).json
    assert (answer["decision"], answer["reason"]) == ("deny", "revoked")
    assert answer["consent_version"] == 2


def test_paused_consent_denies_until_resumed(client, hospital_token, grant):
    patient, consent, patient_token = grant()
    url = f"/v1/me/consents/{consent['id']}"
    client.post(f"{url}/pause", headers=bearer(patient_token))
    assert check(client, hospital_token, patient.id).json["reason"] == "paused"
    client.post(f"{url}/resume", headers=bearer(patient_token))
    assert check(client, hospital_token, patient.id).json["decision"] == "permit"


def test_data_date_outside_the_period_is_denied(client, hospital_token, grant):
    patient, _, _ = grant(data_period={"start": "2020-01-01", "end": "2020-12-31"})
    inside = check(client, hospital_token, patient.id, data_date="2020-05-05").json
    outside = check(client, hospital_token, patient.id, data_date="2019-05-05").json
    assert inside["decision"] == "permit"
    assert outside["reason"] == "outside_data_period"


def test_revoke_all_for_one_org_stops_it_even_under_a_type_grant(
    client, hospital_token, hospital, grant, token_for
):
    patient, _, patient_token = grant()  # granted to every hospital
    other_hospital = token_for("hospital")
    response = client.post(
        "/v1/me/consents/revoke-all",
        json={"org_id": str(hospital.org.id)},
        headers=bearer(patient_token),
    )
    assert response.status_code == 200
    assert check(client, hospital_token, patient.id).json["reason"] == "excluded"
    assert check(client, other_hospital, patient.id).json["decision"] == "permit"


def test_a_pharma_company_does_not_benefit_from_a_hospital_grant(client, token_for, grant):
    patient, _, _ = grant()
    answer = check(client, token_for("pharma"), patient.id).json
    assert answer == {
        "decision": "deny",
        "reason": "no_consent",
        "consent_id": None,
        "consent_version": None,
    }


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"patient_ref": "nope"}, "patient_ref"),
        ({"patient_ref": None}, "patient_ref"),
        ({"patient_id": str(NOBODY)}, "patient_id"),
        ({"patient_identifier": {"system": "urn:oid:1.2", "value": "1"}}, "patient_ref"),
        ({"data_category": "all"}, "data_category"),
        ({"purpose": "FUN"}, "purpose"),
        ({"action": 3}, "action"),
        ({"data_date": "yesterday"}, "data_date"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_checks_are_422_naming_the_field(client, hospital_token, overrides, field):
    body = {"patient_ref": ref(hospital_token, NOBODY), **CHECK, **overrides}
    response = client.post("/v1/consent-checks", json=body, headers=bearer(hospital_token))
    assert response.status_code == 422
    assert field in response.json["errors"]


def test_checks_need_the_consent_check_scope(client, token_for, patient_token):
    narrowed = token_for("hospital", scopes="consent.read")
    body = {"patient_ref": ref(narrowed, NOBODY), **CHECK}
    assert client.post("/v1/consent-checks", json=body, headers=bearer(narrowed)).status_code == 403
    assert (
        client.post("/v1/consent-checks", json=body, headers=bearer(patient_token)).status_code
        == 403
    )


def test_batch_answers_in_order(client, hospital_token, grant):
    permitted, _, _ = grant()
    paused_patient, paused, token = grant()
    client.post(f"/v1/me/consents/{paused['id']}/pause", headers=bearer(token))
    checks = [
        {"patient_ref": ref(hospital_token, permitted), **CHECK},
        {"patient_ref": ref(hospital_token, NOBODY), **CHECK},
        {"patient_ref": ref(hospital_token, paused_patient), **CHECK},
        {"patient_ref": ref(hospital_token, permitted), **CHECK, "purpose": "HMARKT"},
    ]
    response = client.post(
        "/v1/consent-checks/batch", json={"checks": checks}, headers=bearer(hospital_token)
    )
    assert response.status_code == 200
    reasons = [r["reason"] for r in response.json["results"]]
    assert reasons == ["permitted", "no_consent", "paused", "out_of_scope"]


def test_batch_of_ten_thousand_uses_a_bounded_number_of_queries(client, hospital_token, grant):
    patients = [grant()[0] for _ in range(3)]
    checks = [
        {
            "patient_ref": ref(hospital_token, patients[i % 3] if i % 2 else uuid.UUID(int=i)),
            **CHECK,
        }
        for i in range(10_000)
    ]
    statements = []

    def count(*_args):
        statements.append(1)

    connection = db.session.connection()
    event.listen(connection.engine, "before_cursor_execute", count)
    try:
        response = client.post(
            "/v1/consent-checks/batch", json={"checks": checks}, headers=bearer(hospital_token)
        )
    finally:
        event.remove(connection.engine, "before_cursor_execute", count)
    assert response.status_code == 200
    results = response.json["results"]
    assert len(results) == 10_000
    assert results[1]["decision"] == "permit"
    assert results[0]["reason"] == "no_consent"
    # token lookup + one candidate query per 5,000 distinct patients (+ savepoint bookkeeping)
    assert len(statements) <= 6


def test_batch_limits_are_enforced(client, hospital_token):
    too_many = {"checks": [{"patient_ref": "x"}] * 10_001}
    empty = {"checks": []}
    for body in (too_many, empty, {}, {"checks": [], "more": 1}):
        response = client.post(
            "/v1/consent-checks/batch", json=body, headers=bearer(hospital_token)
        )
        assert response.status_code == 422, body


def test_batch_names_the_bad_item(client, hospital_token):
    checks = [{"patient_ref": ref(hospital_token, NOBODY), **CHECK}] * 2
    checks.append({"patient_ref": ref(hospital_token, NOBODY), **CHECK, "action": "x"})
    response = client.post(
        "/v1/consent-checks/batch", json={"checks": checks}, headers=bearer(hospital_token)
    )
    assert response.status_code == 422
    assert set(response.json["errors"]["checks"]) == {"2"}
    assert set(response.json["errors"]["checks"]["2"]) == {"action"}


def test_a_check_without_a_date_asks_about_records_of_any_date(client, hospital_token, grant):
    """Review of issue 11 (finding 1): a check that names no date is about all of the
    patient's records, as a data use without dates is; a consent limited to a data period
    does not permit it (it permitted before, and a caller would disclose every year's)."""
    patient, _, _ = grant(data_period={"start": "2020-01-01", "end": "2020-12-31"})
    answer = check(client, hospital_token, patient).json
    assert (answer["decision"], answer["reason"]) == ("deny", "outside_data_period")
    assert check(client, hospital_token, patient, data_date="2020-06-01").json["decision"] == (
        "permit"
    )
