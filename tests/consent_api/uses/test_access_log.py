"""The patient's access history: every use and refused attempt, filtered, newest first."""

from datetime import timedelta

from server.db import utcnow
from tests.conftest import bearer, ref, report, use_body


def _log(client, token, **params):
    response = client.get("/v1/me/access-log", query_string=params, headers=bearer(token))
    assert response.status_code == 200, response.json
    return response.json


def test_the_log_shows_uses_and_refusals_in_plain_words(client, hospital_token, grant):
    patient, consent, token = grant()
    report(client, hospital_token, use_body(ref(hospital_token, patient)))
    report(
        client, hospital_token, use_body(ref(hospital_token, patient), data_categories=["imaging"])
    )

    refused, used = _log(client, token)["items"]
    assert used["organisation"]["name"] == "St Mary's"
    assert used["data_categories"] == [{"code": "lab_results", "label": "your lab results"}]
    assert used["purpose"] == {"code": "TREAT", "label": "your treatment"}
    assert used["outcome"] == "permitted"
    assert used["consents"][0]["consent_id"] == consent["id"]
    assert refused["outcome"] == "refused"
    assert refused["reason"] == {
        "code": "out_of_scope",
        "label": "your consent does not cover this",
    }
    assert used["reason"] == {"code": "permitted", "label": "allowed by your consent"}


def test_filters_by_organisation_category_purpose_outcome_and_time(
    client, hospital_token, token_for, grant
):
    patient, _, token = grant(data_categories=["lab_results", "imaging"])
    other_token = token_for("hospital")
    start = utcnow()
    report(client, hospital_token, use_body(ref(hospital_token, patient)))
    report(
        client, hospital_token, use_body(ref(hospital_token, patient), data_categories=["imaging"])
    )
    report(client, other_token, use_body(ref(other_token, patient), purpose="HMARKT"))
    everything = _log(client, token)["items"]
    assert len(everything) == 3
    mine = everything[-1]["organisation"]["id"]

    assert len(_log(client, token, org_id=mine)["items"]) == 2
    assert len(_log(client, token, data_category="imaging")["items"]) == 1
    assert len(_log(client, token, purpose="HMARKT")["items"]) == 1
    assert len(_log(client, token, outcome="refused")["items"]) == 1
    assert len(_log(client, token, since=start.isoformat())["items"]) == 3
    later = (utcnow() + timedelta(minutes=1)).isoformat()
    assert _log(client, token, since=later)["items"] == []


def test_the_log_pages_with_a_cursor_newest_first(client, hospital_token, grant):
    patient, _, token = grant()
    base = utcnow() - timedelta(minutes=10)  # before the consent: five refused attempts
    for minute in range(5):
        report(
            client,
            hospital_token,
            use_body(
                ref(hospital_token, patient),
                data_categories=["imaging"],
                occurred_at=base + timedelta(minutes=minute),
            ),
        )
    first = _log(client, token, limit=2)
    second = _log(client, token, limit=2, cursor=first["next_cursor"])
    third = _log(client, token, limit=2, cursor=second["next_cursor"])
    seen = [e["occurred_at"] for page in (first, second, third) for e in page["items"]]
    assert seen == sorted(seen, reverse=True)
    assert len(set(seen)) == 5
    assert third["next_cursor"] is None


def test_a_patient_sees_only_their_own_history(client, hospital_token, grant):
    patient, _, _ = grant()
    _, _, other_token = grant()
    report(client, hospital_token, use_body(ref(hospital_token, patient)))
    assert _log(client, other_token)["items"] == []


def test_bad_filters_name_the_parameter(client, patient_token):
    response = client.get(
        "/v1/me/access-log", query_string={"purpose": "NOPE"}, headers=bearer(patient_token)
    )
    assert response.status_code == 422
    assert "purpose" in response.json["errors"]
