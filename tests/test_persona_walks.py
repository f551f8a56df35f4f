"""Each integrator's first day, walked through HTTP with real tokens (issue 13): the patient
app, the hospital, the data user. One test per persona, each a path a newcomer takes from the
README, asserting what each step should show; the details live in each package's tests."""

from __future__ import annotations

from datetime import timedelta

from server.db import utcnow
from tests.conftest import bearer, csrf_from, pkce_pair
from tests.support import run_job_now

MRN = {"system": "https://st-walk.example/mrn", "value": "W-100"}
STUDY = {"system": "https://walk-pharma.example/participant", "value": "P-7"}


def _org(client, token_for, org_credentials, org_type, name, **profile):
    registration = org_credentials(org_type, name=name)
    token = token_for(registration=registration)
    if profile:
        assert client.patch("/v1/org", json=profile, headers=bearer(token)).status_code == 200
    return token


def _link(client, patient_token, org_token, identifier):
    code = client.post("/v1/me/link-codes", json={}, headers=bearer(patient_token)).json["code"]
    body = {"code": code, "identifier": identifier}
    linked = client.post("/v1/patient-links", json=body, headers=bearer(org_token))
    assert linked.status_code == 201, linked.json
    return linked.json["patient_ref"]


def test_the_patient_apps_day(client, login, patient, token_for, org_credentials):
    """Sign in (PKCE, after saying no once), pick a grantee from the directory, grant, answer a
    request narrowed, read the access history and points, redeem, revoke, edit the profile."""
    params = login.authorize_params(pkce_pair()[1])
    form = client.get("/oauth/authorize", query_string=params)
    no = client.post(
        "/oauth/authorize",
        query_string=params,
        data={"decision": "deny", "csrf_token": csrf_from(form.text)},
    )
    assert "error=access_denied" in no.headers["Location"]
    me = bearer(login.tokens(patient.email)["access_token"])

    pharma_token = _org(
        client, token_for, org_credentials, "pharma", "Walk Pharma", website="https://walk.example"
    )
    (listed,) = client.get("/v1/orgs", query_string={"q": "Walk Pharma"}, headers=me).json["items"]
    assert listed["website"] == "https://walk.example"
    granted = client.post(
        "/v1/me/consents",
        json={
            "grantee": {"org_id": listed["id"]},
            "data_categories": ["vital_signs"],
            "purposes": ["PUBHLTH"],
            "actions": ["use"],
        },
        headers=me,
    )
    assert granted.json["grantee"]["org_type"] == "pharma"

    participant = _link(client, me["Authorization"].split()[1], pharma_token, STUDY)
    asked = client.post(
        "/v1/consent-requests",
        json={
            "patient_ref": participant,
            "data_categories": ["lab_results", "medications"],
            "purposes": ["HRESCH"],
            "actions": ["use"],
            "justification": "A study of kidney function.",
            "fee_per_use": 100,
            "expires_at": (utcnow() + timedelta(days=14)).isoformat(),
        },
        headers=bearer(pharma_token),
    ).json
    (pending,) = client.get("/v1/me/consent-requests", headers=me).json["items"]
    assert pending["status"] == "pending"
    approved = client.post(
        f"/v1/me/consent-requests/{asked['id']}/approve",
        json={"data_categories": ["lab_results"]},
        headers=me,
    )
    assert approved.status_code == 201
    use = {
        "patient_ref": participant,
        "data_categories": ["lab_results"],
        "purpose": "HRESCH",
        "action": "use",
        "record_count": 4,
        "occurred_at": utcnow().isoformat(),
    }
    headers = {**bearer(pharma_token), "Idempotency-Key": "walk-1"}
    assert client.post("/v1/data-uses", json=use, headers=headers).status_code == 201

    (entry,) = client.get("/v1/me/access-log", headers=me).json["items"]
    assert entry["reason"]["label"] == "allowed by your consent"
    balance = client.get("/v1/me/points", headers=me).json["balance"]
    assert balance == entry["points_credited"] > 0
    rewards = client.get("/v1/rewards").json["items"]
    assert all(reward["cost"] > balance for reward in rewards)  # nothing on offer yet

    revoked = client.post(
        f"/v1/me/consents/{approved.json['id']}/revoke", json={"reason": "done"}, headers=me
    )
    assert revoked.json["status"] == "revoked"
    renamed = client.patch("/v1/me", json={"display_name": "Walker"}, headers=me)
    assert renamed.json["display_name"] == "Walker"


