"""Webhooks through a real `consent-wallet worker` process and a real local receiver: woken
by the commit on PostgreSQL, and nothing lost when the worker is killed mid-delivery."""

import time
import uuid

import pytest

from consent_api.consents import service as consents
from consent_api.consents.schemas import ConsentIn
from consent_api.registration import service as registrations
from consent_api.webhooks import endpoints
from server.app import create_app
from server.db import db, utcnow
from tests.conftest import app_config, wipe_committed
from tests.factories import PatientFactory
from tests.support import WorkerProcess, wait_until


@pytest.fixture
def world(app, database_url, receiver):
    """A hospital with an endpoint at the receiver, committed; `change(n)` commits n consent
    changes (a patient's grant, then its revocation, by turns)."""
    setup = create_app(app_config(database_url))
    with setup.app_context():
        hospital = registrations.register_org(name="St Mary's", type="hospital")
        made = endpoints.create(
            hospital.org,
            {"url": receiver.url, "description": "", "event_types": []},
            now=utcnow(),
            allow_local=True,
        )
        receiver.secrets = [made.secret]
        org_id = hospital.org.id
        db.session.commit()

    def change(count: int) -> None:
        with setup.app_context():
            for n in range(count):
                patient = PatientFactory()
                body = ConsentIn().load(
                    {
                        "grantee": {"org_id": str(org_id)},
                        "data_categories": ["lab_results"],
                        "purposes": ["TREAT"],
                        "actions": ["use"],
                    }
                )
                consent = consents.create(patient, body, now=utcnow())
                if n % 2:
                    consents.revoke(patient, consent.id, "moved", now=utcnow())
                db.session.commit()

    yield change
    wipe_committed(setup)


def _worker_env(database_url: str, **more: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "PUSH_BACKEND": "log",
        "WEBHOOK_ALLOW_LOCAL": "1",
        "WEBHOOK_RETRY_BASE_SECONDS": "0.1",
        **more,
    }


def test_a_revocation_reaches_the_receiver_through_a_real_worker(world, database_url, receiver):
    world(2)  # a grant; a grant and its revocation
    with WorkerProcess(_worker_env(database_url)) as worker:
        wait_until(lambda: len(receiver.delivered()) == 3, timeout=60, what="three webhooks")
        assert worker.stop() == 0, worker.lines
    told = receiver.delivered()
    assert [e["type"] for e in told] == ["consent.granted", "consent.granted", "consent.revoked"]
    assert [e["sequence"] for e in told] == [1, 2, 3]
    assert all(arrival["verified"] for arrival in receiver.arrivals)


def test_a_commit_wakes_the_worker_to_send_its_webhook(world, database_url, receiver):
    """With polling an hour apart, the revocation still goes out at once: its commit
    notified the worker (PostgreSQL LISTEN/NOTIFY), which published and delivered it."""
    if not database_url.startswith("postgresql"):
        pytest.skip("only PostgreSQL notifies listeners of commits")
    env = _worker_env(database_url, OUTBOX_POLL_SECONDS="3600")
    with WorkerProcess(env) as worker:
        worker.wait_for_line("listening for commits on events_due", timeout=60)
        time.sleep(2)  # ordering, not timing: the start-up runs are over before the change
        world(2)
        worker.wait_for_line("deliver-webhooks on a commit's notice", timeout=30)
        wait_until(lambda: len(receiver.delivered()) == 3, timeout=30, what="woken webhooks")
        assert worker.stop() == 0, worker.lines


def test_a_worker_killed_mid_delivery_loses_nothing_and_resends_with_the_same_id(
    world, database_url, receiver
):
    world(8)  # twelve events: eight grants, four revocations
    receiver.answer = lambda n: time.sleep(0.5) or 204  # slow, to be caught mid-delivery
    env = _worker_env(database_url, WEBHOOK_LEASE_SECONDS="3", WEBHOOK_TIMEOUT_SECONDS="1.5")
    with WorkerProcess(env) as first:
        wait_until(lambda: len(receiver.arrivals) >= 3, timeout=60, what="a delivery underway")
        first.kill()  # the third is in flight: sent, never recorded
    receiver.answer = lambda n: 204
    with WorkerProcess(env) as second:
        wait_until(
            lambda: len({e["id"] for e in receiver.delivered()}) == 12,
            timeout=60,
            what="every event, after the lease ran out",
        )
        assert second.stop() == 0, second.lines

    arrivals = receiver.arrivals
    assert all(a["headers"]["webhook-id"] == a["body"]["id"] for a in arrivals)
    assert all(a["verified"] for a in arrivals)
    first_seen: dict[str, int] = {}
    for arrival in arrivals:
        first_seen.setdefault(arrival["body"]["id"], arrival["body"]["sequence"])
    assert list(first_seen.values()) == list(range(1, 13))  # in order, none missing
    resent = [a["body"]["sequence"] for a in arrivals].count(3)
    assert resent == 2, [a["body"]["sequence"] for a in arrivals]  # the one in flight, twice
    assert len({uuid.UUID(a["headers"]["webhook-id"]) for a in arrivals}) == 12
