"""Consults through the HTTP API: each request the tests mean to be valid, and each answer
they get, is checked against our own JSON Schemas of CDS Hooks 2.0 (schemas/), written from
the specification's field tables and the structure of LEAP CDS's hook."""

from __future__ import annotations

import functools
import json
import uuid
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from tests.conftest import bearer

SCHEMAS = Path(__file__).parent / "schemas"
URL = "/cds-services/patient-consent-consult"
MRN_SYSTEM = "https://st-marys.example/mrn"
REF_SYSTEM = "urn:consent-wallet:patient-ref"
CATEGORY_SYSTEM = "https://consent-wallet.example/fhir/CodeSystem/data-category"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACTOR = [{"system": "urn:ietf:rfc:3986", "value": "urn:oid:2.16.840.1.113883.20.5"}]


@functools.cache
def _validator(name: str) -> Any:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=True)


def schema_errors(name: str, document: Any) -> list[str]:
    """What a schema of ours finds wrong with a document (empty: valid)."""
    return [f"{e.instance_path}: {e.message}" for e in _validator(name).iter_errors(document)]


def category(code: str) -> dict[str, str]:
    """A class naming one of our data categories."""
    return {"system": CATEGORY_SYSTEM, "code": code}


def mrn(value: str = "MRN-1") -> dict[str, str]:
    return {"system": MRN_SYSTEM, "value": value}


def hook_request(patient_ids: list[dict], **context: Any) -> dict[str, Any]:
    """A consult's body: LEAP's shape, treatment unless told otherwise."""
    return {
        "hook": "patient-consent-consult",
        "hookInstance": str(uuid.uuid4()),
        "context": {"patientId": patient_ids, "actor": ACTOR, "purposeOfUse": ["TREAT"], **context},
    }


def post(client, token: str | None, body: Any):
    headers = bearer(token) if token else {}
    return client.post(URL, json=body, headers=headers)


def consult(client, token: str, body: dict[str, Any]) -> dict[str, Any]:
    """Send a valid consult; return its one card, checked against the response schema."""
    assert schema_errors("hook-request", body) == []
    response = post(client, token, body)
    assert response.status_code == 200, response.json
    assert schema_errors("hook-response", response.json) == []
    (card,) = response.json["cards"]
    return card


def refused(client, token: str, body: dict[str, Any]):
    """Send a consult the request schema also refuses; return the answer."""
    assert schema_errors("hook-request", body) != [], "the schema should refuse this body too"
    return post(client, token, body)


@pytest.fixture
def link(client):
    """Link a patient to an organisation under its identifier; returns the patient_ref."""

    def make(org_token: str, patient_token: str, identifier: dict[str, str] | None = None) -> str:
        code = client.post("/v1/me/link-codes", json={}, headers=bearer(patient_token))
        assert code.status_code == 201, code.json
        body = {"code": code.json["code"], "identifier": identifier or mrn()}
        linked = client.post("/v1/patient-links", json=body, headers=bearer(org_token))
        assert linked.status_code == 201, linked.json
        return linked.json["patient_ref"]

    return make


@pytest.fixture
def linked_grant(grant, link, hospital_token):
    """A patient grants a consent (the `grant` fixture's terms, or these) and is linked to
    the hospital as MRN-1; returns (consent JSON, patient token, patient_ref)."""

    def make(**overrides: Any) -> tuple[dict, str, str]:
        _, consent, token = grant(**overrides)
        return consent, token, link(hospital_token, token)

    return make
