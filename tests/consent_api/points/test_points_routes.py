"""Points over HTTP: paid uses credit the patient through the ledger; the wallet, the
statement, rewards and redemptions; the operator's terms."""

import uuid
from datetime import timedelta

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from consent_api.points.models import Entry, Lot
from consent_api.uses.models import DataUse
from notifications.models import Notification
from server.cli import main
from server.db import db, utcnow
from tests.conftest import bearer, ref, report
from tests.consent_api.points.conftest import paid_use, redeem
from tests.factories import OrganisationFactory, PatientFactory
from tests.support import all_pages, run_job_now


def _wallet(client, token):
    response = client.get("/v1/me/points", headers=bearer(token))
    assert response.status_code == 200
    return response.json


def _verify(app) -> dict:
    import json

    result = CliRunner().invoke(main, ["ledger", "verify"], obj=ScriptInfo(create_app=lambda: app))
    return json.loads(result.output), result.exit_code


def test_a_paid_use_splits_the_fee_and_credits_the_patient(client, app, paid, pharma_token):
    patient, token, _ = paid(fee=100)
    holder = OrganisationFactory(name="City Hospital")
    response = paid_use(client, pharma_token, patient.id, holder_org_id=str(holder.id))

    assert response.status_code == 201, response.json
    assert response.json["points_credited"] == 51
    assert _wallet(client, token) == {"balance": 51, "expiring_soon": 0}
    notice = db.session.scalars(select(Notification).where(Notification.type == "data_use")).one()
    assert "You earned 51 health points." in notice.body
    assert notice.data["points"] == "51"
    amounts = sorted(db.session.scalars(select(Entry.amount)).all())
    assert amounts == [-100, 15, 34, 51]
    found, code = _verify(app)
    assert (found["ok"], code) == (True, 0)


def test_without_a_holder_the_patient_gets_the_holders_share(client, paid, pharma_token):
    patient, token, _ = paid(fee=100)
    assert paid_use(client, pharma_token, patient.id).json["points_credited"] == 85
    assert _wallet(client, token)["balance"] == 85


def test_a_replayed_use_posts_nothing_twice(client, app, paid, pharma_token):
    patient, token, _ = paid(fee=100)
    body = {
        "patient_ref": ref(pharma_token, patient),
        "data_categories": ["lab_results"],
        "purpose": "HRESCH",
        "action": "use",
        "record_count": 1,
        "occurred_at": utcnow().isoformat(),
    }
    first = report(client, pharma_token, body, key="paid-1")
    again = report(client, pharma_token, body, key="paid-1")
    assert again.json == first.json
    assert _wallet(client, token)["balance"] == 85
    assert len(db.session.scalars(select(Entry.id)).all()) == 3
    assert _verify(app)[0]["paid_uses_without_exactly_one_posting"] == 0


def test_unpaid_and_refused_uses_post_nothing(client, hospital_token, grant, pharma_token):
    patient, _, _ = grant()
    assert (
        report(client, hospital_token, _use(ref(hospital_token, patient))).json["points_credited"]
        == 0
    )
    refused = paid_use(client, pharma_token, PatientFactory().id)
    assert refused.status_code == 403
    assert db.session.scalars(select(Entry.id)).all() == []


def _use(patient_ref):
    return {
        "patient_ref": patient_ref,
        "data_categories": ["lab_results"],
        "purpose": "TREAT",
        "action": "use",
        "record_count": 1,
        "occurred_at": utcnow().isoformat(),
    }


def test_the_statement_explains_each_line(client, paid, pharma_token, reward):
    patient, token, _ = paid(fee=100)
    use = paid_use(client, pharma_token, patient.id).json
    voucher = reward(cost=30, name="Pharmacy voucher")
    assert redeem(client, token, voucher["id"]).status_code == 201

    lines = client.get("/v1/me/points/ledger", headers=bearer(token)).json["items"]
    spent, earned = lines
    assert (spent["kind"], spent["amount"]) == ("redemption", -30)
    assert spent["reward"] == {"name": "Pharmacy voucher"}
    assert (earned["kind"], earned["amount"]) == ("use_fee", 85)
    assert earned["data_use"]["id"] == use["id"]
    assert earned["data_use"]["organisation"]["name"] == "Acme Pharma"
    assert earned["data_use"]["purpose"] == {"code": "HRESCH", "label": "health research"}
    assert (earned["data_use"]["fee"], earned["data_use"]["patient_share"]) == (100, 85)
    assert "Acme Pharma paid 100 points" in earned["description"]


def test_the_statement_pages_with_a_cursor(client, paid, pharma_token):
    patient, token, _ = paid(fee=10)
    for _ in range(5):
        paid_use(client, pharma_token, patient.id)
    lines = all_pages(client, "/v1/me/points/ledger", headers=bearer(token))
    seen = [line["id"] for line in lines]
    assert len(seen) == len(set(seen)) == 5