def test_the_hospitals_day(client, token_for, org_credentials, patient_token):
    """Link a patient at the desk by MRN, check consent by it, report the use, ask the CDS
    Hooks service, read the consent as FHIR, and follow the events feed."""
    token = _org(client, token_for, org_credentials, "hospital", "St. Walk")
    _link(client, patient_token, token, MRN)
    grant = {
        "grantee": {"org_type": "hospital"},
        "data_categories": ["lab_results"],
        "purposes": ["TREAT"],
        "actions": ["access", "use"],
    }
    consent = client.post("/v1/me/consents", json=grant, headers=bearer(patient_token)).json

    question = {"data_category": "lab_results", "purpose": "TREAT", "action": "use"}
    check = client.post(
        "/v1/consent-checks", json={"patient_identifier": MRN, **question}, headers=bearer(token)
    ).json
    assert check["decision"] == "permit"
    use = {
        "patient_identifier": MRN,
        "data_categories": ["lab_results"],
        "purpose": "TREAT",
        "action": "use",
        "record_count": 2,
        "occurred_at": utcnow().isoformat(),
    }
    headers = {**bearer(token), "Idempotency-Key": "walk-h-1"}
    assert client.post("/v1/data-uses", json=use, headers=headers).status_code == 201

    cards = client.post(
        "/cds-services/patient-consent-consult",
        json={
            "hook": "patient-consent-consult",
            "hookInstance": "walk-1",
            "context": {
                "patientId": [MRN],
                "actor": [{"value": "st-walk"}],
                "purposeOfUse": ["TREAT"],
            },
        },
        headers=bearer(token),
    ).json["cards"]
    assert cards

    bundle = client.get(
        "/fhir/R5/Consent",
        query_string={"patient:identifier": f"{MRN['system']}|{MRN['value']}", "status": "active"},
        headers=bearer(token),
    )
    assert bundle.mimetype == "application/fhir+json"
    assert bundle.json["total"] == 1
    (held,) = client.get("/v1/consents", headers=bearer(token)).json["items"]
    one = client.get(f"/v1/consents/{held['id']}", headers=bearer(token))
    assert one.status_code == 200
    assert one.json["data_categories"] == consent["data_categories"]

    run_job_now("publish-events")  # what the worker does after each commit
    events = client.get("/v1/events", headers=bearer(token)).json
    assert "consent.granted" in {event["type"] for event in events["items"]}


def test_the_data_users_day(client, token_for, org_credentials, patient_token):
    """Ask for consent (once: a second ask is refused), read what was granted, report a paid
    use, read back its own uses and what it owes, and see the revocation arrive."""
    token = _org(client, token_for, org_credentials, "pharma", "Walk Research Pharma")
    participant = _link(client, patient_token, token, STUDY)
    ask = {
        "patient_ref": participant,
        "data_categories": ["lab_results"],
        "purposes": ["HRESCH"],
        "actions": ["use"],
        "justification": "A study of kidney function.",
        "fee_per_use": 40,
        "expires_at": (utcnow() + timedelta(days=14)).isoformat(),
    }
    asked = client.post("/v1/consent-requests", json=ask, headers=bearer(token))
    assert asked.status_code == 201
    again = client.post("/v1/consent-requests", json=ask, headers=bearer(token))
    assert (again.status_code, again.json["code"]) == (409, "duplicate_request")
    approved = client.post(
        f"/v1/me/consent-requests/{asked.json['id']}/approve",
        json={"max_uses": 5},
        headers=bearer(patient_token),
    ).json
    shown = client.get(f"/v1/consent-requests/{asked.json['id']}", headers=bearer(token)).json
    assert shown["status"] == "approved"
    assert shown["granted"]["max_uses"] == 5

    use = {
        "patient_ref": participant,
        "data_categories": ["lab_results"],
        "purpose": "HRESCH",
        "action": "use",
        "record_count": 10,
        "occurred_at": utcnow().isoformat(),
    }
    headers = {**bearer(token), "Idempotency-Key": "walk-p-1"}
    assert client.post("/v1/data-uses", json=use, headers=headers).status_code == 201
    (mine,) = client.get("/v1/data-uses", headers=bearer(token)).json["items"]
    assert mine["outcome"] == "permitted"
    owed = client.get("/v1/org/points", headers=bearer(token)).json
    assert owed["paid"] == 40

    client.post(f"/v1/me/consents/{approved['id']}/revoke", json={}, headers=bearer(patient_token))
    run_job_now("publish-events")
    types = [e["type"] for e in client.get("/v1/events", headers=bearer(token)).json["items"]]
    assert types[-1] == "consent.revoked"
