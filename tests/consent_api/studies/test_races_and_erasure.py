"""Races and edges found by an outside review of issue 14 (the second): each test is a
behavioural probe through the HTTP API that fails now and passes once the defect is fixed.

The race tests need real commits from several app instances; they fail on PostgreSQL
(SQLite's transactions take its one write lock as they begin, so they pass there)."""

from __future__ import annotations

import threading
from datetime import date, datetime, time, timedelta

import pytest

from consent_api.registration import service as registrations
from consent_api.studies import service as studies
from server import jobs, worker
from server.app import create_app
from server.db import db, utcnow
from tests.conftest import app_config, basic_auth, bearer, wipe_committed
from tests.consent_api.studies.test_fanout_concurrency import study_terms
from tests.support import dispose, race, run_job_now

RACERS = 4
SCOPE = {"data_categories": ["lab_results"], "purposes": ["HRESCH"], "actions": ["use"]}
ACCEPTS = {
    "opted_in": True,
    "purposes": ["HRESCH"],
    "data_categories": ["lab_results"],
    "org_types": ["pharma"],
    "max_invitations_per_month": 2,
}


def _token(application, registration) -> str:
    answer = application.test_client().post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(registration.client.client_id, registration.client_secret),
    )
    return answer.json["access_token"]


def _in_step(apps, rounds, send):
    """Each app on its own thread sends `send(racer, client, item)` for every item, all
    racers released together for each item; every (racer, status) pair answered."""
    together = threading.Barrier(len(apps))

    def racer(index, application):
        def go():
            client = application.test_client()
            answers = []
            for item in rounds:
                together.wait(timeout=60)
                answers.append((index, send(index, client, item).status_code))
            return answers

        return go

    return [a for answers in race([racer(i, a) for i, a in enumerate(apps)]) for a in answers]


# --- 1. The operator's first PUT of a privacy budget, twice at once (or beside a query) ---

ORGS = 8


@pytest.fixture
def committed_orgs(app, database_url):
    """An operator and fresh pharma organisations (no budget row yet), committed for real."""
    setup = create_app(app_config(database_url))
    with setup.app_context():
        operator = registrations.register_org(name="Operator", type="operator")
        orgs = [registrations.register_org(name=f"Pharma {n}", type="pharma") for n in range(ORGS)]
        db.session.commit()
        made = (_token(setup, operator), [(str(r.org.id), _token(setup, r)) for r in orgs])
        db.session.remove()
    yield setup, made
    wipe_committed(setup)
    dispose(setup)


def test_setting_a_new_budget_twice_at_once_beside_a_query_is_never_a_500(
    committed_orgs, database_url
):
    """README: the operator PUTs an organisation's budget; openapi.yaml: bad input is a 4xx,
    never a 500, and a spend is never lost. The first PUT for an organisation finds no row
    (budget.set_budget: get ... FOR UPDATE, else add one) while another PUT, or the
    organisation's first cohort count (insert-or-skip), inserts it: the second insert
    breaks the primary key (UniqueViolation pk_privacy_budgets) and the operator gets a 500.
    Seen on PostgreSQL: 12 of 24 PUTs answered 500."""
    setup, (operator, orgs) = committed_orgs
    apps = [create_app(app_config(database_url)) for _ in range(RACERS)]

    def send(racer, client, org):
        org_id, token = org
        if racer == 0:  # the organisation's first query, spending 0.5
            return client.post(
                "/v1/cohort-counts", json={**SCOPE, "epsilon": 0.5}, headers=bearer(token)
            )
        return client.put(
            f"/v1/admin/orgs/{org_id}/privacy-budget",
            json={"total_epsilon": 5, "renews_every_days": 30},
            headers=bearer(operator),
        )

    try:
        statuses = _in_step(apps, orgs, send)
    finally:
        dispose(*apps)
    assert [s for s in statuses if s[1] >= 500] == [], statuses
    client = setup.test_client()
    for org_id, _ in orgs:
        budget = client.get(
            f"/v1/admin/orgs/{org_id}/privacy-budget", headers=bearer(operator)
        ).json
        assert (budget["total_epsilon"], budget["spent_epsilon"]) == (5.0, 0.5), budget