def test_redemptions_spend_points_and_refuse_an_overdraft(client, app, paid, pharma_token, reward):
    patient, token, _ = paid(fee=100)
    paid_use(client, pharma_token, patient.id)  # 85 points
    voucher = reward(cost=50)
    spent = redeem(client, token, voucher["id"], key="r-1")
    assert spent.status_code == 201, spent.json
    assert (spent.json["cost"], spent.json["balance"]) == (50, 35)
    again = redeem(client, token, voucher["id"], key="r-1")
    assert again.json == spent.json
    assert again.headers["Idempotent-Replayed"] == "true"

    short = redeem(client, token, voucher["id"], key="r-2")
    assert short.status_code == 409
    assert short.json["code"] == "insufficient_points"
    assert _wallet(client, token)["balance"] == 35
    assert _verify(app)[0]["ok"]


def test_redeeming_a_retired_or_unknown_reward_names_the_field(client, admin_token, paid, reward):
    _, token, _ = paid()
    voucher = reward()
    gone = client.delete(f"/v1/admin/rewards/{voucher['id']}", headers=bearer(admin_token))
    assert gone.status_code == 204
    assert client.get("/v1/rewards").json["items"] == []
    response = redeem(client, token, voucher["id"])
    assert response.status_code == 422
    assert "reward_id" in response.json["errors"]


def test_the_operator_sets_the_split_for_later_uses(client, admin_token, paid, pharma_token):
    got = client.get("/v1/admin/points-terms", headers=bearer(admin_token)).json
    assert got == {"commission_bp": 1500, "patient_share_bp": 6000}
    put = client.put(
        "/v1/admin/points-terms",
        json={"commission_bp": 2000, "patient_share_bp": 5000},
        headers=bearer(admin_token),
    )
    assert put.json == {"commission_bp": 2000, "patient_share_bp": 5000}
    patient, _, _ = paid(fee=100)
    holder = OrganisationFactory()
    answer = paid_use(client, pharma_token, patient.id, holder_org_id=str(holder.id))
    assert answer.json["points_credited"] == 40  # 100 - 20 = 80, half to the patient


def test_patients_cannot_change_the_terms(client, patient_token):
    response = client.put(
        "/v1/admin/points-terms",
        json={"commission_bp": 0, "patient_share_bp": 10_000},
        headers=bearer(patient_token),
    )
    assert response.status_code == 403


def test_points_expire_oldest_first_with_a_warning_30_days_ahead(
    client, app, paid, pharma_token, reward
):

    patient, token, _ = paid(fee=10)
    for _ in range(3):
        paid_use(client, pharma_token, patient.id)  # 10 - 1 commission: lots of 9
    lots = db.session.scalars(select(Lot).order_by(Lot.created_at)).all()
    assert [lot.remaining for lot in lots] == [9, 9, 9]
    oldest, middle, _newest = lots
    assert oldest.expires_at.year == utcnow().year + 2  # 24 months

    oldest.expires_at = utcnow() + timedelta(days=10)
    middle.expires_at = utcnow() + timedelta(days=40)
    assert _wallet(client, token) == {"balance": 27, "expiring_soon": 9}
    assert run_job_now("warn-expiring-points") == 1
    assert run_job_now("warn-expiring-points") == 0  # once per lot
    warning = db.session.scalars(
        select(Notification).where(Notification.type == "points_expiring")
    ).one()
    assert warning.title == "9 health points expire soon"

    assert redeem(client, token, reward(cost=5)["id"]).status_code == 201  # from the oldest lot
    assert [lot.remaining for lot in lots] == [4, 9, 9]
    oldest.expires_at = utcnow() - timedelta(seconds=1)
    assert run_job_now("expire-points") == 4  # four points to breakage
    assert run_job_now("expire-points") == 0
    assert _wallet(client, token)["balance"] == 18
    found, _ = _verify(app)
    assert found["ok"], found


def test_the_ledger_is_append_only_in_the_database(client, paid, pharma_token):
    patient, _, _ = paid(fee=10)
    paid_use(client, pharma_token, patient.id)
    db.session.commit()
    for statement in (
        "UPDATE ledger_entries SET amount = amount + 1",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_transactions SET kind = 'expiry'",
    ):
        with pytest.raises(DBAPIError, match="append-only"), db.session.begin_nested():
            db.session.execute(text(statement))


def test_verify_finds_an_unbalanced_transaction(app, client, paid, pharma_token):
    import uuid

    from consent_api.points import ledger
    from consent_api.points.models import Transaction

    patient, _, _ = paid(fee=10)
    paid_use(client, pharma_token, patient.id)
    stray = Transaction(id=uuid.uuid4(), key="stray", kind="reversal", details={})
    db.session.add(stray)
    db.session.flush()
    db.session.add(Entry(transaction_id=stray.id, account_id=ledger.TRUSTEE, amount=5))
    db.session.commit()
    found, code = _verify(app)
    assert code == 1
    assert (found["unbalanced_transactions"], found["sum_of_all_entries"]) == (1, 5)


