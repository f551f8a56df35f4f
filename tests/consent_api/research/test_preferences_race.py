"""Research preferences under a double tap: a patient's first PUT sent twice at once, from
app instances with their own connections and real commits, is answered each time (the one
row made once), never a 500."""

import threading

from server.app import create_app
from tests.conftest import app_config, bearer
from tests.support import dispose, race

RACERS, PATIENTS = 4, 10
ACCEPTS = {
    "opted_in": True,
    "purposes": ["HRESCH"],
    "data_categories": ["lab_results"],
    "org_types": ["pharma"],
    "max_invitations_per_month": 2,
}


def test_a_double_tapped_first_opt_in_is_never_a_500(commit_patients, database_url):
    _, tokens = commit_patients(PATIENTS)
    """A careless app sends a patient's first PUT /v1/me/research-preferences twice at once
    (a double tap, a retry): each answer is the preferences (or a 4xx problem), never a 500.
    Both read "no row yet" and both insert it; the second insert breaks the primary key.
    It fails on PostgreSQL (SQLite's transactions take its one write lock as they begin)."""
    apps = [create_app(app_config(database_url)) for _ in range(RACERS)]
    together = threading.Barrier(RACERS)  # every racer sends for the same patient at once

    def saver(application):
        def save():
            client = application.test_client()
            statuses = []
            for token in tokens:
                together.wait(timeout=60)
                answer = client.put(
                    "/v1/me/research-preferences", json=ACCEPTS, headers=bearer(token)
                )
                statuses.append(answer.status_code)
            return statuses

        return save

    try:
        statuses = [s for answers in race([saver(a) for a in apps]) for s in answers]
    finally:
        dispose(*apps)
    assert all(status < 500 for status in statuses), statuses
