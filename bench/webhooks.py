"""Webhooks: one real worker delivering to a local receiver (the tests' `Receiver`, which
verifies every signature with the `standardwebhooks` library, with HTTP/1.1 keep-alive).

Two measurements:

* `Revocations`, during the data-use-push scenario: consents named to the demo hospital are
  granted before the window and revoked during it, a few a second, through the consents
  service in a transaction of their own (as the revoke route does); the lag is from each
  revocation's commit to the arrival of its `consent.revoked` webhook at the hospital's
  endpoint, while the data-use load runs and the same worker pushes its notices.
* `drain`: N events queued for E endpoints of the demo hospital (rows written directly,
  numbered far above its real sequence, removed afterwards); one worker starts and the rate
  is N over the time from the first arrival to the last.

The worker runs with APP_ENV=development and WEBHOOK_ALLOW_LOCAL=1 (production refuses to
send to 127.0.0.1); everything else is production's: keys, pool, logging level.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from flask import Flask

from bench.generate import demo_org
from bench.push import WEBHOOK_WORKER_ENV, _alive, cpu_seconds, spread_ms, worker
from bench.settings import ISSUER, PSEUDONYM_KEY
from tests.consent_api.webhooks.receiver import Receiver

SEQ_BASE = 10**12  # the drain's events, far above any real sequence
DELIVERY_TIMEOUT = 60.0


class KeptAliveReceiver(Receiver):
    """The tests' receiver, answering over HTTP/1.1 keep-alive (as a real one would)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._handler.protocol_version = "HTTP/1.1"

    def start(self) -> KeptAliveReceiver:
        super().start()
        self._server.request_queue_size = 1024
        return self


def make_app(database_url: str) -> Flask:
    """The app in this process, on the bench database, with the served app's keys."""
    from server.app import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "PSEUDONYM_KEY": PSEUDONYM_KEY,
            "ISSUER": ISSUER,
            "LOG_LEVEL": "WARNING",
            "WEBHOOK_ALLOW_LOCAL": True,
        }
    )


def register(app: Flask, url: str, *, org_id: uuid.UUID) -> tuple[uuid.UUID, str]:
    """Give the organisation an endpoint at `url`; return its id and secret."""
    from consent_api.orgs.models import Organisation
    from consent_api.webhooks import endpoints
    from server.db import db, utcnow

    with app.app_context():
        org = db.session.get(Organisation, org_id)
        made = endpoints.create(
            org,
            {"url": url, "description": "bench", "event_types": []},
            now=utcnow(),
            allow_local=True,
        )
        db.session.commit()
        return made.endpoint.id, made.secret


def remove_endpoints(pg_url: str, org_id: uuid.UUID) -> None:
    """Remove the bench's endpoints of the organisation and their deliveries."""
    with psycopg.connect(pg_url, autocommit=True) as connection:
        connection.execute(
            "DELETE FROM webhook_deliveries WHERE endpoint_id IN "
            "(SELECT id FROM webhook_endpoints WHERE org_id = %s AND description = 'bench')",
            (org_id,),
        )
        connection.execute(
            "DELETE FROM webhook_endpoints WHERE org_id = %s AND description = 'bench'", (org_id,)
        )


