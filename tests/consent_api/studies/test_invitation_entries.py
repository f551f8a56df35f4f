"""A study's invitations are in each invited patient's audit log: filed by the system for the
study, in the fan-out's batch, sealed under each patient's own key (made for those who had
none yet), with what the patient was asked."""

from __future__ import annotations

from sqlalchemy import select

from consent_api.audit.models import AuditEntry, AuditKey
from consent_api.requests.models import ConsentRequest
from server.db import db
from tests.conftest import bearer
from tests.support import run_job_now


def test_each_invitation_is_filed_in_its_patients_log_by_the_system(
    client, opted_in, approved_study
):
    invited = opted_in(3)
    study = approved_study()
    assert db.session.get(AuditKey, invited[0][0].id) is None  # no entry yet, so no key

    assert run_job_now("invite-to-studies") == 3

    rows = db.session.scalars(
        select(AuditEntry).where(AuditEntry.kind == "consent_request.filed")
    ).all()
    assert sorted(row.patient_id for row in rows) == sorted(p.id for p, _ in invited)
    for patient, token in invited:
        (request,) = db.session.scalars(
            select(ConsentRequest).where(ConsentRequest.patient_id == patient.id)
        ).all()
        (entry,) = [row for row in rows if row.patient_id == patient.id]
        assert (entry.actor_type, entry.actor_id) == ("system", None)
        assert entry.subjects == {
            "patient": str(patient.id),
            "request": str(request.id),
            "org": str(request.org_id),
            "study": study["id"],
        }
        listed = client.get("/v1/me/audit", headers=bearer(token)).json["items"]
        (shown,) = [e for e in listed if e["kind"] == "consent_request.filed"]
        asked = shown["payload"]["request"]
        assert (asked["status"], asked["purposes"]) == ("pending", request.purposes)
        assert asked["summary"] == request.summary

    run_job_now("sequence-audit")
    _, token = invited[0]
    (shown,) = client.get("/v1/me/audit", headers=bearer(token)).json["items"]
    proof = client.get(f"/v1/me/audit/{shown['id']}/proof", headers=bearer(token))
    assert proof.status_code == 200, proof.json
