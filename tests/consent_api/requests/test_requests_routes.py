"""Consent requests: an organisation asks, the patient approves (narrowed) or denies."""

from datetime import timedelta

import pytest

from server.db import utcnow
from tests.conftest import bearer, ref, shown


def _soon(**delta) -> str:
    return (utcnow() + timedelta(**(delta or {"days": 7}))).isoformat()


@pytest.fixture
def pharma(org_credentials):
    return org_credentials("pharma", name="Acme Pharma")


@pytest.fixture
def pharma_token(token_for, pharma):
    return token_for(registration=pharma)


@pytest.fixture
def ask(client, pharma_token, patient):
    def make(**overrides):
        body = {
            "patient_ref": ref(pharma_token, patient),
            "data_categories": ["lab_results", "medications", "genomics"],
            "purposes": ["HRESCH", "CLINTRL"],
            "actions": ["access", "use"],
            "data_period": {"start": "2020-01-01", "end": "2025-12-31"},
            "valid_until": _soon(days=365),
            "max_uses": 100,
            "justification": "Diabetes outcomes study, ethics approval 2026/17.",
            "expires_at": _soon(days=14),
            "fee_per_use": 100,
            **overrides,
        }
        response = client.post("/v1/consent-requests", json=body, headers=bearer(pharma_token))
        assert response.status_code == 201, response.json
        return response.json

    return make


def test_org_files_a_request_and_sees_it_pending(client, pharma_token, ask):
    request = ask()
    assert request["status"] == "pending"
    assert request["org_name"] == "Acme Pharma"
    assert request["summary"].startswith("Acme Pharma may see and use")
    shown = client.get(f"/v1/consent-requests/{request['id']}", headers=bearer(pharma_token))
    assert shown.json["status"] == "pending"


def test_patient_sees_requests_addressed_to_them(client, patient_token, ask):
    request = ask()
    listed = client.get("/v1/me/consent-requests", headers=bearer(patient_token)).json["items"]
    assert [r["id"] for r in listed] == [request["id"]]


def test_approving_creates_the_consent_with_the_reward_terms(
    client, patient_token, pharma_token, ask
):
    request = ask()
    response = client.post(
        f"/v1/me/consent-requests/{request['id']}/approve", headers=bearer(patient_token)
    )
    assert response.status_code == 201
    consent = response.json
    assert consent["fee_per_use"] == 100
    assert consent["request_id"] == request["id"]
    assert consent["grantee"]["org_name"] == "Acme Pharma"
    followed = client.get(f"/v1/consent-requests/{request['id']}", headers=bearer(pharma_token))
    assert followed.json["status"] == "approved"
    assert followed.json["consent_id"] == shown(pharma_token, consent["id"])


def test_approval_may_narrow_the_scope(client, patient_token, ask):
    request = ask()
    response = client.post(
        f"/v1/me/consent-requests/{request['id']}/approve",
        json={
            "data_categories": ["lab_results"],
            "purposes": ["HRESCH"],
            "valid_until": _soon(days=30),
            "max_uses": 10,
            "data_period": {"start": "2022-01-01"},
        },
        headers=bearer(patient_token),
    )
    assert response.status_code == 201, response.json
    consent = response.json
    assert consent["data_categories"] == ["lab_results"]
    assert consent["purposes"] == ["HRESCH"]
    assert consent["max_uses"] == 10
    assert consent["data_period"] == {"start": "2022-01-01", "end": "2025-12-31"}


@pytest.mark.parametrize(
    ("narrowing", "field"),
    [
        ({"data_categories": ["imaging"]}, "data_categories"),
        ({"purposes": ["HMARKT"]}, "purposes"),
        ({"actions": ["disclose"]}, "actions"),
        ({"max_uses": 1000}, "max_uses"),
        ({"valid_until": None}, "valid_until"),
        ({"data_period": {"start": "2010-01-01"}}, "data_period"),
    ],
)
def test_approval_can_never_widen_the_scope(client, patient_token, ask, narrowing, field):
    request = ask()
    response = client.post(
        f"/v1/me/consent-requests/{request['id']}/approve",
        json=narrowing,
        headers=bearer(patient_token),
    )
    assert response.status_code == 422
    assert field in response.json["errors"]
    still = client.get(f"/v1/me/consent-requests/{request['id']}", headers=bearer(patient_token))
    assert still.json["status"] == "pending"
    assert client.get("/v1/me/consents", headers=bearer(patient_token)).json["items"] == []


def test_deny_records_the_reason_for_the_org(client, patient_token, pharma_token, ask):
    request = ask()
    client.post(
        f"/v1/me/consent-requests/{request['id']}/deny",
        json={"reason": "not comfortable"},
        headers=bearer(patient_token),
    )
    followed = client.get(f"/v1/consent-requests/{request['id']}", headers=bearer(pharma_token))
    assert followed.json["status"] == "denied"
    assert followed.json["decision_reason"] == "not comfortable"


