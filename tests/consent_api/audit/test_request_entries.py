"""Each step of a consent request is in the patient's audit log, with who took it: filed and
withdrawn by the organisation, approved and denied by the patient, lapsed by the sweep; a
request to an erased patient makes no entry (no key is made for them again)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update

from consent_api.audit.models import AuditEntry, AuditKey
from consent_api.requests.models import ConsentRequest
from server.db import db, utcnow
from tests.conftest import bearer, org_id_of, ref
from tests.support import run_job_now


def _ask(client, token, patient, purposes):
    body = {
        "patient_ref": ref(token, patient),
        "data_categories": ["lab_results"],
        "purposes": purposes,
        "actions": ["use"],
        "justification": "Outcomes study.",
        "expires_at": (utcnow() + timedelta(days=7)).isoformat(),
    }
    answer = client.post("/v1/consent-requests", json=body, headers=bearer(token))
    assert answer.status_code == 201, answer.json
    return answer.json["id"]


def _steps(patient_id) -> list[tuple[str, str, str]]:
    rows = db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.patient_id == patient_id, AuditEntry.kind.startswith("consent_request."))
        .order_by(AuditEntry.recorded_at, AuditEntry.id)
    )
    return [(row.kind, row.actor_type, row.subjects["request"]) for row in rows]


def test_every_step_of_a_request_is_audited_with_its_actor(
    client, token_for, patient, patient_token
):
    pharma = token_for("pharma")
    approved = _ask(client, pharma, patient, ["HRESCH"])
    denied = _ask(client, pharma, patient, ["CLINTRL"])
    withdrawn = _ask(client, pharma, patient, ["PUBHLTH"])
    lapsed = _ask(client, pharma, patient, ["HOPERAT"])
    me = "/v1/me/consent-requests"
    assert client.post(f"{me}/{approved}/approve", headers=bearer(patient_token)).status_code == 201
    assert (
        client.post(f"{me}/{denied}/deny", json={}, headers=bearer(patient_token)).status_code
        == 200
    )
    assert (
        client.post(
            f"/v1/consent-requests/{withdrawn}/withdraw", headers=bearer(pharma)
        ).status_code
        == 200
    )
    db.session.execute(
        update(ConsentRequest)
        .where(ConsentRequest.id == uuid.UUID(lapsed))
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    assert run_job_now("expire-requests") == 1

    steps = _steps(patient.id)
    filed = [(kind, actor) for kind, actor, _ in steps if kind == "consent_request.filed"]
    assert filed == [("consent_request.filed", "organisation")] * 4
    assert [s for s in steps if s[0] != "consent_request.filed"] == [
        ("consent_request.approved", "patient", approved),
        ("consent_request.denied", "patient", denied),
        ("consent_request.withdrawn", "organisation", withdrawn),
        ("consent_request.lapsed", "system", lapsed),
    ]
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.kind == "consent_request.withdrawn")
    ).one()
    assert entry.actor_id == str(org_id_of(pharma))


def test_a_request_to_an_erased_patient_makes_no_entry(client, token_for, patient, patient_token):
    pharma = token_for("pharma")
    patient_ref = ref(pharma, patient)
    assert client.delete("/v1/me", headers=bearer(patient_token)).status_code == 204
    body = {
        "patient_ref": patient_ref,
        "data_categories": ["lab_results"],
        "purposes": ["HRESCH"],
        "actions": ["use"],
        "justification": "Outcomes study.",
        "expires_at": (utcnow() + timedelta(days=7)).isoformat(),
    }
    answer = client.post("/v1/consent-requests", json=body, headers=bearer(pharma))
    assert answer.status_code == 201  # answered like any other: nothing tells who exists
    assert _steps(patient.id) == []
    assert db.session.get(AuditKey, patient.id).key is None  # destroyed, not made again
