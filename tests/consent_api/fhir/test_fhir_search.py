"""FHIR search of consents: status, _lastUpdated, _count with paging, unknown parameters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fhir.resources.bundle import Bundle

from consent_api.consents.models import Consent
from server.db import db
from tests.conftest import bearer
from tests.consent_api.fhir.conftest import FHIR_JSON, grant
from tests.support import problem_code

STATE_SYSTEM = "http://hl7.org/fhir/consent-state-codes"


def search(client, token: str, headers=None, **params) -> dict:
    """Search consents as FHIR; expect a valid searchset Bundle and return it."""
    response = client.get(
        "/fhir/R5/Consent", query_string=params, headers={**bearer(token), **(headers or {})}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == FHIR_JSON
    Bundle.model_validate(response.json)
    return response.json


def ids(bundle: dict) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


def link(bundle: dict, relation: str) -> str | None:
    return next((li["url"] for li in bundle["link"] if li["relation"] == relation), None)


def refused(client, token: str, headers=None, **params) -> list[dict]:
    """Search, expect a 422 OperationOutcome, and return its issues."""
    response = client.get(
        "/fhir/R5/Consent", query_string=params, headers={**bearer(token), **(headers or {})}
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == FHIR_JSON
    assert problem_code(response.json) == "validation_failed"
    return response.json["issue"]


@pytest.fixture
def states(client, patient_token, hospital) -> dict[str, str]:
    """One consent in each state, by state: their ids."""
    made = {
        state: grant(client, patient_token, {"org_id": str(hospital.org.id)})["id"]
        for state in ("active", "paused", "revoked", "expired")
    }
    for state, change in (("paused", "pause"), ("revoked", "revoke")):
        path = f"/v1/me/consents/{made[state]}/{change}"
        answer = client.post(path, headers=bearer(patient_token))
        assert answer.status_code == 200, answer.json
    # Its validity ended; the sweep has not marked it expired yet.
    stored = db.session.get(Consent, uuid.UUID(made["expired"]))
    stored.valid_until = datetime.now(UTC) - timedelta(minutes=1)
    db.session.flush()
    return made


# --- status ------------------------------------------------------------------------------------


def test_status_active_finds_the_consents_in_force(client, patient, patient_token, states):
    bundle = search(client, patient_token, patient=str(patient.id), status="active")
    assert ids(bundle) == [states["active"]]
    assert bundle["total"] == 1


def test_status_inactive_finds_paused_revoked_and_expired(client, patient, patient_token, states):
    bundle = search(client, patient_token, patient=str(patient.id), status="inactive")
    assert ids(bundle) == [states["paused"], states["revoked"], states["expired"]]


@pytest.mark.parametrize("status", ["active,inactive", f"{STATE_SYSTEM}|active,inactive"])
def test_status_values_separated_by_commas_are_alternatives(
    client, patient, patient_token, states, status
):
    bundle = search(client, patient_token, patient=str(patient.id), status=status)
    assert ids(bundle) == list(states.values())


def test_a_status_no_consent_has_finds_none(client, patient, patient_token, states):
    bundle = search(client, patient_token, patient=str(patient.id), status="draft")
    assert bundle["total"] == 0
    assert "entry" not in bundle


@pytest.mark.parametrize("status", ["revoked", "active,", "http://other.example|active"])
def test_a_status_that_is_no_fhir_consent_state_is_invalid(client, patient, patient_token, status):
    [issue] = refused(client, patient_token, patient=str(patient.id), status=status)
    assert issue["expression"] == ["status"]


# --- _lastUpdated ------------------------------------------------------------------------------

MOMENTS = {
    "january-10": datetime(2026, 1, 10, 10, 0, tzinfo=UTC),
    "january-20": datetime(2026, 1, 20, 10, 0, tzinfo=UTC),
    "february-5": datetime(2026, 2, 5, 23, 30, tzinfo=UTC),
}


@pytest.fixture
def updated(client, patient_token, hospital) -> dict[str, str]:
    """Three consents last changed at MOMENTS, by moment: their ids."""
    made = {}
    for name, moment in MOMENTS.items():
        made[name] = grant(client, patient_token, {"org_id": str(hospital.org.id)})["id"]
        db.session.get(Consent, uuid.UUID(made[name])).updated_at = moment
    db.session.flush()
    return made


@pytest.mark.parametrize(
    ("last_updated", "found"),
    [
        (["2026-01-20"], ["january-20"]),
        (["eq2026-01"], ["january-10", "january-20"]),
        (["ge2026-01-15"], ["january-20", "february-5"]),
        (["gt2026-01-20"], ["february-5"]),
        (["gt2026-01-20T09:59:59Z"], ["january-20", "february-5"]),
        (["gt2026-01-20T10:00:00Z"], ["february-5"]),
        (["ge2026-01-20T11:00:00+01:00"], ["january-20", "february-5"]),
        (["lt2026-01-20"], ["january-10"]),
        (["le2026-01-20"], ["january-10", "january-20"]),
        (["le2026"], ["january-10", "january-20", "february-5"]),
        (["lt2026-02-05T23:30:00.000001Z"], ["january-10", "january-20", "february-5"]),
        (["ge2026-01-15", "lt2026-02-01"], ["january-20"]),
        (["gt2026-02-06"], []),
    ],
)
def test_last_updated_compares_with_the_moment_of_the_last_change(
    client, patient, patient_token, updated, last_updated, found
):
    bundle = search(client, patient_token, patient=str(patient.id), _lastUpdated=last_updated)
    assert ids(bundle) == [updated[name] for name in found]
    assert parse_qs(urlsplit(link(bundle, "self")).query)["_lastUpdated"] == last_updated


@pytest.mark.parametrize(
    "value", ["sa2026-01-01", "2026-13-01", "2026-01-32", "yesterday", "ge", "2026-1-1"]
)
def test_last_updated_that_is_no_fhir_date_is_invalid(client, patient, patient_token, value):
    [issue] = refused(client, patient_token, patient=str(patient.id), _lastUpdated=value)
    assert issue["expression"] == ["_lastUpdated"]


# --- _count and paging ---------------------------------------------------------------------------


def test_count_pages_through_every_match_with_next_links(client, patient, patient_token, hospital):
    made = [grant(client, patient_token, {"org_id": str(hospital.org.id)})["id"] for _ in range(5)]

    first = search(client, patient_token, patient=str(patient.id), _count="2")
    seen, bundle, pages = ids(first), first, 1
    while link(bundle, "next"):
        response = client.get(link(bundle, "next"), headers=bearer(patient_token))
        assert response.status_code == 200, response.json
        bundle, pages = response.json, pages + 1
        assert bundle["total"] == 5
        assert link(bundle, "self").startswith("http://localhost/fhir/R5/Consent?")
        seen += ids(bundle)

    assert seen == made
    assert pages == 3
    assert [len(ids(first)), first["total"]] == [2, 5]


def test_the_next_link_keeps_the_search(client, patient, patient_token, states):
    bundle = search(client, patient_token, patient=str(patient.id), status="inactive", _count="1")

    query = parse_qs(urlsplit(link(bundle, "next")).query)
    assert query["patient"] == [str(patient.id)]
    assert query["status"] == ["inactive"]
    assert query["_count"] == ["1"]
    assert query["cursor"]


def test_the_last_page_has_no_next_link(client, patient, patient_token, hospital):
    grant(client, patient_token, {"org_id": str(hospital.org.id)})
    bundle = search(client, patient_token, patient=str(patient.id), _count="1")
    assert link(bundle, "next") is None


def test_count_is_at_most_200(client, patient, patient_token, hospital):
    grant(client, patient_token, {"org_id": str(hospital.org.id)})
    bundle = search(client, patient_token, patient=str(patient.id), _count="100000")
    assert parse_qs(urlsplit(link(bundle, "self")).query)["_count"] == ["200"]


@pytest.mark.parametrize("params", [{"_count": "0"}, {"_count": "x"}, {"cursor": "forged"}])
def test_a_count_or_cursor_we_cannot_use_is_invalid(client, patient, patient_token, params):
    [issue] = refused(client, patient_token, patient=str(patient.id), **params)
    assert issue["expression"] == list(params)


# --- parameters we do not know -----------------------------------------------------------------


def test_unknown_parameters_are_ignored_and_left_out_of_the_self_link(
    client, patient, patient_token, hospital
):
    made = grant(client, patient_token, {"org_id": str(hospital.org.id)})

    bundle = search(client, patient_token, patient=str(patient.id), category="x", _sort="date")

    assert ids(bundle) == [made["id"]]
    assert link(bundle, "self") == f"http://localhost/fhir/R5/Consent?patient={patient.id}"


@pytest.mark.parametrize(
    "prefer",
    ["return=representation, handling=strict", "Handling=STRICT"],  # RFC 7240: any case
)
def test_strict_handling_refuses_unknown_parameters_naming_each(
    client, patient, patient_token, prefer
):
    issues = refused(
        client,
        patient_token,
        headers={"Prefer": prefer},
        patient=str(patient.id),
        category="x",
        _sort="date",
    )
    assert sorted(issue["expression"][0] for issue in issues) == ["_sort", "category"]


def test_strict_handling_answers_a_search_it_understands(client, patient, patient_token):
    bundle = search(
        client,
        patient_token,
        headers={"Prefer": "handling=strict"},
        patient=str(patient.id),
        status="active",
        _count="5",
        _format="json",
    )
    assert bundle["total"] == 0