def _cli(app, *args):
    import json

    result = CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app))
    return json.loads(result.output.splitlines()[-1]), result.exit_code


def test_a_mistaken_posting_is_corrected_by_a_reversal(client, app, paid, pharma_token, reward):
    from consent_api.points.models import Transaction

    patient, token, _ = paid(fee=100)
    use = paid_use(client, pharma_token, patient.id).json
    posting = db.session.scalars(select(Transaction).where(Transaction.kind == "use_fee")).one()
    db.session.commit()

    answer, code = _cli(app, "ledger", "reverse", str(posting.id), "--reason", "wrong patient")
    assert code == 0, answer
    assert _wallet(client, token)["balance"] == 0
    amounts = db.session.scalars(
        select(Entry.amount).where(Entry.transaction_id == uuid.UUID(answer["reversal_id"]))
    ).all()
    assert sorted(amounts) == [-85, -15, 100]
    assert db.session.get(DataUse, uuid.UUID(use["id"])).points_credited == 85  # history kept
    found, _ = _verify(app)
    assert found["ok"], found

    again, code = _cli(app, "ledger", "reverse", str(posting.id), "--reason", "twice")
    assert (code, again["error"]) == (1, "already_reversed")  # a refusal, not a usage error


def test_points_already_spent_cannot_be_reversed(client, app, paid, pharma_token, reward):
    from consent_api.points.models import Transaction

    patient, token, _ = paid(fee=100)
    paid_use(client, pharma_token, patient.id)
    assert redeem(client, token, reward(cost=80)["id"]).status_code == 201
    posting = db.session.scalars(select(Transaction).where(Transaction.kind == "use_fee")).one()
    db.session.commit()
    answer, code = _cli(app, "ledger", "reverse", str(posting.id), "--reason", "late")
    assert (code, answer["error"]) == (1, "insufficient_points")  # issue 13: not a usage error
    assert _wallet(client, token)["balance"] == 5


def test_the_export_holds_the_wallet_statement_and_redemptions(client, paid, pharma_token, reward):
    patient, token, _ = paid(fee=100)
    paid_use(client, pharma_token, patient.id)
    voucher = reward(cost=40)
    redeem(client, token, voucher["id"])
    points = client.get("/v1/me/export", headers=bearer(token)).json["points"]
    assert (points["balance"], points["expiring_soon"]) == (45, 0)
    assert [line["amount"] for line in points["ledger"]] == [-40, 85]
    (redemption,) = points["redemptions"]
    assert (redemption["reward_id"], redemption["cost"]) == (voucher["id"], 40)


def test_amounts_must_be_whole_numbers(client, admin_token):
    reward = client.post(
        "/v1/admin/rewards", json={"name": "x", "cost": 5.5}, headers=bearer(admin_token)
    )
    terms = client.put(
        "/v1/admin/points-terms",
        json={"commission_bp": "10", "patient_share_bp": 1},
        headers=bearer(admin_token),
    )
    assert (reward.status_code, terms.status_code) == (422, 422)
    assert "cost" in reward.json["errors"]
    assert "commission_bp" in terms.json["errors"]


def test_only_an_active_data_holder_other_than_the_reporter_is_paid_as_holder(
    client, paid, pharma, pharma_token
):
    """Issue 10, finding 1: an invented holder (the reporter itself, the operator, a suspended
    hospital, a competing data user) is refused with a 422 and nothing is written."""
    patient, token, _ = paid(fee=100)
    invented = {
        "the reporter itself": pharma.org.id,
        "the operator": OrganisationFactory(type="operator").id,
        "a suspended hospital": OrganisationFactory(status="suspended", suspended_at=utcnow()).id,
        "a competing data user": OrganisationFactory(type="pharma").id,
        "an unknown organisation": uuid.uuid4(),
    }
    for who, holder_id in invented.items():
        answer = paid_use(client, pharma_token, patient.id, holder_org_id=str(holder_id))
        assert answer.status_code == 422, (who, answer.json)
        assert "holder_org_id" in answer.json["errors"], (who, answer.json)
    assert db.session.scalars(select(DataUse)).all() == []
    assert db.session.scalars(select(Entry)).all() == []
    log = client.get("/v1/me/access-log", headers=bearer(token))
    assert log.status_code == 200
    assert log.json["items"] == []

    hospital = OrganisationFactory(name="City Hospital")
    answer = paid_use(client, pharma_token, patient.id, holder_org_id=str(hospital.id))
    assert answer.status_code == 201, answer.json
    assert answer.json["points_credited"] == 51


def test_the_statement_says_what_the_patients_share_was(client, paid, pharma_token):
    """Issue 13: the line read "...paid 100 points for health research; your share"."""
    patient, token, _ = paid(100)
    assert paid_use(client, pharma_token, patient.id).status_code == 201
    (line,) = client.get("/v1/me/points/ledger", headers=bearer(token)).json["items"]
    assert line["description"] == (
        f"Acme Pharma paid 100 points for health research; your share: {line['amount']} points."
    )