@dataclass
class Revocations:
    """Consents of the demo hospital revoked during the measured window, and their lags."""

    app: Flask
    org_id: uuid.UUID
    receiver: KeptAliveReceiver
    count: int
    per_second: float = 5.0
    consents: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)  # (patient, id)
    committed: dict[uuid.UUID, float] = field(default_factory=dict)  # consent -> epoch s
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def grant(self, pg_url: str) -> None:
        """Grant `count` consents to the hospital, for patients picked at random."""
        from consent_api.consents import service as consents
        from consent_api.consents.schemas import ConsentIn
        from consent_api.patients.models import Patient
        from server.db import db, utcnow

        with psycopg.connect(pg_url) as connection:
            ids = [
                row[0]
                for row in connection.execute(
                    "SELECT id FROM patients WHERE erased_at IS NULL ORDER BY random() LIMIT %s",
                    (self.count,),
                )
            ]
        body = ConsentIn().load(
            {
                "grantee": {"org_id": str(self.org_id)},
                "data_categories": ["imaging"],
                "purposes": ["HOPERAT"],
                "actions": ["access"],
            }
        )
        with self.app.app_context():
            for patient_id in ids:
                consent = consents.create(db.session.get(Patient, patient_id), body, now=utcnow())
                self.consents.append((patient_id, consent.id))
            db.session.commit()

    def _revoke_all(self) -> None:
        from consent_api.consents import service as consents
        from consent_api.patients.models import Patient
        from server.db import db, utcnow

        with self.app.app_context():
            for patient_id, consent_id in self.consents:
                if self._stop.wait(random.uniform(0.5, 1.5) / self.per_second):
                    return
                consents.revoke(
                    db.session.get(Patient, patient_id), consent_id, "bench", now=utcnow()
                )
                db.session.commit()
                self.committed[consent_id] = time.time()
                db.session.remove()

    def start(self) -> None:
        """Revoke them one by one, on a thread, until all are or `stop`."""
        self._thread = threading.Thread(target=self._revoke_all, name="revoker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def lags(self) -> dict[str, Any]:
        """Wait for every revocation's webhook; return the lag from commit to arrival."""
        from consent_api.links import refs

        with self.app.app_context():
            shown = {
                str(refs.shown_consent_id(self.org_id, consent_id)): consent_id
                for consent_id in self.committed
            }
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        arrived: dict[uuid.UUID, float] = {}
        while time.monotonic() < deadline:
            with self.receiver._lock:
                arrivals = list(self.receiver.arrivals)
            for arrival in arrivals:
                body = arrival["body"]
                consent = (body.get("data") or {}).get("consent") or {}
                consent_id = shown.get(consent.get("id"))
                if body.get("type") == "consent.revoked" and consent_id is not None:
                    arrived.setdefault(consent_id, arrival["arrived_at"])
            if len(arrived) == len(self.committed):
                break
            time.sleep(0.1)
        lags = [arrived[c] - self.committed[c] for c in self.committed if c in arrived]
        found: dict[str, Any] = {
            "revoked": len(self.committed),
            "webhooks_received": len(lags),
            "all_verified": all(a["verified"] for a in self.receiver.arrivals),
            "webhooks_total": len(self.receiver.arrivals),
        }
        if lags:
            found.update(spread_ms(lags))
        return found


@contextmanager
def revocations(database_url: str, pg_url: str, count: int) -> Iterator[Revocations]:
    """A receiver, the demo hospital's endpoint at it, and `count` consents to revoke."""
    with psycopg.connect(pg_url) as connection:
        org_id = demo_org(connection, "hospital")[0]
    app = make_app(database_url)
    remove_endpoints(pg_url, org_id)
    with KeptAliveReceiver() as receiver:
        _, secret = register(app, receiver.url, org_id=org_id)
        receiver.secrets = [secret]
        rig = Revocations(app, org_id, receiver, count)
        rig.grant(pg_url)
        try:
            yield rig
        finally:
            rig.stop()
            remove_endpoints(pg_url, org_id)


# --- the drain -------------------------------------------------------------------------------


def _payload(number: int, event_id: uuid.UUID) -> dict[str, Any]:
    """A consent.revoked event of the usual size."""
    return {
        "id": str(event_id),
        "type": "consent.revoked",
        "sequence": SEQ_BASE + number,
        "timestamp": "2026-11-30T10:02:07.123456+00:00",
        "data": {
            "patient_ref": f"{number:040x}",
            "consent": {
                "id": str(uuid.uuid4()),
                "patient_ref": f"{number:040x}",
                "grantee": {"org_id": None, "org_type": "hospital", "org_name": None},
                "data_categories": ["lab_results", "imaging"],
                "purposes": ["TREAT"],
                "actions": ["access", "use"],
                "data_period": None,
                "valid_from": "2026-01-01T00:00:00+00:00",
                "valid_until": None,
                "max_uses": None,
                "use_count": 3,
                "exclusions": [],
                "fee_per_use": 0,
                "status": "revoked",
                "version": 2,
                "created_at": "2026-01-01T00:00:00+00:00",
                "updated_at": "2026-11-30T10:02:07.123456+00:00",
            },
        },
    }


def _queue(pg_url: str, org_id: uuid.UUID, endpoint_ids: list[uuid.UUID], count: int) -> None:
    with psycopg.connect(pg_url) as connection:
        connection.execute(
            "DELETE FROM org_events WHERE org_id = %s AND seq >= %s", (org_id, SEQ_BASE)
        )
        with connection.cursor() as cursor:
            with cursor.copy(
                "COPY org_events (org_id, seq, id, type, occurred_at, published_at, payload) "
                "FROM STDIN"
            ) as copy:
                for number in range(count):
                    event_id = uuid.uuid4()
                    copy.write_row(
                        (
                            org_id,
                            SEQ_BASE + number,
                            event_id,
                            "consent.revoked",
                            "now",
                            "now",
                            json.dumps(_payload(number, event_id)),
                        )
                    )
            with cursor.copy(
                "COPY webhook_deliveries (org_id, id, seq, endpoint_id, status, attempts, "
                "created_at) FROM STDIN"
            ) as copy:
                for number in range(count):
                    endpoint = endpoint_ids[number % len(endpoint_ids)]
                    copy.write_row(
                        (org_id, uuid.uuid4(), SEQ_BASE + number, endpoint, "pending", 0, "now")
                    )
        connection.commit()
        connection.execute("ANALYZE webhook_deliveries")
        connection.commit()


def _unqueue(pg_url: str, org_id: uuid.UUID) -> dict[str, int]:
    with psycopg.connect(pg_url, autocommit=True) as connection:
        statuses = dict(
            connection.execute(
                "SELECT status, count(*) FROM webhook_deliveries WHERE org_id = %s AND seq >= %s "
                "GROUP BY 1",
                (org_id, SEQ_BASE),
            ).fetchall()
        )
    remove_endpoints(pg_url, org_id)
    with psycopg.connect(pg_url, autocommit=True) as connection:
        connection.execute(
            "DELETE FROM org_events WHERE org_id = %s AND seq >= %s", (org_id, SEQ_BASE)
        )
    return statuses


def drain(database_url: str, pg_url: str, count: int, endpoints: int) -> dict[str, Any]:
    """Queue `count` events over `endpoints` endpoints; time one worker delivering them."""
    with psycopg.connect(pg_url) as connection:
        org_id = demo_org(connection, "hospital")[0]
    app = make_app(database_url)
    remove_endpoints(pg_url, org_id)
    found: dict[str, Any] = {"events": count, "endpoints": endpoints}
    with KeptAliveReceiver() as receiver:
        made = [register(app, receiver.url, org_id=org_id) for _ in range(endpoints)]
        receiver.secrets = [secret for _, secret in made]
        _queue(pg_url, org_id, [endpoint_id for endpoint_id, _ in made], count)
        spawned = time.time()
        try:
            with worker(database_url, None, extra=WEBHOOK_WORKER_ENV) as process:
                deadline = time.monotonic() + DELIVERY_TIMEOUT * 2
                while len(receiver.arrivals) < count and time.monotonic() < deadline:
                    _alive(process)
                    time.sleep(0.1)
                time.sleep(0.5)  # the last outcomes recorded
                worker_cpu = cpu_seconds(process.pid)
        finally:
            found["deliveries_after"] = _unqueue(pg_url, org_id)
        arrivals = sorted(a["arrived_at"] for a in receiver.arrivals)
        distinct = len({a["body"]["id"] for a in receiver.arrivals})
        found.update(
            delivered=distinct,
            duplicates=len(receiver.arrivals) - distinct,
            all_verified=all(a["verified"] for a in receiver.arrivals),
            worker_cpu_s=None if worker_cpu is None else round(worker_cpu, 2),
        )
    if len(arrivals) < 2:
        found["problem"] = "no webhooks arrived"
        return found
    window = arrivals[-1] - arrivals[0]
    found.update(
        start_to_first_s=round(arrivals[0] - spawned, 2),
        first_to_last_s=round(window, 2),
        webhooks_per_s=round((len(arrivals) - 1) / window, 1) if window > 0 else None,
    )
    if distinct < count:
        found["problem"] = f"only {distinct:,} of {count:,} arrived"
    return found