def test_org_may_withdraw_while_pending_and_then_approval_is_409(
    client, patient_token, pharma_token, ask
):
    request = ask()
    withdrawn = client.post(
        f"/v1/consent-requests/{request['id']}/withdraw", headers=bearer(pharma_token)
    )
    assert withdrawn.json["status"] == "withdrawn"
    approve = client.post(
        f"/v1/me/consent-requests/{request['id']}/approve", headers=bearer(patient_token)
    )
    assert approve.status_code == 409
    assert approve.json["code"] == "request_not_pending"
    again = client.post(
        f"/v1/consent-requests/{request['id']}/withdraw", headers=bearer(pharma_token)
    )
    assert again.status_code == 409


def test_a_request_past_its_deadline_is_expired_before_any_sweep(client, patient_token, ask):
    from consent_api.requests.models import ConsentRequest
    from server.db import db

    request = ask()
    row = db.session.get(ConsentRequest, __import__("uuid").UUID(request["id"]))
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    shown = client.get(f"/v1/me/consent-requests/{request['id']}", headers=bearer(patient_token))
    assert shown.json["status"] == "expired"
    approve = client.post(
        f"/v1/me/consent-requests/{request['id']}/approve", headers=bearer(patient_token)
    )
    assert approve.status_code == 409


def test_another_org_cannot_see_or_withdraw_the_request(client, token_for, ask):
    request = ask()
    other = token_for("pharma")
    assert (
        client.get(f"/v1/consent-requests/{request['id']}", headers=bearer(other)).status_code
        == 404
    )
    assert (
        client.post(
            f"/v1/consent-requests/{request['id']}/withdraw", headers=bearer(other)
        ).status_code
        == 404
    )


def test_another_patient_cannot_answer_the_request(client, patient_token_for, ask):
    from tests.factories import PatientFactory

    request = ask()
    stranger = patient_token_for(PatientFactory())
    response = client.post(
        f"/v1/me/consent-requests/{request['id']}/approve", headers=bearer(stranger)
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"fee_per_use": -1}, "fee_per_use"),
        ({"justification": ""}, "justification"),
        ({"purposes": []}, "purposes"),
    ],
)
def test_bad_requests_are_422_naming_the_field(client, pharma_token, patient, overrides, field):
    body = {
        "patient_ref": ref(pharma_token, patient),
        "data_categories": ["lab_results"],
        "purposes": ["HRESCH"],
        "actions": ["use"],
        "justification": "study",
        "expires_at": _soon(),
        **overrides,
    }
    response = client.post("/v1/consent-requests", json=body, headers=bearer(pharma_token))
    assert response.status_code == 422
    assert field in response.json["errors"]


def test_org_lists_its_requests_by_status(client, pharma_token, ask):
    kept = ask()
    gone = ask(purposes=["HRESCH"])
    client.post(f"/v1/consent-requests/{gone['id']}/withdraw", headers=bearer(pharma_token))
    pending = client.get("/v1/consent-requests?status=pending", headers=bearer(pharma_token)).json[
        "items"
    ]
    assert [r["id"] for r in pending] == [kept["id"]]


def test_a_requests_exclusions_are_shown_as_asked(client, patient_token, ask):
    asked = ask(exclusions=[{"purposes": ["CLINTRL"]}])
    assert asked["exclusions"] == [{"purposes": ["CLINTRL"]}]
    mine = client.get(f"/v1/me/consent-requests/{asked['id']}", headers=bearer(patient_token))
    assert mine.json["exclusions"] == [{"purposes": ["CLINTRL"]}]


def test_approving_a_request_that_excludes_an_organisation_creates_the_consent(
    client, patient_token, ask, org_credentials
):
    rival = org_credentials("pharma", name="Rival Pharma")
    asked = ask(exclusions=[{"org_ids": [str(rival.org.id)]}])
    approved = client.post(
        f"/v1/me/consent-requests/{asked['id']}/approve", headers=bearer(patient_token)
    )
    assert approved.status_code == 201, approved.json
    assert approved.json["exclusions"] == [
        {"data_categories": [], "purposes": [], "org_ids": [str(rival.org.id)]}
    ]


def _file(client, token, body):
    return client.post("/v1/consent-requests", json=body, headers=bearer(token))