# --- 2. Research preferences saved while the patient erases their account ---------------

PATIENTS = 30


@pytest.fixture
def committed_patients(commit_patients):
    """Patients opted in to research, each with a token, committed for real."""
    setup, tokens = commit_patients(PATIENTS)
    client = setup.test_client()
    for token in tokens:  # each has a stored row already: the erasure deletes it
        saved = client.put("/v1/me/research-preferences", json=ACCEPTS, headers=bearer(token))
        assert saved.status_code == 200, saved.json
    return setup, tokens


def _erase_while_saving(apps, tokens):
    def send(racer, client, token):
        if racer == 0:
            return client.delete("/v1/me", headers=bearer(token))
        return client.put("/v1/me/research-preferences", json=ACCEPTS, headers=bearer(token))

    return _in_step(apps, tokens, send)


def test_saving_research_preferences_during_an_erasure_is_never_a_500(
    committed_patients, database_url
):
    """A careless app saves the patient's research preferences (a retry, a second device)
    while the patient erases their account. server.db.locked_row inserts-or-skips (the row
    is there, being deleted), then reads it FOR UPDATE after the erasure committed: None,
    and preferences.replace reads None.opted_in: AttributeError, a 500 (seen 5 of 90)."""
    _, tokens = committed_patients
    apps = [create_app(app_config(database_url)) for _ in range(RACERS)]
    try:
        statuses = _erase_while_saving(apps, tokens)
    finally:
        dispose(*apps)
    assert [s for s in statuses if s[1] >= 500] == [], statuses


def test_an_erased_patient_is_never_invited_even_if_an_opt_in_raced_the_erasure(
    committed_patients, database_url
):
    """README: research preferences are 'gone with erasure' and 'an erased patient is
    invited to nothing'. A PUT that passed its check of the patient before the erasure
    committed waits on the row being deleted, then inserts it again (the erased patient's
    row still satisfies the foreign key): the erased patient is opted in again for good,
    and the fan-out, which reads only the preferences, invites them (seen 2 of 12)."""
    setup, tokens = committed_patients
    apps = [create_app(app_config(database_url)) for _ in range(RACERS)]
    try:
        _erase_while_saving(apps, tokens)
    finally:
        dispose(*apps)
    # Every patient is erased now. A study that every one of them had accepted opens.
    with setup.app_context():
        sponsor = registrations.register_org(name="Sponsor", type="pharma").org
        study = studies.register(
            sponsor,
            study_terms("Kidney function"),
            now=utcnow(),
        )
        studies.review(study.id, approve=True, reason=None, now=utcnow())
        db.session.commit()
        db.session.remove()
    job, context = jobs.job("invite-to-studies"), worker.context_for(setup)
    invited = 0
    while (filed := worker.run_job(setup, job, context)) != 0:
        invited += filed or 0
    assert invited == 0, f"{invited} erased patient(s) invited to a study"


# --- 3. An invitation approved "narrowed" into a consent that can never be valid ---------


def test_an_invitation_cannot_be_approved_to_start_after_it_ends(
    client, opted_in, approved_study, pharma_token
):
    """README: a patient approves an invitation 'narrowed as any request, never widened',
    and a consent's valid_until must be after its valid_from (POST /v1/me/consents is a 422
    otherwise). Approving with a valid_from after the study's end is a 201: a consent that
    starts after it ends, never usable, yet the sponsor is told consent.granted and the
    study counts it approved, filling one of its places (the fan-out then stops asking)."""
    [(_, token)] = opted_in()
    study = approved_study(recruitment_target=1)
    assert run_job_now("invite-to-studies") == 1
    [invitation] = client.get("/v1/me/consent-requests", headers=bearer(token)).json["items"]
    ends = datetime.combine(date.fromisoformat(study["ends_on"]), time(), tzinfo=utcnow().tzinfo)

    answer = client.post(
        f"/v1/me/consent-requests/{invitation['id']}/approve",
        json={"valid_from": (ends + timedelta(days=30)).isoformat()},
        headers=bearer(token),
    )

    assert answer.status_code == 422, answer.json
    still = client.get(f"/v1/me/consent-requests/{invitation['id']}", headers=bearer(token))
    assert still.json["status"] == "pending"
