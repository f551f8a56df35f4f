"""What organisations can read: the consents granted to them, and nothing of others'."""

from datetime import timedelta

import pytest

from server.db import utcnow
from tests.conftest import bearer, ref, report, shown, use_body


@pytest.fixture
def hospital(org_credentials):
    return org_credentials("hospital", name="North Hospital")


@pytest.fixture
def hospital_token(token_for, hospital):
    return token_for(registration=hospital)


def _grant(client, patient_token, **body):
    base = {"data_categories": ["lab_results"], "purposes": ["TREAT"], "actions": ["use"]}
    response = client.post("/v1/me/consents", json={**base, **body}, headers=bearer(patient_token))
    assert response.status_code == 201, response.json
    return response.json


def test_org_lists_consents_granted_to_it_directly_or_by_type(
    client, patient_token, patient, hospital, hospital_token, org_credentials
):
    direct = _grant(client, patient_token, grantee={"org_id": str(hospital.org.id)})
    by_type = _grant(client, patient_token, grantee={"org_type": "hospital"})
    other = org_credentials("hospital")
    _grant(client, patient_token, grantee={"org_id": str(other.org.id)})
    _grant(client, patient_token, grantee={"org_type": "pharma"})

    items = client.get("/v1/consents", headers=bearer(hospital_token)).json["items"]

    assert {c["id"] for c in items} == {shown(hospital_token, c["id"]) for c in (direct, by_type)}
    assert all(c["patient_ref"] == ref(hospital_token, patient) for c in items)
    assert "summary" not in items[0]


def test_org_never_sees_exclusions_about_other_orgs(
    client, patient_token, hospital, hospital_token, org_credentials
):
    rival = org_credentials("hospital")
    _grant(
        client,
        patient_token,
        grantee={"org_type": "hospital"},
        exclusions=[{"org_ids": [str(rival.org.id)]}, {"data_categories": ["imaging"]}],
    )
    (item,) = client.get("/v1/consents", headers=bearer(hospital_token)).json["items"]
    assert item["exclusions"] == [{"data_categories": ["imaging"], "purposes": [], "org_ids": []}]


def test_updated_since_lets_a_mirror_learn_of_revocations(
    client, patient_token, hospital, hospital_token
):
    consent = _grant(client, patient_token, grantee={"org_id": str(hospital.org.id)})
    mark = utcnow()
    unchanged = client.get(
        "/v1/consents",
        query_string={"updated_since": mark.isoformat()},
        headers=bearer(hospital_token),
    ).json["items"]
    assert unchanged == []
    client.post(f"/v1/me/consents/{consent['id']}/revoke", headers=bearer(patient_token))
    changed = client.get(
        "/v1/consents",
        query_string={"updated_since": (mark - timedelta(milliseconds=1)).isoformat()},
        headers=bearer(hospital_token),
    ).json["items"]
    assert [(c["id"], c["status"], c["version"]) for c in changed] == [
        (shown(hospital_token, consent["id"]), "revoked", 2)
    ]


def test_org_filters_by_status_category_and_purpose(
    client, patient_token, hospital, hospital_token
):
    grantee = {"org_id": str(hospital.org.id)}
    lab = _grant(client, patient_token, grantee=grantee)
    broad = _grant(
        client, patient_token, grantee=grantee, data_categories=["all"], purposes=["HOPERAT"]
    )
    revoked = _grant(client, patient_token, grantee=grantee)
    client.post(f"/v1/me/consents/{revoked['id']}/revoke", headers=bearer(patient_token))

    def ids(**query):
        items = client.get("/v1/consents", query_string=query, headers=bearer(hospital_token))
        return {c["id"] for c in items.json["items"]}

    def as_shown(*consents):
        return {shown(hospital_token, c["id"]) for c in consents}

    assert ids(status="active") == as_shown(lab, broad)
    assert ids(data_category="imaging") == as_shown(broad)
    assert ids(purpose="TREAT", status="revoked") == as_shown(revoked)


def test_listing_needs_consent_read(client, token_for):
    token = token_for("hospital", scopes="consent.check")
    assert client.get("/v1/consents", headers=bearer(token)).status_code == 403


def test_org_pages_through_many_consents(client, patient_token, hospital, hospital_token):
    made = [
        _grant(client, patient_token, grantee={"org_id": str(hospital.org.id)})["id"]
        for _ in range(5)
    ]
    seen, cursor = [], None
    for _ in range(10):
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/consents", query_string=query, headers=bearer(hospital_token)).json
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [shown(hospital_token, consent_id) for consent_id in made]


def test_org_reads_one_consent_it_holds_by_the_id_it_was_shown(
    client, patient_token, patient, hospital, hospital_token
):
    consent = _grant(client, patient_token, grantee={"org_type": "hospital"})
    consent_id = shown(hospital_token, consent["id"])

    response = client.get(f"/v1/consents/{consent_id}", headers=bearer(hospital_token))

    assert response.status_code == 200, response.json
    body = response.json
    assert (body["id"], body["patient_ref"]) == (consent_id, ref(hospital_token, patient))
    assert (body["status"], body["revoked_at"], body["revocation_reason"]) == (
        "active",
        None,
        None,
    )
    assert "summary" not in body
    assert "revoke_reason" not in body


