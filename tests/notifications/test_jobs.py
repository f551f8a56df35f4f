"""Periodic jobs: one list, fixed ids, one transaction each, and a worker that stops cleanly."""

import os
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import select

from consent_api.auth.clients import TOKEN_RETENTION
from consent_api.auth.models import AuthorizationCode, OAuthToken, digest
from consent_api.patients.models import Patient
from notifications.push import RecordingPushSender
from server import jobs
from server.db import db, utcnow
from server.jobs import JobContext, dispatcher_for
from server.worker import build_scheduler, run_job
from tests.conftest import REDIRECT_URI, bearer, ref
from tests.support import ROOT, WorkerProcess, run_job_now


def test_job_ids_are_unique_and_fixed():
    ids = [job.id for job in jobs.JOBS]
    assert len(ids) == len(set(ids))
    assert "purge-expired-oauth" in ids


def test_scheduler_holds_every_job_without_starting(app):
    scheduler = build_scheduler(
        app, JobContext(app.config, RecordingPushSender(), dispatcher_for(app.config))
    )
    assert {job.id for job in scheduler.get_jobs()} == {job.id for job in jobs.JOBS}
    assert not scheduler.running


def test_purge_deletes_long_dead_tokens_and_expired_codes_only(client, login, patient, token_for):
    live = token_for("hospital")
    dead = token_for("hospital")
    code, _ = login.code(patient.email)
    row = db.session.scalar(select(OAuthToken).where(OAuthToken.access_token_hash == digest(dead)))
    row.expires_at = utcnow() - timedelta(days=30)
    stored_code = db.session.scalar(
        select(AuthorizationCode).where(AuthorizationCode.code_hash == digest(code))
    )
    stored_code.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()

    counts = run_job_now("purge-expired-oauth")

    assert counts["tokens"] == 1
    assert counts["authorization_codes"] == 1
    assert client.get("/v1/org", headers=bearer(live)).status_code == 200
    assert run_job_now("purge-expired-oauth") == {
        "authorization_codes": 0,
        "assertions": 0,
        "tokens": 0,
    }


def test_purge_keeps_a_redeemed_code_while_its_replay_must_still_revoke(client, login, patient):
    code, verifier = login.code(patient.email)
    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": login.app_client.client_id,
        "code_verifier": verifier,
    }
    tokens = client.post("/oauth/token", data=exchange).json
    stored = db.session.scalar(
        select(AuthorizationCode).where(AuthorizationCode.code_hash == digest(code))
    )
    stored.expires_at = utcnow() - timedelta(days=1)
    db.session.flush()

    assert run_job_now("purge-expired-oauth")["authorization_codes"] == 0
    assert client.post("/oauth/token", data=exchange).json["error"] == "invalid_grant"
    assert client.get("/v1/me", headers=bearer(tokens["access_token"])).status_code == 401

    stored.expires_at = utcnow() - TOKEN_RETENTION - timedelta(seconds=1)
    db.session.flush()
    assert run_job_now("purge-expired-oauth")["authorization_codes"] == 1


def test_a_failing_job_rolls_back_and_reports_nothing(app, session, patient):
    db.session.commit()  # the patient exists before the job runs
    patient_id = patient.id

    def explode(context):
        patient.display_name = "changed"
        db.session.flush()
        raise RuntimeError("boom")

    explosive = jobs.Job("explode", explode, "interval", {"seconds": 1})
    result = run_job(
        app, explosive, JobContext(app.config, RecordingPushSender(), dispatcher_for(app.config))
    )
    assert result is None
    assert db.session.get(Patient, patient_id).display_name != "changed"


def test_worker_process_runs_jobs_and_stops_cleanly_on_sigterm(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}", "LOG_LEVEL": "INFO"}
    subprocess.run(
        [sys.executable, "-m", "server.cli", "db", "upgrade"],
        env={**os.environ, **env},
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    )
    with WorkerProcess(env) as worker:
        worker.wait_for_line("job purge-expired-oauth done", timeout=30)
        assert worker.stop(timeout=30) == 0, worker.lines
    assert any("worker stopping" in line for line in worker.lines), worker.lines


def test_expiry_sweeps_mark_consents_and_requests_and_record_a_version(
    client, patient_token, patient, token_for
):
    import uuid

    from consent_api.consents.models import Consent, ConsentVersion
    from consent_api.requests.models import ConsentRequest

    body = {
        "grantee": {"org_type": "hospital"},
        "data_categories": ["lab_results"],
        "purposes": ["TREAT"],
        "actions": ["use"],
        "valid_until": (utcnow() + timedelta(days=1)).isoformat(),
    }
    consent = client.post("/v1/me/consents", json=body, headers=bearer(patient_token)).json
    pharma = token_for("pharma")
    request = client.post(
        "/v1/consent-requests",
        json={
            "patient_ref": ref(pharma, patient),
            "data_categories": ["lab_results"],
            "purposes": ["HRESCH"],
            "actions": ["use"],
            "justification": "study",
            "expires_at": (utcnow() + timedelta(days=1)).isoformat(),
        },
        headers=bearer(pharma),
    ).json
    db.session.get(Consent, uuid.UUID(consent["id"])).valid_until = utcnow() - timedelta(seconds=1)
    db.session.get(ConsentRequest, uuid.UUID(request["id"])).expires_at = utcnow() - timedelta(
        seconds=1
    )
    db.session.flush()

    assert run_job_now("expire-consents") == 1
    assert run_job_now("expire-requests") == 1
    assert run_job_now("expire-consents") == 0  # safe to run twice

    stored = db.session.get(Consent, uuid.UUID(consent["id"]))
    assert (stored.status, stored.version) == ("expired", 2)
    last = db.session.get(ConsentVersion, (stored.id, 2))
    assert last.change == "expired"
    assert db.session.get(ConsentRequest, uuid.UUID(request["id"])).status == "expired"


def test_a_worker_whose_push_sender_cannot_work_refuses_to_start(tmp_path):
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
        "PUSH_BACKEND": "fcm",
        "FIREBASE_CREDENTIALS": str(tmp_path / "missing.json"),
    }
    with WorkerProcess(env) as worker:
        assert worker.exit_code(timeout=30) == 1
    assert any(
        "worker not started: the push sender cannot be built" in line for line in worker.lines
    )


def test_the_scheduler_names_each_job_and_keeps_quiet(app, caplog):
    """Issue 13: APScheduler logged twenty lines at start, every job named `run_job`."""
    scheduler = build_scheduler(
        app, JobContext(app.config, RecordingPushSender(), dispatcher_for(app.config))
    )
    assert {job.name for job in scheduler.get_jobs()} == {job.id for job in jobs.JOBS}
    with caplog.at_level("INFO"):
        scheduler.start(paused=True)
        scheduler.shutdown(wait=False)
    assert [r for r in caplog.records if r.name.startswith("apscheduler")] == []
