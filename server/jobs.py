"""Every periodic job, in one list with fixed ids: each domain's sweeps and the outbox drain,
given their settings here, at the boundary. The worker (server/worker.py) runs each in its
own app context and transaction; every job is safe to run twice or in two workers at once."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NamedTuple

from consent_api.abuse import detection
from consent_api.audit import sequencer
from consent_api.auth import clients
from consent_api.consents import sweeps as consent_sweeps
from consent_api.links import service as links
from consent_api.points import sweeps as points_sweeps
from consent_api.requests import sweeps as request_sweeps
from consent_api.studies import fanout
from consent_api.uses import digests
from consent_api.webhooks import deliveries, publishing
from consent_api.webhooks.sending import Dispatcher
from notifications import dispatch
from notifications.push import PushSender
from server import idempotency
from server.db import db, utcnow

AUDIT_BATCH = 1000


class JobContext(NamedTuple):
    """What jobs are given, built once when the worker starts."""

    config: Mapping[str, Any]
    push: PushSender
    webhooks: Dispatcher


def dispatcher_for(config: Mapping[str, Any]) -> Dispatcher:
    """The webhook senders this configuration asks for."""
    return Dispatcher(
        timeout=config["WEBHOOK_TIMEOUT_SECONDS"], allow_local=config["WEBHOOK_ALLOW_LOCAL"]
    )


def purge_expired_oauth(context: JobContext) -> dict[str, int]:
    """Delete expired authorization codes, assertion ids and long-dead tokens."""
    return clients.purge_expired(now=utcnow())


def drain_outbox(context: JobContext, *, batch: int = 500, budget: float = 10.0) -> dict:
    """Send due notices, batch after batch while there are full batches (for up to `budget`
    seconds). The one job that commits in steps: each claim is committed before sending (other
    workers must see the lease), nothing is held open while sending (nor, on SQLite, the
    write lock), and the outcomes are committed after."""
    lease = timedelta(seconds=context.config["OUTBOX_LEASE_SECONDS"])
    counts: dict[str, int] = {}
    deadline = time.monotonic() + budget
    while True:
        owner = dispatch.claim(now=utcnow(), lease=lease, limit=batch)
        db.session.commit()
        work = dispatch.leased(owner, now=utcnow())
        ids = [row.id for row, _ in work]
        db.session.commit()
        if not work:
            return counts
        results = context.push.send([message for _, message in work])
        rows = dispatch.by_ids(ids)
        for outcome, n in dispatch.record(rows, results, now=utcnow()).items():
            counts[outcome] = counts.get(outcome, 0) + n
        db.session.commit()
        if len(work) < batch or time.monotonic() > deadline:
            return counts


def sequence_audit(context: JobContext, *, budget: float = 10.0) -> int:
    """Integrate queued audit entries into the Merkle tree, batch after batch while they come
    full (for up to `budget` seconds), each batch committed with its tree head."""
    integrated, deadline = 0, time.monotonic() + budget
    while True:
        done = sequencer.sequence(now=utcnow(), batch=AUDIT_BATCH)
        db.session.commit()
        integrated += done
        if done < AUDIT_BATCH or time.monotonic() > deadline:
            return integrated


def publish_events(context: JobContext) -> int:
    """Publish the event journal to each organisation concerned, numbered in its sequence."""
    return publishing.publish(now=utcnow())


def deliver_webhooks(
    context: JobContext, *, endpoints: int = 16, per_endpoint: int = 100, budget: float = 10.0
) -> dict:
    """Send due webhooks, endpoint by endpoint in their organisation's order, several
    endpoints at once, for up to `budget` seconds. Commits in steps, as the outbox drain:
    the leases before sending, each endpoint's outcomes as soon as it is done."""
    config = context.config
    lease = timedelta(seconds=config["WEBHOOK_LEASE_SECONDS"])
    counts: dict[str, int] = {}
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        owner = deliveries.claim(now=utcnow(), lease=lease, limit=endpoints)
        db.session.commit()
        batches = deliveries.leased(owner, now=utcnow(), lease=lease, per_endpoint=per_endpoint)
        db.session.commit()
        if not batches:
            break
        for batch, attempts in context.webhooks.each(deliveries.send, batches):
            outcome = deliveries.record(
                batch,
                attempts,
                now=utcnow(),
                retry_base=config["WEBHOOK_RETRY_BASE_SECONDS"],
                give_up_after=timedelta(hours=config["WEBHOOK_RETRY_HOURS"]),
            )
            db.session.commit()  # each endpoint's as soon as it is done
            for key, n in outcome.items():
                counts[key] = counts.get(key, 0) + n
    return {key: n for key, n in counts.items() if n}


def purge_events(context: JobContext) -> int:
    """Forget events older than the feed keeps (EVENT_RETENTION_DAYS)."""
    return publishing.purge(now=utcnow(), keep_days=context.config["EVENT_RETENTION_DAYS"])


def expire_consents(context: JobContext) -> int:
    """Mark consents past their validity as expired, recording the version."""
    return consent_sweeps.expire_due(now=utcnow())


def expire_requests(context: JobContext) -> int:
    """Mark pending consent requests past their deadline as expired."""
    return request_sweeps.expire_due(now=utcnow())


