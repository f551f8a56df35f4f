"""Every ledger posting is in the audit log, by whoever caused it: a paid use's fee by the
organisation, a redemption by the patient, an expiry by the system, a reversal by the
operator; sealed under the patient's key when their wallet moves."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from consent_api.audit import entries
from consent_api.audit.models import AuditEntry, AuditKey
from consent_api.points import service as points
from consent_api.points.models import Lot, Redemption, Transaction
from server.db import db, utcnow
from tests.conftest import bearer, org_id_of
from tests.consent_api.points.conftest import paid_use, redeem
from tests.support import run_job_now


def _postings(**subject) -> list[AuditEntry]:
    ((name, value),) = subject.items()
    rows = db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.kind == "points.posted")
        .order_by(AuditEntry.recorded_at, AuditEntry.id)
    ).all()
    return [row for row in rows if row.subjects.get(name) == str(value)]


def _opened(row: AuditEntry) -> dict:
    key = db.session.get(AuditKey, row.patient_id).key
    return entries.open_sealed(key, row.payload, entry_id=row.id.bytes).payload


def test_a_paid_use_posts_its_fee_in_the_patients_log(client, paid, pharma_token):
    patient, token, _ = paid(fee=100)
    use = paid_use(client, pharma_token, patient.id)
    assert use.status_code == 201, use.json

    (entry,) = _postings(data_use=use.json["id"])
    assert (entry.actor_type, entry.actor_id) == ("organisation", str(org_id_of(pharma_token)))
    assert entry.patient_id == patient.id
    transaction = db.session.scalars(
        select(Transaction).where(Transaction.data_use_id == uuid.UUID(use.json["id"]))
    ).one()
    assert entry.subjects["transaction"] == str(transaction.id)
    posted = _opened(entry)["transaction"]
    assert posted["kind"] == "use_fee"
    assert sum(leg["amount"] for leg in posted["legs"]) == 0
    (wallet,) = [leg for leg in posted["legs"] if leg["account"] == "patient"]
    assert wallet == {
        "account": "patient",
        "owner_id": str(patient.id),
        "amount": use.json["points_credited"],
    }
    listed = client.get("/v1/me/audit", headers=bearer(token)).json["items"]
    assert "points.posted" in [e["kind"] for e in listed]


def test_a_redemption_and_its_reversal_are_posted_by_their_actors(
    client, paid, pharma_token, reward
):
    patient, token, _ = paid(fee=100)
    assert paid_use(client, pharma_token, patient.id).status_code == 201
    redeemed = redeem(client, token, reward(cost=50)["id"])
    assert redeemed.status_code == 201, redeemed.json
    transaction_id = db.session.get(Redemption, uuid.UUID(redeemed.json["id"])).transaction_id
    (entry,) = _postings(transaction=transaction_id)
    assert (entry.kind, entry.actor_type, entry.patient_id) == (
        "points.posted",
        "patient",
        patient.id,
    )
    assert _opened(entry)["transaction"]["kind"] == "redemption"

    reversal = points.reverse(transaction_id, reason="voucher never sent", now=utcnow())
    db.session.commit()
    (entry,) = _postings(reverses=transaction_id)
    assert (entry.actor_type, entry.subjects["transaction"]) == ("operator", str(reversal.id))
    assert _opened(entry)["transaction"]["details"]["reason"] == "voucher never sent"


def test_a_refused_posting_makes_no_entry(client, paid, pharma_token, reward):
    patient, token, _ = paid(fee=10)
    assert paid_use(client, pharma_token, patient.id).status_code == 201
    before = len(_postings(patient=patient.id))
    assert before == 1
    assert redeem(client, token, reward(cost=50)["id"]).status_code == 409
    assert len(_postings(patient=patient.id)) == before
    assert len(_postings(patient=patient.id)) == before


def test_nothing_after_an_erasure_makes_the_patient_a_key_again(client, paid, pharma_token):
    patient, token, _ = paid(fee=100)
    assert paid_use(client, pharma_token, patient.id).status_code == 201
    assert client.delete("/v1/me", headers=bearer(token)).status_code == 204
    for lot in db.session.scalars(select(Lot).where(Lot.remaining > 0)).all():
        lot.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()

    run_job_now("expire-points")

    assert db.session.scalars(select(Transaction).where(Transaction.kind == "expiry")).all()
    assert db.session.get(AuditKey, patient.id).key is None
    assert len(_postings(patient=patient.id)) == 1  # the fee before the erasure, not the expiry
