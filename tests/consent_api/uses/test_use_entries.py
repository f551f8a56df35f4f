"""Every data use decision is in the patient's audit log, by the organisation that reported
it: permitted (with the consents it relied on), emergency, refused (kept though the report
is answered 403); the patient reads it opened in GET /v1/me/audit and proves it; an erased
patient's uses make no entry (no key is made for them again)."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, event, select

from consent_api.audit import entries
from consent_api.audit import log as audit
from consent_api.audit.models import AuditEntry, AuditKey
from server.db import db, utcnow
from tests.conftest import bearer, org_id_of, ref, report, use_body
from tests.factories import PatientFactory
from tests.support import run_job_now


def _entries(patient_id) -> list[AuditEntry]:
    return db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.patient_id == patient_id, AuditEntry.kind.startswith("data_use."))
        .order_by(AuditEntry.recorded_at, AuditEntry.id)
    ).all()


def test_a_permitted_use_is_audited_with_its_consent_and_the_patient_reads_it(
    client, hospital_token, grant
):
    patient, consent, token = grant()
    answer = report(client, hospital_token, use_body(ref(hospital_token, patient)))
    assert answer.status_code == 201, answer.json

    (entry,) = _entries(patient.id)
    assert (entry.kind, entry.actor_type) == ("data_use.permitted", "organisation")
    assert entry.actor_id == str(org_id_of(hospital_token))
    assert entry.subjects["data_use"] == answer.json["id"]
    listed = client.get("/v1/me/audit", headers=bearer(token)).json["items"]
    (shown,) = [e for e in listed if e["kind"] == "data_use.permitted"]
    use = shown["payload"]["use"]
    assert (use["outcome"], use["reason"], use["purpose"]) == ("permitted", "permitted", "TREAT")
    assert use["data_categories"] == ["lab_results"]
    assert use["consents"] == [{"consent_id": consent["id"], "consent_version": 1}]

    run_job_now("sequence-audit")
    proof = client.get(f"/v1/me/audit/{shown['id']}/proof", headers=bearer(token))
    assert proof.status_code == 200, proof.json


def test_a_refused_attempt_is_audited_though_the_report_is_refused(client, hospital_token):
    patient = PatientFactory()
    answer = report(client, hospital_token, use_body(ref(hospital_token, patient)))
    assert answer.status_code == 403

    (entry,) = _entries(patient.id)
    assert entry.kind == "data_use.refused"
    assert entry.subjects["data_use"] == answer.json["data_use_id"]
    assert db.session.get(AuditKey, patient.id) is not None  # sealed under the patient's key


def test_emergency_access_is_audited_as_such(client, hospital_token):
    patient = PatientFactory()
    body = use_body(ref(hospital_token, patient), purpose="ETREAT")
    assert report(client, hospital_token, body).status_code == 201
    assert [e.kind for e in _entries(patient.id)] == ["data_use.emergency"]


def test_an_erased_patients_uses_make_no_entry(client, hospital_token, patient, patient_token):
    patient_ref = ref(hospital_token, patient)
    assert client.delete("/v1/me", headers=bearer(patient_token)).status_code == 204
    assert report(client, hospital_token, use_body(patient_ref)).status_code == 403
    assert _entries(patient.id) == []
    assert db.session.get(AuditKey, patient.id) is None


def test_a_use_reads_no_key_of_its_own_when_the_patient_has_one(client, hospital_token, grant):
    patient, _, _ = grant()  # the grant's entry made the patient's key
    statements: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:
        statements.append(" ".join(statement.split()))

    engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        answer = report(client, hospital_token, use_body(ref(hospital_token, patient)))
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    assert answer.status_code == 201, answer.json
    assert [e.kind for e in _entries(patient.id)] == ["data_use.permitted"]
    # read with the patient (joined), never on its own, never made again
    assert [s for s in statements if "FROM audit_keys" in s or "INTO audit_keys" in s] == []
    assert any("JOIN audit_keys" in s for s in statements)


def test_a_key_read_in_one_transaction_is_not_used_in_the_next(app, patient):
    def entry_for(patient_id) -> AuditEntry:
        entry_id = audit.record(
            "test.kept",
            actor=audit.SYSTEM,
            subjects={"patient": patient_id},
            payload={"n": 1},
            now=utcnow(),
            patient_id=patient_id,
        )
        db.session.commit()
        return db.session.get(AuditEntry, entry_id)

    first = entry_for(patient.id)
    old = db.session.get(AuditKey, patient.id).key
    db.session.execute(delete(AuditKey).where(AuditKey.patient_id == patient.id))
    db.session.commit()  # destroyed meanwhile, as an erasure would

    second = entry_for(patient.id)
    new = db.session.get(AuditKey, patient.id).key
    assert new != old
    opened = entries.open_sealed(new, second.payload, entry_id=second.id.bytes)
    assert opened.payload == {"n": 1}
    with pytest.raises(entries.Unreadable):
        entries.open_sealed(new, first.payload, entry_id=first.id.bytes)