def remind_expiring_consents(context: JobContext) -> int:
    """Tell patients of consents ending within CONSENT_REMINDER_DAYS."""
    ahead = timedelta(days=context.config["CONSENT_REMINDER_DAYS"])
    return consent_sweeps.remind_expiring(now=utcnow(), ahead=ahead)


def remind_expiring_requests(context: JobContext) -> int:
    """Remind patients of consent requests lapsing within REQUEST_REMINDER_HOURS."""
    ahead = timedelta(hours=context.config["REQUEST_REMINDER_HOURS"])
    return request_sweeps.remind_expiring(now=utcnow(), ahead=ahead)


def send_digests(context: JobContext) -> int:
    """Send the daily digests that are due."""
    return digests.send_due(now=utcnow())


def expire_points(context: JobContext) -> int:
    """Move points past their expiry to breakage, oldest lots first."""
    return points_sweeps.expire_due(now=utcnow())


def warn_expiring_points(context: JobContext) -> int:
    """Warn patients POINTS_EXPIRY_WARNING_DAYS before their points expire."""
    ahead = timedelta(days=context.config["POINTS_EXPIRY_WARNING_DAYS"])
    return points_sweeps.warn_expiring(now=utcnow(), ahead=ahead)


def purge_idempotency_keys(context: JobContext) -> int:
    """Forget idempotency keys past their retention."""
    return idempotency.purge(now=utcnow())


def invite_to_studies(context: JobContext, *, batch: int = 500) -> int:
    """Invite patients to the open studies their preferences accept: at most
    STUDY_INVITATIONS_PER_SECOND for each STUDY_FANOUT_SECONDS between runs, in batches,
    each committed as it is filed (patients are told as the run goes)."""
    config = context.config
    limit = config["STUDY_INVITATIONS_PER_SECOND"] * config["STUDY_FANOUT_SECONDS"]
    run = fanout.Run(
        now=utcnow(),
        days=config["STUDY_INVITATION_DAYS"],
        per_place=config["STUDY_INVITATIONS_PER_PLACE"],
    )
    filed = 0
    while filed < limit:
        sent = run.next_batch(limit=min(batch, limit - filed))
        db.session.commit()
        if not sent:
            break
        filed += sent
    return filed


def detect_abuse(context: JobContext) -> dict[str, int]:
    """Summarise the data-use stream since the last scan and ask every abuse rule about the
    windows ending now: incidents opened or extended, patients told, rules that suspend
    applied."""
    return detection.scan(now=utcnow())


def purge_link_codes(context: JobContext) -> int:
    """Delete link codes a day after they ended (their links, if any, stay)."""
    return links.purge_codes(now=utcnow())


@dataclass(frozen=True)
class Job:
    """A periodic job: a fixed id, a function run in its own transaction, and a trigger."""

    id: str
    func: Callable[[JobContext], Any]
    trigger: str
    trigger_args: dict[str, Any] = field(default_factory=dict)
    every: str | None = None  # a setting that replaces an interval's seconds

    def trigger_args_for(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The trigger's arguments under this configuration."""
        if self.every is None:
            return self.trigger_args
        return {**self.trigger_args, "seconds": config[self.every]}


JOBS: tuple[Job, ...] = (
    # Polled (OUTBOX_POLL_SECONDS); on PostgreSQL a commit that queues a push or journals an
    # event also wakes them at once (server/worker.py, CommitListener).
    Job("drain-outbox", drain_outbox, "interval", {"seconds": 1}, every="OUTBOX_POLL_SECONDS"),
    Job("publish-events", publish_events, "interval", {"seconds": 1}, every="OUTBOX_POLL_SECONDS"),
    Job(
        "deliver-webhooks",
        deliver_webhooks,
        "interval",
        {"seconds": 1},
        every="OUTBOX_POLL_SECONDS",
    ),
    Job(
        "sequence-audit",
        sequence_audit,
        "interval",
        {"seconds": 1},
        every="OUTBOX_POLL_SECONDS",
    ),
    Job("purge-events", purge_events, "interval", {"hours": 1}),
    Job("purge-expired-oauth", purge_expired_oauth, "interval", {"minutes": 10}),
    Job("expire-consents", expire_consents, "interval", {"minutes": 1}),
    Job("expire-requests", expire_requests, "interval", {"minutes": 1}),
    Job("remind-expiring-consents", remind_expiring_consents, "interval", {"minutes": 10}),
    Job("remind-expiring-requests", remind_expiring_requests, "interval", {"minutes": 10}),
    Job("send-digests", send_digests, "interval", {"minutes": 1}),
    Job(
        "invite-to-studies",
        invite_to_studies,
        "interval",
        {"seconds": 10},
        every="STUDY_FANOUT_SECONDS",
    ),
    Job("detect-abuse", detect_abuse, "interval", {"seconds": 10}, every="ABUSE_SCAN_SECONDS"),
    Job("purge-idempotency-keys", purge_idempotency_keys, "interval", {"hours": 1}),
    Job("purge-link-codes", purge_link_codes, "interval", {"hours": 1}),
    Job("expire-points", expire_points, "interval", {"hours": 1}),
    Job("warn-expiring-points", warn_expiring_points, "interval", {"hours": 1}),
)


def job(job_id: str) -> Job:
    """The job with this id."""
    return next(candidate for candidate in JOBS if candidate.id == job_id)
