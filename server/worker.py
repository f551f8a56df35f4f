"""The worker process (`consent-wallet worker`): the one place the scheduler runs, never
inside web processes. It wires the push sender once, then runs every job in server/jobs.py,
each in its own app context and transaction."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import psycopg
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from notifications.push import build_sender
from server import jobs
from server.db import db, utcnow
from server.jobs import JOBS, Job, JobContext

# Notified by triggers when outbox rows (migration 0010) or journal entries (0013) commit,
# and what each wakes, in order: events published now queue their webhooks at once.
WOKEN = {
    "events_due": ("publish-events", "deliver-webhooks"),
    "outbox_due": ("drain-outbox",),
}
RECONNECT_SECONDS = 5

log = logging.getLogger(__name__)


def context_for(app: Flask) -> JobContext:
    """What the jobs of this app are given: its configuration and its push sender."""
    return JobContext(
        config=app.config, push=build_sender(app.config), webhooks=jobs.dispatcher_for(app.config)
    )


def run_job(app: Flask, job: Job, context: JobContext) -> Any:
    """Run one job in its own app context and transaction: commit, or roll back and log."""
    with app.app_context():
        try:
            result = job.func(context)
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


class _StillRunning(logging.Filter):
    """Drop APScheduler's "skipped: maximum number of running instances reached"."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances" not in record.getMessage()


def build_scheduler(app: Flask, context: JobContext) -> BackgroundScheduler:
    """Create the scheduler with every job in JOBS; nothing starts until .start()."""
    # APScheduler logs each job added and each run at INFO; ours says what each run did
    # (run_job), and the jobs once ("worker started with jobs: ..."). A run skipped because
    # the previous one is still going (a long drain) is how coalescing works, not news.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _StillRunning) for f in scheduler_log.filters):
        scheduler_log.addFilter(_StillRunning())
    scheduler = BackgroundScheduler(timezone="UTC")
    for job in JOBS:
        scheduler.add_job(
            run_job,
            job.trigger,
            args=(app, job, context),
            id=job.id,
            name=job.id,
            coalesce=True,
            max_instances=1,
            replace_existing=True,
            next_run_time=utcnow(),
            **job.trigger_args_for(app.config),
        )
    return scheduler


class CommitListener:
    """Run a channel's jobs as soon as a commit notifies it: LISTEN on PostgreSQL, where
    triggers notify when outbox rows (pushes) or journal entries (events) commit. One
    listener, with a connection and a thread of its own, per channel: sending webhooks never
    holds back a push. The polled jobs stay, as the fallback (a notification lost while
    reconnecting) and the only way on SQLite. Each job is safe to run twice at once (claims
    are leased, publishing takes a lock), and a notification that arrives while the jobs run
    is read after them, so none is missed."""

    def __init__(self, app: Flask, context: JobContext, channel: str) -> None:
        self.app = app
        self.context = context
        self.channel = channel
        self.woken = [jobs.job(job_id) for job_id in WOKEN[channel]]
        self.thread = threading.Thread(target=self._run, name=f"listen-{channel}", daemon=True)
        self.stopping = threading.Event()

    @staticmethod
    def applies(app: Flask) -> bool:
        """Only PostgreSQL notifies."""
        with app.app_context():
            return db.engine.dialect.name == "postgresql"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)

    def _url(self) -> str:
        with self.app.app_context():
            url = db.engine.url.set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    def _wake(self) -> None:
        for job in self.woken:
            done = run_job(self.app, job, self.context)
            if done:
                log.info("%s on a commit's notice: %s", job.id, done)

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                with psycopg.connect(self._url(), autocommit=True) as connection:
                    connection.execute(f"LISTEN {self.channel}")
                    log.info("worker listening for commits on %s", self.channel)
                    self._wake()  # what came while not listening
                    while not self.stopping.is_set():
                        # Every notice already here comes at once: one run answers them all.
                        if any(True for _ in connection.notifies(timeout=1.0, stop_after=1)):
                            self._wake()
            except psycopg.Error as error:
                log.warning(
                    "listener on %s lost its connection (%s); polling meanwhile",
                    self.channel,
                    error,
                )
                self.stopping.wait(RECONNECT_SECONDS)


def run_worker(app: Flask) -> None:
    """Run the scheduler until SIGINT or SIGTERM, then let running jobs finish and stop.

    A push configuration that cannot work (PUSH_BACKEND=fcm without readable credentials)
    stops the worker at start, with a message, rather than failing every drain unnoticed."""
    try:
        context = context_for(app)
    except (ValueError, OSError) as error:
        log.error("worker not started: the push sender cannot be built: %s", error)
        raise SystemExit(1) from None
    scheduler = build_scheduler(app, context)
    listeners = (
        [CommitListener(app, context, channel) for channel in WOKEN]
        if CommitListener.applies(app)
        else []
    )
    stopping = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        stopping.set()  # only flag it: the main thread does the shutting down

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    scheduler.start()
    for listener in listeners:
        listener.start()
    log.info("worker started with jobs: %s", ", ".join(job.id for job in JOBS))
    while not stopping.wait(timeout=1.0):
        pass
    log.info("worker stopping")
    for listener in listeners:
        listener.stop()
    scheduler.shutdown(wait=True)
    close = getattr(context.push, "close", None)
    if close is not None:
        close()
    context.webhooks.close()