def test_a_second_pending_request_for_the_same_scope_is_409_naming_the_first(
    client, pharma_token, patient, patient_token, ask
):
    first = ask(purposes=["CLINTRL", "HRESCH"], data_categories=["genomics", "lab_results"])
    again = {
        "patient_ref": ref(pharma_token, patient),
        # The same categories, purposes and actions, in another order and with other terms.
        "data_categories": ["lab_results", "genomics"],
        "purposes": ["HRESCH", "CLINTRL"],
        "actions": ["use", "access"],
        "justification": "Asking again, louder.",
        "expires_at": _soon(days=30),
        "fee_per_use": 500,
    }

    response = _file(client, pharma_token, again)

    assert response.status_code == 409
    assert response.json["code"] == "duplicate_request"
    assert response.json["pending_request_id"] == first["id"]
    mine = client.get("/v1/me/consent-requests", headers=bearer(patient_token)).json["items"]
    assert [r["id"] for r in mine] == [first["id"]]
    notices = client.get("/v1/me/notifications", headers=bearer(patient_token)).json["items"]
    assert [n["type"] for n in notices].count("consent_request_received") == 1


def test_another_scope_patient_or_organisation_is_no_duplicate(
    client, pharma_token, token_for, patient, ask
):
    ask()
    assert ask(actions=["access"])["status"] == "pending"
    assert ask(data_categories=["lab_results"])["status"] == "pending"
    from tests.factories import PatientFactory

    assert ask(patient_ref=ref(pharma_token, PatientFactory()))["status"] == "pending"
    rival = token_for("pharma")
    body = {
        "patient_ref": ref(rival, patient),
        "data_categories": ["lab_results", "medications", "genomics"],
        "purposes": ["HRESCH", "CLINTRL"],
        "actions": ["access", "use"],
        "justification": "Our own study.",
        "expires_at": _soon(),
    }
    assert _file(client, rival, body).status_code == 201


@pytest.mark.parametrize("answer", ["withdraw", "deny", "approve", "lapse"])
def test_once_the_request_is_no_longer_pending_the_org_may_ask_again(
    client, pharma_token, patient_token, ask, answer
):
    from consent_api.requests.models import ConsentRequest
    from server.db import db

    first = ask()
    if answer == "withdraw":
        client.post(f"/v1/consent-requests/{first['id']}/withdraw", headers=bearer(pharma_token))
    elif answer == "lapse":  # past its deadline, not yet swept: lapsed as the sweep would
        row = db.session.get(ConsentRequest, __import__("uuid").UUID(first["id"]))
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.flush()
    else:
        path = f"/v1/me/consent-requests/{first['id']}/{answer}"
        assert client.post(path, headers=bearer(patient_token)).status_code in (200, 201)

    second = ask()

    assert second["id"] != first["id"]
    followed = client.get(f"/v1/consent-requests/{first['id']}", headers=bearer(pharma_token))
    assert followed.json["status"] != "pending"


def test_the_org_sees_the_terms_the_patient_granted_once_approved(
    client, patient_token, pharma_token, ask, org_credentials
):
    rival = org_credentials("pharma", name="Rival Pharma")
    request = ask()
    path = f"/v1/consent-requests/{request['id']}"
    assert client.get(path, headers=bearer(pharma_token)).json["granted"] is None
    until = _soon(days=30)
    approved = client.post(
        f"/v1/me/consent-requests/{request['id']}/approve",
        json={
            "data_categories": ["lab_results"],
            "purposes": ["HRESCH"],
            "valid_until": until,
            "max_uses": 10,
            "data_period": {"start": "2022-01-01"},
            "exclusions": [{"org_ids": [str(rival.org.id)]}, {"purposes": ["CLINTRL"]}],
        },
        headers=bearer(patient_token),
    ).json
    # Amended later: the request still shows what was granted in answer to it.
    client.patch(
        f"/v1/me/consents/{approved['id']}", json={"max_uses": 5}, headers=bearer(patient_token)
    )

    followed = client.get(path, headers=bearer(pharma_token)).json

    assert followed["data_categories"] == ["lab_results", "medications", "genomics"]  # as asked
    assert followed["granted"] == {
        "consent_id": shown(pharma_token, approved["id"]),
        "data_categories": ["lab_results"],
        "purposes": ["HRESCH"],
        "actions": ["access", "use"],
        "data_period": {"start": "2022-01-01", "end": "2025-12-31"},
        "valid_from": approved["valid_from"],
        "valid_until": approved["valid_until"],
        "max_uses": 10,
        "exclusions": [{"data_categories": [], "purposes": ["CLINTRL"], "org_ids": []}],
    }
    listed = client.get("/v1/consent-requests", headers=bearer(pharma_token)).json["items"]
    assert [r["granted"] for r in listed] == [followed["granted"]]


@pytest.mark.parametrize("answer", ["deny", "withdraw"])
def test_a_request_not_approved_grants_nothing(client, patient_token, pharma_token, ask, answer):
    request = ask()
    if answer == "deny":
        client.post(f"/v1/me/consent-requests/{request['id']}/deny", headers=bearer(patient_token))
    else:
        client.post(f"/v1/consent-requests/{request['id']}/withdraw", headers=bearer(pharma_token))
    followed = client.get(f"/v1/consent-requests/{request['id']}", headers=bearer(pharma_token))
    assert (followed.json["consent_id"], followed.json["granted"]) == (None, None)
