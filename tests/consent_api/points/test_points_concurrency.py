"""Points under real concurrency: 200 paid uses and redemptions against one patient from
several threads, each with its own app instance (as separate processes would be), with real
commits. The wallet ends exact, never went negative, and nothing was posted twice."""

import random
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from consent_api.audit.log import SYSTEM
from consent_api.auth.clients import create_app_client
from consent_api.links import refs
from consent_api.points import ledger
from consent_api.points.models import Account, Reward
from consent_api.points.models import Transaction as LedgerTransaction
from consent_api.registration import service as registrations
from consent_api.requests import service as requests
from consent_api.requests.schemas import RequestIn
from consent_api.uses.verify import verify
from server.app import create_app
from server.db import db, utcnow
from tests.conftest import REDIRECT_URI, app_config, basic_auth, wipe_committed
from tests.factories import OrganisationFactory, PatientFactory
from tests.support import dispose, issue_patient_token, race

THREADS = 10
OPERATIONS = 200
FEE, SHARE, COST = 100, 85, 60  # no holder: the patient's share of 100 is 85


@pytest.fixture
def world(app, database_url):
    setup = create_app(app_config(database_url))
    with setup.app_context():
        pharma = registrations.register_org(name="Acme Pharma", type="pharma")
        patient = PatientFactory()
        app_client = create_app_client(name="Wallet", redirect_uris=[REDIRECT_URI])
        body = RequestIn().load(
            {
                "patient_ref": refs.encode(pharma.org.id, patient.id),
                "data_categories": ["lab_results"],
                "purposes": ["HRESCH"],
                "actions": ["use"],
                "justification": "Kidney study",
                "fee_per_use": FEE,
                "expires_at": (utcnow() + timedelta(days=7)).isoformat(),
            }
        )
        asked = requests.create(pharma.org, body, now=utcnow())
        requests.approve(patient, asked.id, {}, now=utcnow())
        reward = Reward(name="Voucher", cost=COST, active=True)
        db.session.add(reward)
        db.session.flush()
        made = {
            "pharma": (pharma.client.client_id, pharma.client_secret),
            "patient_id": patient.id,
            "patient_ref": refs.encode(pharma.org.id, patient.id),
            "reward_id": str(reward.id),
            "patient_token": issue_patient_token(patient, app_client),
        }
        db.session.commit()
        pharma_token = setup.test_client().post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic_auth(*made["pharma"]),
        )
        made["pharma_token"] = pharma_token.json["access_token"]
    yield setup, made
    wipe_committed(setup)


def test_200_concurrent_uses_and_redemptions_leave_the_wallet_exact(world, database_url):
    setup, made = world
    # 67 uses, each sent twice (a client retry with the same key and body), 66 redemptions,
    # shuffled: 200 requests.
    operations = [("use", f"use-{k}") for k in range(67) for _ in range(2)]
    operations += [("redeem", f"redeem-{k}") for k in range(OPERATIONS - len(operations))]
    random.Random(7).shuffle(operations)
    occurred_at = utcnow().isoformat()
    apps = [create_app(app_config(database_url)) for _ in range(THREADS)]
    results: list[tuple[str, int]] = []
    lock = threading.Lock()

    def worker(index, application):
        def work():
            client = application.test_client()
            for kind, key in operations[index::THREADS]:
                if kind == "redeem":
                    response = _redeem(client, made, key)
                else:
                    response = client.post(
                        "/v1/data-uses",
                        json={
                            "patient_ref": made["patient_ref"],
                            "data_categories": ["lab_results"],
                            "purpose": "HRESCH",
                            "action": "use",
                            "record_count": 1,
                            "occurred_at": occurred_at,
                        },
                        headers={
                            "Authorization": f"Bearer {made['pharma_token']}",
                            "Idempotency-Key": key,
                        },
                    )
                with lock:
                    results.append((kind, response.status_code))

        return work

    try:
        race([worker(i, a) for i, a in enumerate(apps)], timeout=300)
    finally:
        dispose(*apps)

    assert len(results) == OPERATIONS
    statuses = {(kind, status) for kind, status in results}
    assert statuses <= {("use", 201), ("redeem", 201), ("redeem", 409)}, statuses
    redeemed = sum(1 for kind, status in results if (kind, status) == ("redeem", 201))
    with setup.app_context():
        postings = db.session.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.kind == "use_fee")
        )
        balance = ledger.wallet_balance(made["patient_id"])
        found = verify()
        db.session.remove()
    assert postings == 67  # one posting per use, none for its retry
    assert balance == postings * SHARE - redeemed * COST
    assert balance >= 0
    assert redeemed > 0
    assert found["ok"], found


