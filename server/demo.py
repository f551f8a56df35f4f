"""The demo seed behind `make run`: fixed, known credentials for local use only."""

from __future__ import annotations

import json
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from consent_api.auth.models import OAuthClient, digest
from consent_api.orgs import service as orgs
from consent_api.orgs.models import Organisation
from consent_api.orgs.types import BY_ORG_TYPE
from consent_api.patients.models import Patient
from consent_api.patients.passwords import passwords
from consent_api.points import service as points
from consent_api.points.models import Reward
from server import demo_story, scopes
from server.db import db, utcnow
from server.errors import Problem

DEMO = {
    "operator": (
        "Consent Wallet Trust (demo operator)",
        "operator",
        "demo-operator",
        "demo-operator-secret",
    ),
    "hospital": ("St. Demo Hospital", "hospital", "demo-hospital", "demo-hospital-secret"),
    "pharma": ("Demo Pharma Research", "pharma", "demo-pharma", "demo-pharma-secret"),
}
# What the directory (GET /v1/orgs) shows about each, for the patient app to render.
PROFILES = {
    "hospital": (
        "A teaching hospital: emergency care, surgery, laboratory.",
        "https://st-demo.example",
    ),
    "pharma": (
        "Clinical research on diabetes and metabolic disease.",
        "https://demo-pharma.example",
    ),
}
# Shell snippet that prints the access_token field of a token response.
PRINT_TOKEN_FIELD = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])'"  # noqa: S105 - code, not a secret
DEMO_PATIENT = ("demo@patient.example", "demo-patient-password", "Dana Demo")
DEMO_APP = ("Consent Wallet app (demo)", "demo-app", "http://127.0.0.1:8765/callback")


@dataclass
class DemoSeed:
    """What the seed made, for printing."""

    clients: dict[str, tuple[str, str]]
    patient: tuple[str, str]
    app_client_id: str
    redirect_uri: str


def _org_client(name: str, org_type: str, client_id: str, secret: str) -> Organisation:
    client = db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
    if client is None:
        org = orgs.add(name=name, type=org_type)  # in the audit log, as any registration
        client = OAuthClient(
            client_id=client_id,
            name=name,
            org_id=org.id,
            auth_method="client_secret_basic",
            grant_types=["client_credentials"],
            redirect_uris=[],
        )
        db.session.add(client)
    else:
        org = db.session.get(Organisation, client.org_id)
    client.secret_hash = digest(secret)
    client.scope = " ".join(BY_ORG_TYPE[org_type])  # reset: a new scope reaches old seeds
    return org


def _reward(name: str, description: str, cost: int, instructions: str) -> None:
    reward = db.session.scalar(select(Reward).where(Reward.name == name))
    if reward is None:  # in the audit log, as any reward the operator adds
        reward = points.create_reward(
            {"name": name, "description": description, "cost": cost, "instructions": instructions},
            by=None,
            now=utcnow(),
        )
    reward.instructions = instructions


def seed() -> DemoSeed:
    """Create (or reset) the demo operator, organisations, patient and app, and tell the
    demo patient's story once (server/demo_story.py); idempotent."""
    if current_app.config["APP_ENV"] == "production":
        raise Problem("The demo seed never runs in production.", code="demo_in_production")
    orgs = {role: _org_client(*made) for role, made in DEMO.items()}
    for role, (description, website) in PROFILES.items():
        orgs[role].description, orgs[role].website = description, website
    email, password, display_name = DEMO_PATIENT
    patient = db.session.scalar(select(Patient).where(Patient.email == email))
    if patient is None:
        db.session.add(Patient(email=email, display_name=display_name, password_hash=""))
        patient = db.session.scalar(select(Patient).where(Patient.email == email))
    patient.password_hash = passwords().hash(password)
    app_name, app_client_id, redirect_uri = DEMO_APP
    if db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == app_client_id)) is None:
        db.session.add(
            OAuthClient(
                client_id=app_client_id,
                name=app_name,
                auth_method="none",
                grant_types=["authorization_code", "refresh_token"],
                redirect_uris=[redirect_uri],
                scope=scopes.PATIENT,
            )
        )
    _reward(
        "Pharmacy voucher",
        "5 EUR off at partner pharmacies.",
        50,
        "Show the code at the till of a partner pharmacy; it works once.",
    )
    db.session.flush()
    if not demo_story.has_story(patient):
        demo_story.tell(patient, orgs["hospital"], orgs["pharma"], now=utcnow())
    return known()


def known() -> DemoSeed:
    """What the seed makes: fixed credentials, so they can be printed by another process."""
    email, password, _ = DEMO_PATIENT
    _, app_client_id, redirect_uri = DEMO_APP
    return DemoSeed(
        clients={role: (cid, secret) for role, (_, _, cid, secret) in DEMO.items()},
        patient=(email, password),
        app_client_id=app_client_id,
        redirect_uri=redirect_uri,
    )


def describe(seeded: DemoSeed, base_url: str) -> str:
    """Return the text `make run` prints: credentials, the demo's story, curls to paste."""
    hospital_id, hospital_secret = seeded.clients["hospital"]
    mrn = json.dumps(demo_story.MRN)
    lines = ["", "Consent Wallet demo", "===================", ""]
    for role, (client_id, secret) in seeded.clients.items():
        lines.append(f"  {role:<9} client_id={client_id}  client_secret={secret}")
    lines += [
        f"  patient   e-mail={seeded.patient[0]}  password={seeded.patient[1]}",
        f"  app       client_id={seeded.app_client_id}  redirect_uri={seeded.redirect_uri}"
        "  (authorization code + PKCE S256)",
        "",
        "The demo patient is linked at the hospital as MRN 12345 and holds consents, one",
        "request waiting for her answer, and uses of her data that earned her points.",
        "Try it: the hospital checks consent by MRN (permit), then the patient, logged in as",
        "the app does, reads who used her data and her points:",
        "",
        f"  BASE={base_url}",
        f"  HOSPITAL=$(curl -s -u {hospital_id}:{hospital_secret} \\",
        f"    -d grant_type=client_credentials $BASE/oauth/token | {PRINT_TOKEN_FIELD})",
        '  curl -s -H "Authorization: Bearer $HOSPITAL" -H "Content-Type: application/json" \\',
        f'    $BASE/v1/consent-checks -d \'{{"patient_identifier": {mrn}, '
        '"data_category": "lab_results", "purpose": "TREAT", "action": "use"}\'',
        "  PATIENT=$(.venv/bin/consent-wallet demo-login --base-url $BASE)",
        '  curl -s -H "Authorization: Bearer $PATIENT" "$BASE/v1/me/access-log?limit=3"',
        '  curl -s -H "Authorization: Bearer $PATIENT" $BASE/v1/me/points',
        "",
        "The README walks the hospital, the patient app and the data user through; the API",
        f"reference is at {base_url}/docs.",
        "",
    ]
    return "\n".join(lines)
