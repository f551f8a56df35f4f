"""An organisation reads back its own data-use reports: newest first, filtered, paged."""

from datetime import timedelta

from server.db import utcnow
from tests.conftest import bearer, ref, report, shown, use_body
from tests.support import all_pages


def _uses(client, token, **query):
    response = client.get("/v1/data-uses", query_string=query, headers=bearer(token))
    assert response.status_code == 200, response.json
    return response.json["items"]


def test_an_org_lists_its_own_uses_and_refused_attempts_newest_first(
    client, hospital_token, token_for, grant
):
    patient, consent, _ = grant()
    first = report(client, hospital_token, use_body(ref(hospital_token, patient))).json
    refused = report(
        client, hospital_token, use_body(ref(hospital_token, patient), purpose="HMARKT")
    ).json
    last = report(client, hospital_token, use_body(ref(hospital_token, patient))).json
    other_hospital = token_for("hospital")
    report(client, other_hospital, use_body(ref(other_hospital, patient)))

    items = _uses(client, hospital_token)

    assert [u["id"] for u in items] == [last["id"], refused["data_use_id"], first["id"]]
    assert [u["outcome"] for u in items] == ["permitted", "refused", "permitted"]
    assert items[0] == last
    assert items[1]["consents"] == []
    assert items[2]["consents"][0]["consent_id"] == shown(hospital_token, consent["id"])


def test_uses_filter_by_patient_category_purpose_outcome_and_consent(client, hospital_token, grant):
    patient, consent, _ = grant(data_categories=["lab_results", "imaging"])
    other, _, _ = grant()
    lab = report(client, hospital_token, use_body(ref(hospital_token, patient))).json
    imaging = report(
        client,
        hospital_token,
        use_body(ref(hospital_token, patient), data_categories=["imaging"]),
    ).json
    refused = report(
        client, hospital_token, use_body(ref(hospital_token, patient), purpose="HMARKT")
    ).json
    elsewhere = report(client, hospital_token, use_body(ref(hospital_token, other))).json

    def ids(**query):
        return [u["id"] for u in _uses(client, hospital_token, **query)]

    assert ids(patient_ref=ref(hospital_token, other)) == [elsewhere["id"]]
    assert ids(data_category="imaging") == [imaging["id"]]
    assert ids(purpose="HMARKT") == [refused["data_use_id"]]
    assert ids(outcome="refused") == [refused["data_use_id"]]
    assert ids(consent_id=shown(hospital_token, consent["id"])) == [imaging["id"], lab["id"]]
    assert ids(consent_id=consent["id"]) == []  # the internal id is no id of the caller's


def test_uses_filter_by_when_they_were_recorded(client, hospital_token, grant):
    patient, _, _ = grant()
    before = report(client, hospital_token, use_body(ref(hospital_token, patient))).json
    mark = utcnow()
    after = report(client, hospital_token, use_body(ref(hospital_token, patient))).json

    assert [u["id"] for u in _uses(client, hospital_token, since=mark.isoformat())] == [after["id"]]
    assert [u["id"] for u in _uses(client, hospital_token, until=mark.isoformat())] == [
        before["id"]
    ]
    later = (utcnow() + timedelta(minutes=1)).isoformat()
    assert _uses(client, hospital_token, since=later) == []


def test_uses_page_with_a_cursor(client, hospital_token, grant):
    patient, _, _ = grant()
    made = [
        report(client, hospital_token, use_body(ref(hospital_token, patient))).json["id"]
        for _ in range(5)
    ]
    seen = all_pages(client, "/v1/data-uses", headers=bearer(hospital_token), limit=2)
    assert [u["id"] for u in seen] == made[::-1]


def test_a_patient_ref_of_another_org_is_unknown_patient(client, hospital_token, token_for, grant):
    patient, _, _ = grant()
    other = token_for("hospital")
    response = client.get(
        "/v1/data-uses",
        query_string={"patient_ref": ref(other, patient)},
        headers=bearer(hospital_token),
    )
    assert (response.status_code, response.json["code"]) == (422, "unknown_patient")
    assert "patient_ref" in response.json["errors"]


def test_reading_uses_needs_the_scope_that_reports_them(client, token_for):
    token = token_for("hospital", scopes="consent.read consent.check")
    response = client.get("/v1/data-uses", headers=bearer(token))
    assert (response.status_code, response.json["code"]) == (403, "insufficient_scope")
