"""The event feed: each organisation reads, in its own gapless sequence, what changed in the
consents, requests and patients that concern it, as it knows them."""

import uuid
from datetime import timedelta

import pytest

from server.db import utcnow
from tests.conftest import bearer, ref, shown
from tests.factories import PatientFactory
from tests.support import run_job_now


def publish() -> int:
    return run_job_now("publish-events")


def feed(client, token, **query):
    response = client.get("/v1/events", query_string=query, headers=bearer(token))
    assert response.status_code == 200, response.json
    return response.json


def events(client, token, **query) -> list[dict]:
    return feed(client, token, limit=500, **query)["items"]


@pytest.fixture
def hospitals(token_for):
    return token_for("hospital"), token_for("hospital")


def test_a_type_wide_revocation_reaches_every_hospital_as_each_knows_the_patient(
    client, grant, hospitals, token_for
):
    pharma = token_for("pharma")
    patient, consent, patient_token = grant()  # every hospital: lab results for treatment
    client.post(f"/v1/me/consents/{consent['id']}/revoke", headers=bearer(patient_token))

    assert publish() == 4  # granted and revoked, to each of two hospitals

    for hospital in hospitals:
        told = events(client, hospital)
        assert [(e["type"], e["sequence"]) for e in told] == [
            ("consent.granted", 1),
            ("consent.revoked", 2),
        ]
        revoked = told[1]["data"]
        assert revoked["patient_ref"] == ref(hospital, patient)
        assert revoked["consent"]["patient_ref"] == ref(hospital, patient)
        assert revoked["consent"]["id"] == shown(hospital, consent["id"])
        assert (revoked["consent"]["status"], revoked["consent"]["version"]) == ("revoked", 2)
    first, second = (events(client, h)[1] for h in hospitals)
    assert first["id"] != second["id"]
    assert first["data"]["patient_ref"] != second["data"]["patient_ref"]
    assert events(client, pharma) == []  # a consent for hospitals is no pharma's business


def test_each_change_of_a_named_consent_is_told_in_order_as_it_stood_then(
    client, grant, hospital, hospital_token, token_for
):
    other_hospital = token_for("hospital")
    _, consent, patient_token = grant(grantee={"org_id": str(hospital.org.id)})
    path = f"/v1/me/consents/{consent['id']}"
    client.post(f"{path}/pause", headers=bearer(patient_token))
    client.post(f"{path}/resume", headers=bearer(patient_token))
    client.patch(path, json={"purposes": ["TREAT", "HOPERAT"]}, headers=bearer(patient_token))
    client.post(f"{path}/revoke", json={"reason": "moved"}, headers=bearer(patient_token))
    publish()

    told = events(client, hospital_token)
    assert [
        (e["type"], e["data"]["consent"]["version"], e["data"]["consent"]["status"]) for e in told
    ] == [
        ("consent.granted", 1, "active"),
        ("consent.paused", 2, "paused"),
        ("consent.resumed", 3, "active"),
        ("consent.amended", 4, "active"),
        ("consent.revoked", 5, "revoked"),
    ]
    assert [e["sequence"] for e in told] == [1, 2, 3, 4, 5]
    assert told[0]["data"]["consent"]["purposes"] == ["TREAT"]  # as it was, not as it is
    assert told[3]["data"]["consent"]["purposes"] == ["TREAT", "HOPERAT"]
    assert told[0]["data"]["consent"]["grantee"]["org_name"] == "St Mary's"
    assert events(client, other_hospital) == []


def test_nothing_is_in_the_feed_before_it_is_published(client, grant, hospital_token):
    grant()
    assert events(client, hospital_token) == []
    publish()
    assert len(events(client, hospital_token)) == 1


def test_the_feed_pages_by_sequence_and_filters_by_type(client, grant, hospital_token):
    for _ in range(3):
        _, consent, patient_token = grant()
        client.post(f"/v1/me/consents/{consent['id']}/revoke", headers=bearer(patient_token))
    publish()

    page = feed(client, hospital_token, limit=4)
    assert [e["sequence"] for e in page["items"]] == [1, 2, 3, 4]
    assert (page["next_after"], page["has_more"]) == (4, True)
    rest = feed(client, hospital_token, after=page["next_after"], limit=4)
    assert [e["sequence"] for e in rest["items"]] == [5, 6]
    assert (rest["next_after"], rest["has_more"]) == (6, False)
    assert feed(client, hospital_token, after=6) == {
        "items": [],
        "next_after": 6,
        "has_more": False,
    }

    revoked = events(client, hospital_token, types="consent.revoked")
    assert [e["sequence"] for e in revoked] == [2, 4, 6]


