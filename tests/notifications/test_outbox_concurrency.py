"""Two workers draining one outbox at once deliver every notice exactly once (real commits)."""

import threading
import time
import uuid

import pytest
from google.oauth2.credentials import Credentials
from sqlalchemy import func, select

from consent_api.patients.models import Patient
from notifications import jobs
from notifications.models import Device, Notification, OutboxMessage
from notifications.outbox import notify
from notifications.push import FirebasePushSender
from server import create_app
from server.db import db, reads, utcnow
from tests.conftest import app_config, wipe_committed
from tests.notifications.fake_fcm import FakeFcm

NOTICES = 120


@pytest.fixture
def committed_outbox(app, database_url):
    """A patient with one device and NOTICES queued notices, committed for real."""
    writer = create_app(app_config(database_url))
    with writer.app_context():
        patient = Patient(
            email=f"drain-{uuid.uuid4().hex[:8]}@example.org", password_hash="", display_name="D"
        )
        db.session.add(patient)
        db.session.flush()
        db.session.add(Device(patient_id=patient.id, token=f"phone-{patient.id}", platform="ios"))
        db.session.flush()
        for n in range(NOTICES):
            notify(patient.id, type="test", title=f"Notice {n}", body="b", now=utcnow())
        db.session.commit()
        patient_id = patient.id
    yield patient_id
    wipe_committed(writer)


def _unsent(application, patient_id) -> int:
    """Count the patient's outbox rows not yet sent, in a fresh session of `application`."""
    with application.app_context():
        try:
            return db.session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .join(Notification)
                .where(Notification.patient_id == patient_id, OutboxMessage.status != "sent")
            )
        finally:
            db.session.remove()


def test_two_workers_deliver_every_notice_exactly_once(committed_outbox, database_url):
    patient_id = committed_outbox
    drain = next(job for job in jobs.JOBS if job.id == "drain-outbox")
    with FakeFcm() as fcm:
        workers = []
        for _ in range(2):
            worker_app = create_app(app_config(database_url))
            worker_app.extensions["push_sender"] = FirebasePushSender(
                Credentials(token="t"), project_id="demo", endpoint=fcm.url
            )
            workers.append(worker_app)

        def run(worker_app):
            try:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    jobs.run_job(worker_app, drain)
                    if not _unsent(worker_app, patient_id):
                        return
            finally:
                reads.release()

        threads = [threading.Thread(target=run, args=(w,)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
        for worker_app in workers:
            worker_app.extensions["push_sender"].close()
            with worker_app.app_context():
                db.engine.dispose()

    titles = [body["message"]["notification"]["title"] for body in fcm.received]
    assert len(titles) == NOTICES
    assert len(set(titles)) == NOTICES


def _service_account(path, token_uri: str) -> None:
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "demo",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "push@demo.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": token_uri,
            }
        )
    )


def test_a_worker_killed_mid_batch_loses_nothing(committed_outbox, database_url, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    patient_id = committed_outbox
    root = Path(__file__).resolve().parents[2]
    with FakeFcm(delay=3.0) as fcm:
        account = tmp_path / "sa.json"
        _service_account(account, f"{fcm.url}/token")
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "PUSH_BACKEND": "fcm",
            "FIREBASE_CREDENTIALS": str(account),
            "FCM_ENDPOINT": fcm.url,
            "OUTBOX_LEASE_SECONDS": "4",
        }
        command = [sys.executable, "-m", "server.cli", "worker"]
        first = subprocess.Popen(command, env=env, cwd=root, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while fcm.arrived == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fcm.arrived > 0, "the first worker never started sending"
        first.send_signal(signal.SIGKILL)  # in the middle of its batch: nothing recorded
        first.wait(timeout=10)
        fcm.delay = 0.0

        second = subprocess.Popen(command, env=env, cwd=root, stderr=subprocess.DEVNULL)
        try:
            writer = create_app(app_config(database_url))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                left = _unsent(writer, patient_id)
                if left == 0:
                    break
                time.sleep(0.2)
            assert left == 0
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
            with writer.app_context():
                db.engine.dispose()

    delivered = {body["message"]["notification"]["title"] for body in fcm.received}
    assert delivered == {f"Notice {n}" for n in range(NOTICES)}
