"""The demo's story: what the demo patient's wallet holds on a first `make run`.

Told through the same schemas and services the API uses, at times in the past, so every
consent, version, notice, event and ledger line is what the API itself would have made:
Dana is linked at St. Demo Hospital under MRN 12345 and at Demo Pharma as study participant
P-0042; hospitals may see and use her lab results and medications for treatment; she has
revoked an old consent for marketing; she approved Demo Pharma's request for research on her
lab results at 100 points a use, narrowed to one year; a second request, for her scans, is
pending. The hospital used her lab results twice and the pharma company once (she earned
points); the pharma company's attempt at her medications was refused. She opted in to be
invited to research, and Demo Pharma's home blood-pressure study, once the operator approved
it, invited her: the invitation waits for her answer.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from marshmallow import Schema
from sqlalchemy import exists, select

from consent_api.consents import service as consents
from consent_api.consents.models import Consent
from consent_api.consents.schemas import ConsentIn
from consent_api.links import refs
from consent_api.links import service as links
from consent_api.links.schemas import LinkRedeemIn
from consent_api.orgs.models import Organisation
from consent_api.orgs.values import Org
from consent_api.patients.models import Patient
from consent_api.requests import service as requests
from consent_api.requests.models import ConsentRequest
from consent_api.requests.schemas import ApproveIn, RequestIn
from consent_api.research import preferences
from consent_api.research.schemas import PreferencesIn
from consent_api.studies import fanout
from consent_api.studies import service as studies
from consent_api.studies.schemas import StudyIn
from consent_api.uses import service as uses
from consent_api.uses.schemas import DataUseIn
from server.db import db

MRN = {"system": "https://st-demo.example/mrn", "value": "12345"}
PARTICIPANT = {"system": "https://demo-pharma.example/participant", "value": "P-0042"}


def _load(schema: type[Schema], data: dict[str, Any], **options: Any) -> dict[str, Any]:
    return schema().load(data, **options)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _link(patient: Patient, org: Organisation, identifier: dict, *, now: datetime) -> None:
    code = links.create_code(patient, {"org_id": None}, now=now)
    links.redeem(org, _load(LinkRedeemIn, {"code": code.code, "identifier": identifier}), now=now)


def has_story(patient: Patient) -> bool:
    """Whether the patient's wallet already holds anything (the story is told once)."""
    return bool(db.session.scalar(select(exists().where(Consent.patient_id == patient.id))))


def _grant(
    patient: Patient, grantee: dict, categories: list, purpose: str, actions: list, *, now: datetime
) -> Consent:
    body = {
        "grantee": grantee,
        "data_categories": categories,
        "purposes": [purpose],
        "actions": actions,
    }
    return consents.create(patient, _load(ConsentIn, body), now=now)


def _ask(
    org: Organisation, patient: Patient, categories: list, why: str, fee: int, *, now: datetime
) -> ConsentRequest:
    body = {
        "patient_ref": refs.encode(org.id, patient.id),
        "data_categories": categories,
        "purposes": ["HRESCH"],
        "actions": ["use"],
        "justification": why,
        "fee_per_use": fee,
        "expires_at": _iso(now + timedelta(days=30)),
    }
    return requests.create(org, _load(RequestIn, body), now=now)


def _invite(patient: Patient, pharma: Organisation, *, now: datetime) -> None:
    """Dana opts in to research; Demo Pharma's study is approved, and the fan-out invites her."""
    accepts = {
        "opted_in": True,
        "purposes": ["HRESCH", "PUBHLTH"],
        "data_categories": ["lab_results", "vital_signs", "wearables"],
        "org_types": ["pharma", "research"],
        "max_invitations_per_month": 2,
    }
    preferences.replace(patient.id, _load(PreferencesIn, accepts), now=now - timedelta(days=10))
    study = {
        "title": "Blood pressure at home",
        "description": (
            "How blood pressure measured at home compares with the clinic's, over six months."
        ),
        "purpose": "HRESCH",
        "data_categories": ["vital_signs", "wearables"],
        "actions": ["use"],
        "fee_per_use": 20,
        "ethics_reference": "EC-DEMO-2026-07",
        "starts_on": (now - timedelta(days=3)).date().isoformat(),
        "ends_on": (now + timedelta(days=180)).date().isoformat(),
        "recruitment_target": 200,
    }
    made = studies.register(pharma, _load(StudyIn, study), now=now - timedelta(days=4))
    studies.review(made.id, approve=True, reason=None, now=now - timedelta(days=3))
    run = fanout.Run(now=now - timedelta(days=1), days=30, per_place=10)
    while run.next_batch(limit=500):
        pass


def tell(patient: Patient, hospital: Organisation, pharma: Organisation, *, now: datetime) -> None:
    """Seed the story for the demo patient, as it would have happened over the last weeks."""
    start = now - timedelta(days=21)
    _link(patient, hospital, MRN, now=start)
    _link(patient, pharma, PARTICIPANT, now=start + timedelta(days=1))
    hospitals, the_pharma = {"org_type": "hospital"}, {"org_id": str(pharma.id)}
    care = ["lab_results", "medications"]
    _grant(patient, hospitals, care, "TREAT", ["access", "use"], now=start)
    offers = _grant(patient, the_pharma, ["demographics"], "HMARKT", ["use"], now=start)
    consents.revoke(patient, offers.id, "I no longer want offers.", now=start + timedelta(days=2))
    asked = start + timedelta(days=3)
    why = "Diabetes outcomes study: how HbA1c changes over two years."
    study = _ask(pharma, patient, care, why, 100, now=asked)
    a_year = _iso(asked + timedelta(days=365))
    narrowed = {"data_categories": ["lab_results"], "valid_until": a_year}
    approval = _load(ApproveIn, narrowed, partial=True)
    requests.approve(patient, study.id, approval, now=asked + timedelta(days=1))
    why = "Imaging sub-study: retinal scans of the same participants."
    _ask(pharma, patient, ["imaging"], why, 50, now=now - timedelta(days=2))
    # Each organisation names her by the patient_ref it was given when it linked her (an
    # identifier is looked up on the read connection, which cannot see this transaction).
    for org, purpose, category, records, hours_ago in (
        (hospital, "TREAT", "lab_results", 3, 30),
        (hospital, "TREAT", "lab_results", 1, 6),
        (pharma, "HRESCH", "lab_results", 12, 4),
        (pharma, "HRESCH", "medications", 5, 2),  # approved for lab results only: refused
    ):
        at = now - timedelta(hours=hours_ago)
        body = {
            "patient_ref": refs.encode(org.id, patient.id),
            "data_categories": [category],
            "purpose": purpose,
            "action": "use",
            "record_count": records,
            "occurred_at": _iso(at),
        }
        reporter = Org(id=org.id, type=org.type, name=org.name)
        with contextlib.suppress(uses.UseNotPermitted):  # recorded and told, as the API does
            uses.report(reporter, _load(DataUseIn, body), now=at)
    _invite(patient, pharma, now=now)