def _redeem(client, made, key):
    """The patient redeems the world's reward under Idempotency-Key `key`."""
    return client.post(
        "/v1/me/points/redemptions",
        json={"reward_id": made["reward_id"]},
        headers={"Authorization": f"Bearer {made['patient_token']}", "Idempotency-Key": key},
    )


ROUNDS, RACERS = 30, 6


@pytest.fixture
def racers(app, database_url):
    apps = [create_app(app_config(database_url)) for _ in range(RACERS)]
    yield apps
    wipe_committed(apps[0])
    dispose(*apps)


def test_first_postings_to_the_same_new_accounts_at_once_all_succeed(racers):
    # A posting creates the accounts it needs (INSERT ... ON CONFLICT). Several transactions
    # creating the same accounts at the same moment must all go on: it was a 500 now and then
    # on PostgreSQL, the new row clashing on (kind, owner) as well as on its id.
    with racers[0].app_context():
        orgs = [(OrganisationFactory().id, OrganisationFactory().id) for _ in range(ROUNDS)]
        db.session.commit()
        db.session.remove()

    def poster(index, application):
        def post():
            for number, (payer, payee) in enumerate(orgs):
                gate.wait(timeout=60)  # every racer starts each round together
                with application.app_context():
                    try:
                        legs = [ledger.organisation(payer, -1), ledger.organisation(payee, 1)]
                        ledger.post(
                            f"race:{number}:{index}", "redemption", legs, by=SYSTEM, now=utcnow()
                        )
                        db.session.commit()
                    finally:
                        db.session.remove()

        return post

    gate = threading.Barrier(RACERS)
    race([poster(i, application) for i, application in enumerate(racers)], timeout=120)
    with racers[0].app_context():
        accounts = db.session.scalar(select(func.count()).select_from(Account))
        postings = db.session.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.key.like("race:%"))
        )
        db.session.remove()
    assert (accounts, postings) == (2 * ROUNDS, ROUNDS * RACERS)


def _redemption(application, made, key):
    def redeem():
        response = _redeem(application.test_client(), made, key)
        return response.status_code, response.get_json()

    return redeem


def _one_paid_use(setup, made) -> None:
    answer = setup.test_client().post(
        "/v1/data-uses",
        json={
            "patient_ref": made["patient_ref"],
            "data_categories": ["lab_results"],
            "purpose": "HRESCH",
            "action": "use",
            "record_count": 1,
            "occurred_at": utcnow().isoformat(),
        },
        headers={"Authorization": f"Bearer {made['pharma_token']}", "Idempotency-Key": "paid-1"},
    )
    assert answer.status_code == 201, answer.json


@pytest.mark.parametrize("same_key", [False, True], ids=["own keys", "one key"])
def test_concurrent_redemptions_spend_one_balance_once(world, database_url, same_key):
    """Eight redemptions of a 60-point reward at once against a balance of 85: exactly one is
    paid for. With one Idempotency-Key, the others answer the same redemption again."""
    setup, made = world
    _one_paid_use(setup, made)
    apps = [create_app(app_config(database_url)) for _ in range(8)]
    try:
        keys = ["the-key" if same_key else f"key-{n}" for n in range(len(apps))]
        answers = race([_redemption(a, made, k) for a, k in zip(apps, keys, strict=True)])
    finally:
        dispose(*apps)
    created = [body for status, body in answers if status == 201]
    if same_key:  # every answer is the one redemption (or its key still in use: retry later)
        assert {status for status, _ in answers} <= {201, 409}, answers
        assert len({body["id"] for body in created}) == 1, answers
    else:
        assert len(created) == 1, answers
        assert {status for status, _ in answers} == {201, 409}, answers
    with setup.app_context():
        balance = ledger.wallet_balance(made["patient_id"])
        redemptions = db.session.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.kind == "redemption")
        )
        db.session.remove()
    assert (balance, redemptions) == (SHARE - COST, 1)