def test_an_org_never_reads_a_consent_it_does_not_hold(
    client, patient_token, hospital, hospital_token, org_credentials, token_for
):
    rival = org_credentials("hospital")
    theirs = _grant(client, patient_token, grantee={"org_id": str(rival.org.id)})
    for_pharma = _grant(client, patient_token, grantee={"org_type": "pharma"})
    mine = _grant(client, patient_token, grantee={"org_id": str(hospital.org.id)})
    rival_token = token_for(registration=rival)

    asked = [
        f"/v1/consents/{shown(hospital_token, theirs['id'])}",  # someone else's
        f"/v1/consents/{shown(hospital_token, for_pharma['id'])}",  # another type's
        f"/v1/consents/{mine['id']}",  # the internal id, never shown to anyone
        f"/v1/consents/{shown(rival_token, mine['id'])}",  # an id shown to another
    ]
    for path in asked:
        response = client.get(path, headers=bearer(hospital_token))
        assert (response.status_code, response.json["code"]) == (404, "not_found"), path


def test_a_revoked_consent_shows_when_and_a_coded_reason_never_the_patients_words(
    client, patient_token, hospital, hospital_token
):
    consent = _grant(client, patient_token, grantee={"org_id": str(hospital.org.id)})
    client.post(
        f"/v1/me/consents/{consent['id']}/revoke",
        json={"reason": "I moved to Dr Smith after my HIV diagnosis"},
        headers=bearer(patient_token),
    )
    consent_id = shown(hospital_token, consent["id"])

    one = client.get(f"/v1/consents/{consent_id}", headers=bearer(hospital_token)).json
    (listed,) = client.get("/v1/consents", headers=bearer(hospital_token)).json["items"]

    for body in (one, listed):
        assert body["status"] == "revoked"
        assert body["revoked_at"] is not None
        assert body["revocation_reason"] == "revoked_by_patient"
        assert "Smith" not in str(body)


def test_consents_revoked_at_erasure_say_so(client, patient_token, hospital, hospital_token):
    consent = _grant(client, patient_token, grantee={"org_id": str(hospital.org.id)})
    assert client.delete("/v1/me", headers=bearer(patient_token)).status_code == 204

    body = client.get(
        f"/v1/consents/{shown(hospital_token, consent['id'])}", headers=bearer(hospital_token)
    ).json

    assert (body["status"], body["revocation_reason"]) == ("revoked", "patient_erased")


def test_use_count_counts_permitted_uses_not_checks_and_leaves_updated_at(
    client, patient_token, patient, hospital, hospital_token
):
    consent = _grant(client, patient_token, grantee={"org_id": str(hospital.org.id)})
    consent_id = shown(hospital_token, consent["id"])
    check = {
        "patient_ref": ref(hospital_token, patient),
        "data_category": "lab_results",
        "purpose": "TREAT",
        "action": "use",
    }
    assert (
        client.post("/v1/consent-checks", json=check, headers=bearer(hospital_token)).json[
            "decision"
        ]
        == "permit"
    )
    assert report(client, hospital_token, use_body(ref(hospital_token, patient))).status_code == 201
    refused = use_body(ref(hospital_token, patient), purpose="HMARKT")
    assert report(client, hospital_token, refused).status_code == 403

    body = client.get(f"/v1/consents/{consent_id}", headers=bearer(hospital_token)).json

    assert body["use_count"] == 1
    assert (body["updated_at"], body["version"]) == (consent["updated_at"], 1)


def test_an_organisation_never_counts_another_organisations_uses(
    client, patient_token, patient, hospital, hospital_token, token_for
):
    """Review finding: on a consent to every hospital, use_count told one hospital how often
    the others used the patient's data (that they treat the patient, too)."""
    by_type = _grant(client, patient_token, grantee={"org_type": "hospital"}, actions=["use"])
    direct = _grant(
        client, patient_token, grantee={"org_id": str(hospital.org.id)}, data_categories=["imaging"]
    )
    elsewhere = token_for("hospital")
    assert report(client, elsewhere, use_body(ref(elsewhere, patient))).status_code == 201
    body = use_body(ref(hospital_token, patient), data_categories=["imaging"])
    assert report(client, hospital_token, body).status_code == 201
    items = {
        c["id"]: c for c in client.get("/v1/consents", headers=bearer(hospital_token)).json["items"]
    }
    assert items[shown(hospital_token, by_type["id"])]["use_count"] is None
    assert items[shown(hospital_token, direct["id"])]["use_count"] == 1
    one = client.get(
        f"/v1/consents/{shown(hospital_token, by_type['id'])}", headers=bearer(hospital_token)
    )
    assert one.json["use_count"] is None
