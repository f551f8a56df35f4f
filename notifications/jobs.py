"""Every periodic job, declared in one list with fixed ids, and the worker that runs them."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from server.db import db, utcnow

log = logging.getLogger(__name__)


def purge_expired_oauth() -> dict[str, int]:
    """Delete expired authorization codes, assertion ids and long-dead tokens."""
    from consent_api.auth.service import purge_expired

    return purge_expired(now=utcnow())


def drain_outbox(*, batch: int = 500, budget: float = 10.0) -> dict[str, int]:
    """Send due notices, batch after batch while there are full batches (for up to `budget`
    seconds): commit each claim, send outside any transaction, then commit the outcomes."""
    from flask import current_app

    from notifications import dispatch
    from notifications.push import build_sender

    sender = current_app.extensions.get("push_sender")
    if sender is None:
        sender = current_app.extensions["push_sender"] = build_sender(current_app.config)
    lease = timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"])
    counts: dict[str, int] = {}
    deadline = time.monotonic() + budget
    while True:
        owner = dispatch.claim(now=utcnow(), lease=lease, limit=batch)
        db.session.commit()  # the lease must be visible to other workers before we send
        work = dispatch.leased(owner, now=utcnow())
        ids = [row.id for row, _ in work]
        db.session.commit()  # no transaction (nor, on SQLite, the write lock) while sending
        if not work:
            return counts
        results = sender.send([message for _, message in work])
        rows = dispatch.by_ids(ids)
        for outcome, n in dispatch.record(rows, results, now=utcnow()).items():
            counts[outcome] = counts.get(outcome, 0) + n
        db.session.commit()
        if len(work) < batch or time.monotonic() > deadline:
            return counts


def expire_consents() -> int:
    """Mark consents past their validity as expired, recording the version."""
    from consent_api.consents.service import expire_due

    return expire_due(now=utcnow())


def expire_requests() -> int:
    """Mark pending consent requests past their deadline as expired."""
    from consent_api.requests.service import expire_due

    return expire_due(now=utcnow())


def remind_expiring_consents() -> int:
    """Tell patients of consents ending within CONSENT_REMINDER_DAYS."""
    from flask import current_app

    from consent_api.consents.service import remind_expiring

    days = current_app.config["CONSENT_REMINDER_DAYS"]
    return remind_expiring(now=utcnow(), ahead=timedelta(days=days))


def remind_expiring_requests() -> int:
    """Remind patients of consent requests lapsing within REQUEST_REMINDER_HOURS."""
    from flask import current_app

    from consent_api.requests.service import remind_expiring

    hours = current_app.config["REQUEST_REMINDER_HOURS"]
    return remind_expiring(now=utcnow(), ahead=timedelta(hours=hours))


def send_digests() -> int:
    """Send the daily digests that are due."""
    from notifications.digests import send_due

    return send_due(now=utcnow())


def expire_points() -> int:
    """Move points past their expiry to breakage, oldest lots first."""
    from consent_api.points.service import expire_due

    return expire_due(now=utcnow())


def warn_expiring_points() -> int:
    """Warn patients POINTS_EXPIRY_WARNING_DAYS before their points expire."""
    from flask import current_app

    from consent_api.points.service import warn_expiring

    days = current_app.config["POINTS_EXPIRY_WARNING_DAYS"]
    return warn_expiring(now=utcnow(), ahead=timedelta(days=days))


def purge_idempotency_keys() -> int:
    """Forget idempotency keys past their retention."""
    from server.idempotency import purge

    return purge(now=utcnow())


@dataclass(frozen=True)
class Job:
    """A periodic job: a fixed id, a function run in its own transaction, and a trigger."""

    id: str
    func: Callable[[], Any]
    trigger: str
    trigger_args: dict[str, Any] = field(default_factory=dict)


JOBS: tuple[Job, ...] = (
    Job("drain-outbox", drain_outbox, "interval", {"seconds": 1}),
    Job("purge-expired-oauth", purge_expired_oauth, "interval", {"minutes": 10}),
    Job("expire-consents", expire_consents, "interval", {"minutes": 1}),
    Job("expire-requests", expire_requests, "interval", {"minutes": 1}),
    Job("remind-expiring-consents", remind_expiring_consents, "interval", {"minutes": 10}),
    Job("remind-expiring-requests", remind_expiring_requests, "interval", {"minutes": 10}),
    Job("send-digests", send_digests, "interval", {"minutes": 1}),
    Job("purge-idempotency-keys", purge_idempotency_keys, "interval", {"hours": 1}),
    Job("expire-points", expire_points, "interval", {"hours": 1}),
    Job("warn-expiring-points", warn_expiring_points, "interval", {"hours": 1}),
)


def run_job(app: Flask, job: Job) -> Any:
    """Run one job in its own app context and transaction: commit, or roll back and log."""
    with app.app_context():
        try:
            result = job.func()
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("job %s failed", job.id)
            return None
        finally:
            db.session.remove()
    # Idle runs (every second for the drain) go to DEBUG; runs that did something to INFO.
    log.log(logging.INFO if result else logging.DEBUG, "job %s done: %s", job.id, result)
    return result


def build_scheduler(app: Flask) -> BackgroundScheduler:
    """Create the scheduler with every job in JOBS; nothing starts until .start()."""
    # APScheduler logs every run at INFO; ours says what each run did (run_job).
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    scheduler = BackgroundScheduler(timezone="UTC")
    for job in JOBS:
        scheduler.add_job(
            run_job,
            job.trigger,
            args=(app, job),
            id=job.id,
            coalesce=True,
            max_instances=1,
            replace_existing=True,
            next_run_time=utcnow(),
            **job.trigger_args,
        )
    return scheduler


def run_worker(app: Flask) -> None:
    """Run the scheduler until SIGINT or SIGTERM, then let running jobs finish and stop."""
    scheduler = build_scheduler(app)
    stopping = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        stopping.set()  # only flag it: the main thread does the shutting down

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    scheduler.start()
    log.info("worker started with jobs: %s", ", ".join(job.id for job in JOBS))
    while not stopping.wait(timeout=1.0):
        pass
    log.info("worker stopping")
    scheduler.shutdown(wait=True)
