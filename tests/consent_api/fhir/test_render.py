"""The FHIR renderer on its own: a pure function over a consent's view."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from fhir.resources.consent import Consent as FhirConsent

from consent_api import catalog
from consent_api.fhir import render

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def view(**changes) -> dict:
    """A consent's view, as ConsentOut shows it (with Python values for the clock's)."""
    return {
        "id": uuid.uuid4(),
        "grantee": {"org_id": uuid.uuid4(), "org_type": None, "org_name": "Clinic"},
        "data_categories": ["all"],
        "purposes": ["TREAT"],
        "actions": ["access"],
        "data_period": {"start": None, "end": date(2024, 12, 31)},
        "valid_from": NOW,
        "valid_until": None,
        "exclusions": [],
        "status": "active",
        "version": 3,
        "created_at": NOW,
        "updated_at": NOW,
        **changes,
    }


@pytest.mark.parametrize(
    ("ours", "fhir"),
    [
        ("active", "active"),
        ("paused", "inactive"),
        ("revoked", "inactive"),
        ("expired", "inactive"),
    ],
)
def test_status_maps_onto_consent_state_codes(ours, fhir):
    resource = render.consent_resource(view(status=ours), patient=str(uuid.uuid4()))
    FhirConsent.model_validate(resource)
    assert resource["status"] == fhir


def test_open_ends_are_left_out_of_periods():
    resource = render.consent_resource(view(), patient=str(uuid.uuid4()))
    assert resource["period"] == {"start": "2025-03-01T12:00:00Z"}
    assert resource["provision"][0]["dataPeriod"] == {"end": "2024-12-31"}


def test_every_catalog_code_has_its_code_system_display():
    assert set(render.ACTION_DISPLAYS) == set(catalog.ACTIONS)
    assert set(render.PURPOSE_DISPLAYS) == set(catalog.PURPOSES)
    assert set(render.SENSITIVITY_CODES) == set(catalog.SENSITIVE)


def test_a_sensitive_category_is_never_covered_by_all_alone():
    assert not set(render.categories(["all"])) & catalog.SENSITIVE
    assert "genomics" in render.categories(["all", "genomics"])
