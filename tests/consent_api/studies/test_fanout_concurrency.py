"""The fan-out under real concurrency: several workers (app instances with their own
connections and real commits) run the invitation job at once. One fan-out runs at a time, so
every patient's cap holds across studies and nobody is invited twice to one study."""

from datetime import timedelta

from sqlalchemy import func, select

from consent_api.requests.models import ConsentRequest
from consent_api.research import preferences
from consent_api.studies import service as studies
from server import jobs, worker
from server.app import create_app
from server.db import db, utcnow
from tests import factories
from tests.conftest import app_config, wipe_committed
from tests.support import dispose, race

WORKERS, RUNS, PATIENTS, STUDIES, CAP = 4, 3, 40, 3, 2
PREFERENCES = {
    "opted_in": True,
    "purposes": ["HRESCH"],
    "data_categories": ["lab_results"],
    "org_types": ["pharma"],
    "max_invitations_per_month": CAP,
}


def study_terms(title: str) -> dict:
    """A study as the studies service takes it (dates, not text), open today."""
    today = utcnow().date()
    return {
        "title": title,
        "description": "Routine lab results over time.",
        "purpose": "HRESCH",
        "data_categories": ["lab_results"],
        "actions": ["use"],
        "fee_per_use": 0,
        "ethics_reference": "EC-1",
        "starts_on": today,
        "ends_on": today + timedelta(days=90),
        "recruitment_target": 1000,
    }


def test_concurrent_workers_keep_every_cap_and_invite_once_per_study(app, database_url):
    setup = create_app(app_config(database_url, STUDY_INVITATIONS_PER_SECOND=2))
    try:
        with setup.app_context():
            sponsor = factories.OrganisationFactory(type="pharma")
            for _ in range(PATIENTS):
                someone = factories.PatientFactory()
                db.session.flush()
                preferences.replace(someone.id, PREFERENCES, now=utcnow())
            for number in range(STUDIES):
                made = studies.register(sponsor, study_terms(f"Study {number}"), now=utcnow())
                studies.review(made.id, approve=True, reason=None, now=utcnow())
            db.session.commit()
            db.session.remove()
        # Small runs (2 a second for 10 s: 20 each), so the workers' runs interleave.
        apps = [
            create_app(app_config(database_url, STUDY_INVITATIONS_PER_SECOND=2))
            for _ in range(WORKERS)
        ]
        job = jobs.job("invite-to-studies")

        def runner(application):
            context = worker.context_for(application)
            return lambda: [worker.run_job(application, job, context) for _ in range(RUNS)]

        try:
            filed = [n for runs in race([runner(a) for a in apps]) for n in runs]
            assert None not in filed  # no run failed (a second invitation would)
            # Then one worker finishes what the racing runs left.
            context = worker.context_for(apps[0])
            while (more := worker.run_job(apps[0], job, context)) != 0:
                filed.append(more)
        finally:
            dispose(*apps)
        with setup.app_context():
            per_patient = db.session.execute(
                select(
                    ConsentRequest.patient_id,
                    func.count(),
                    func.count(func.distinct(ConsentRequest.study_id)),
                )
                .where(ConsentRequest.study_id.is_not(None))
                .group_by(ConsentRequest.patient_id)
            ).all()
            db.session.remove()
        # Every patient reached their cap (there was room for all), never more, each
        # invitation to another study; and the runs' own counts add up to what was filed.
        assert len(per_patient) == PATIENTS
        assert {(count, studies_) for _, count, studies_ in per_patient} == {(CAP, CAP)}
        assert sum(filed) == PATIENTS * CAP
    finally:
        wipe_committed(setup)
        dispose(setup)