def test_answered_and_lapsed_requests_are_told_to_the_organisation_that_asked(
    client, token_for, patient, patient_token
):
    pharma = token_for("pharma")

    def ask(**more):
        body = {
            "patient_ref": ref(pharma, patient),
            "data_categories": ["lab_results", "medications"],
            "purposes": ["HRESCH"],
            "actions": ["access", "use"],
            "justification": "Outcomes study.",
            "expires_at": (utcnow() + timedelta(days=7)).isoformat(),
            **more,
        }
        response = client.post("/v1/consent-requests", json=body, headers=bearer(pharma))
        assert response.status_code == 201, response.json
        return response.json["id"]

    # Three questions (one pending request per scope): each for another purpose.
    approved, denied, lapsing = ask(), ask(purposes=["CLINTRL"]), ask(purposes=["HPAYMT"])
    answer = client.post(
        f"/v1/me/consent-requests/{approved}/approve",
        json={"data_categories": ["lab_results"]},  # narrowed
        headers=bearer(patient_token),
    )
    assert answer.status_code == 201, answer.json
    client.post(
        f"/v1/me/consent-requests/{denied}/deny",
        json={"reason": "not now"},
        headers=bearer(patient_token),
    )
    from consent_api.requests.models import ConsentRequest
    from server.db import db

    db.session.get(ConsentRequest, uuid.UUID(lapsing)).expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    assert run_job_now("expire-requests") == 1
    publish()

    told = {e["type"]: e["data"] for e in events(client, pharma)}
    assert set(told) == {
        "consent.granted",
        "consent_request.approved",
        "consent_request.denied",
        "consent_request.lapsed",
    }
    assert told["consent_request.approved"]["request_id"] == approved
    assert told["consent_request.approved"]["consent"]["data_categories"] == ["lab_results"]
    assert told["consent_request.approved"]["consent"]["id"] == shown(pharma, answer.json["id"])
    assert told["consent_request.denied"] == {
        "patient_ref": ref(pharma, patient),
        "request_id": denied,
        "reason": "not now",
    }
    assert told["consent_request.lapsed"]["request_id"] == lapsing


def test_an_erased_patient_is_told_to_those_that_held_their_consents(
    client, grant, hospital, hospital_token, token_for
):
    pharma = token_for("pharma")
    patient, _, patient_token = grant(grantee={"org_id": str(hospital.org.id)})
    assert client.delete("/v1/me", headers=bearer(patient_token)).status_code == 204
    publish()

    told = events(client, hospital_token)
    assert [e["type"] for e in told] == ["consent.granted", "consent.revoked", "patient.erased"]
    assert told[2]["data"] == {"patient_ref": ref(hospital, patient)}
    assert events(client, pharma) == []


def test_an_organisation_hears_of_its_own_suspension_and_reinstatement(
    client, admin_token, hospital, hospital_token, token_for
):
    org_id = hospital.org.id
    suspended = client.post(
        f"/v1/admin/orgs/{org_id}/suspend",
        json={"reason": "Read patients it never treated."},
        headers=bearer(admin_token),
    )
    assert suspended.status_code == 200
    assert (
        client.post(f"/v1/admin/orgs/{org_id}/resume", headers=bearer(admin_token)).status_code
        == 200
    )
    publish()

    fresh = token_for(registration=hospital)  # tokens stopped working while suspended
    assert [(e["type"], e["data"]) for e in events(client, fresh)] == [
        ("org.suspended", {"reason": "Read patients it never treated."}),
        ("org.resumed", {}),
    ]


def test_a_cursor_older_than_the_feed_keeps_is_gone(client, app, grant, hospital_token):
    from consent_api.events.models import OrgEvent
    from server.db import db

    for _ in range(3):
        grant()
    publish()
    oldest = db.session.get(
        OrgEvent,
        (
            db.session.scalar(
                OrgEvent.__table__.select().with_only_columns(OrgEvent.org_id).limit(1)
            ),
            1,
        ),
    )
    oldest.published_at = utcnow() - timedelta(days=31)
    db.session.flush()
    assert run_job_now("purge-events") == 1

    gone = client.get("/v1/events", query_string={"after": 0}, headers=bearer(hospital_token))
    assert gone.status_code == 410
    assert gone.json["code"] == "events_expired"
    kept = feed(client, hospital_token, after=1)
    assert [e["sequence"] for e in kept["items"]] == [2, 3]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"after": -1}, "after"),
        ({"after": "x"}, "after"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"types": "consent.revoked,consent.exploded"}, "types"),
    ],
)
def test_a_bad_cursor_or_filter_is_a_problem_naming_it(client, hospital_token, query, field):
    response = client.get("/v1/events", query_string=query, headers=bearer(hospital_token))
    assert response.status_code == 422
    assert field in response.json["errors"]


def test_the_feed_is_for_organisations_with_events_read(client, token_for, patient_token):
    assert client.get("/v1/events", headers=bearer(patient_token)).status_code == 403
    narrow = token_for("hospital", scopes="consent.check")
    assert client.get("/v1/events", headers=bearer(narrow)).status_code == 403


def test_a_patient_of_another_organisation_stays_out_of_its_feed(
    client, grant, hospital, hospital_token
):
    other = PatientFactory()
    grant(other, grantee={"org_type": "pharma"})
    publish()
    assert events(client, hospital_token) == []
