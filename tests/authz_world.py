"""The authorization matrix's fixture world, built once through the HTTP API with real tokens.

Two patients, the first with consents, requests, notices, a device, uses and points, the
second with a life of her own; for every organisation type two organisations, the first
named by a consent of the first patient, asking her for another and having used her data,
the second holding nothing of hers; a hospital client narrowed to one scope; a hospital
suspended after it was given a consent and filed a request; the operator, with an
organisation and a reward to administer; and tokens the server refuses (never issued,
expired, revoked, of an erased patient), each shown to work before it was refused.

Each column of the matrix is a `Caller`: who sends the request, and whose ids fill it (its
`owner`, a `Party`: itself, or the first of its kind when it is "on another's ids").
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select, update

from consent_api.abuse import detection
from consent_api.audit import sequencer
from consent_api.auth.models import OAuthToken, digest
from consent_api.links import refs
from consent_api.orgs.types import BY_ORG_TYPE, DATA_ORG_TYPES
from consent_api.registration import service as registration
from consent_api.webhooks import publishing
from consent_api.webhooks.models import WebhookDelivery
from server import scopes
from server.db import db, utcnow
from tests.conftest import REDIRECT_URI, TEST_PASSWORD, PatientLogin, basic_auth, bearer
from tests.consent_api.studies.test_studies_routes import study_body

# The matrix's columns, in order (the world builds one caller of each name).
CALLER_NAMES = (
    "anonymous",
    "foreign token",
    "expired patient token",
    "revoked hospital token",
    "erased patient's token",
    "patient",
    "patient on another patient's ids",
    *(name for t in DATA_ORG_TYPES for name in (t, f"{t} on another {t}'s ids")),
    "hospital narrowed to consent.check",
    "suspended hospital",
    "admin",
)
UNREACHABLE_RECEIVER = "http://127.0.0.1:9/hooks"  # the discard port: nothing answers there
SCOPE = {"data_categories": ["lab_results"], "purposes": ["TREAT"], "actions": ["access", "use"]}


@dataclass
class Party:
    """Someone who owns ids: a patient, an organisation, or the operator.

    `ids` are the values the matrix fills parameters with when this party is the owner
    ("consent", "pending_request", ...); `private` are the ids nobody else may ever see.
    """

    name: str
    kind: str  # "patient", "org" or "admin": which fill rules apply
    ids: dict[str, str] = field(default_factory=dict)
    private: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Caller:
    """One column of the matrix: a token (or none), the scopes its holder may use, and the
    party whose ids it sends."""

    name: str
    token: str | None
    scopes: frozenset[str]
    party: Party | None  # the caller itself (None: no valid token)
    owner: Party | None  # whose ids it sends (None: the operation's rightful owner's)
    valid: bool = True  # False: no token, or one the server refuses (expired, revoked, ...)
    refused_as: tuple[int, str] = (401, "invalid_token")  # what an invalid token is answered

    @property
    def on_others_ids(self) -> bool:
        """Whether it sends ids that belong to someone else."""
        return self.owner is not None and self.owner is not self.party

    def headers(self) -> dict[str, str]:
        return bearer(self.token) if self.token else {}


@dataclass
class World:
    """Everything the matrix needs: its callers, the parties, and the patient app."""

    callers: dict[str, Caller]
    parties: dict[str, Party]
    app_client_id: str

    def party_of_kind(self, kind: str) -> Party:
        """The first party of a kind: the rightful owner used for callers who have none."""
        return next(p for p in self.parties.values() if p.kind == kind)


def _ok(response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    return response.json


class _Builder:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        operator = registration.register_org(name="Operator", type="operator")
        self.admin = self.org_token(operator.client.client_id, operator.client_secret, "operator")
        app = self.post(
            "/v1/admin/apps", self.admin, 201, name="Wallet", redirect_uris=[REDIRECT_URI]
        )
        self.app_client_id = app["client_id"]
        self.login = PatientLogin(client, SimpleNamespace(client_id=self.app_client_id))
        self.credentials: dict[str, tuple[str, str]] = {}  # by party name
        self.tokens: dict[str, str] = {}  # each organisation's first token, by party name

    def post(self, path: str, token: str, status: int = 200, /, **body) -> Any:
        return _ok(self.client.post(path, json=body, headers=bearer(token)), status)

    def get(self, path: str, token: str, **query) -> Any:
        return _ok(self.client.get(path, query_string=query, headers=bearer(token)))

    def org_token(self, client_id: str, secret: str, org_type: str, scope: str | None = None):
        form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
        token = _ok(
            self.client.post("/oauth/token", data=form, headers=basic_auth(client_id, secret))
        )
        # The matrix expects what types.py allows; make sure that is what was issued.
        assert set(token["scope"].split()) == set(scope.split() if scope else BY_ORG_TYPE[org_type])
        return token["access_token"]

    def org(self, name: str, org_type: str) -> Party:
        created = self.post("/v1/admin/orgs", self.admin, 201, name=name, type=org_type)
        self.credentials[name] = (created["client_id"], created["client_secret"])
        self.tokens[name] = self.org_token(created["client_id"], created["client_secret"], org_type)
        return Party(name, "org", {"org": created["id"]})

    def use(self, org_token: str, patient_ref: str, categories: list[str]) -> tuple[dict, str]:
        """Report a permitted use; return it and the Idempotency-Key it was sent with."""
        body = {
            "patient_ref": patient_ref,
            "data_categories": categories,
            "purpose": "TREAT",
            "action": "use",
            "record_count": 1,
            "occurred_at": utcnow().isoformat(),
        }
        key = uuid.uuid4().hex
        headers = {**bearer(org_token), "Idempotency-Key": key}
        return _ok(self.client.post("/v1/data-uses", json=body, headers=headers), 201), key

    def patient(self, name: str) -> tuple[Party, str]:
        email = f"{name}-{secrets.token_hex(4)}@example.org"
        body = {"email": email, "password": TEST_PASSWORD, "display_name": name}
        created = _ok(self.client.post("/v1/patients", json=body), 201)
        token = self.login.tokens(email)["access_token"]
        return Party(name, "patient", {"patient_id": created["id"]}), token

    def request(self, org_token: str, patient_ref: str, **extra) -> dict:
        body = {
            "patient_ref": patient_ref,
            "justification": "Follow-up of your treatment.",
            "expires_at": (utcnow() + timedelta(days=30)).isoformat(),
            **SCOPE,
            **extra,
        }
        return self.post("/v1/consent-requests", org_token, 201, **body)

    def link(self, org_token: str, patient_token: str, system: str) -> dict:
        """The patient makes a link code; the organisation redeems it under its identifier."""
        code = self.post("/v1/me/link-codes", patient_token, 201)["code"]
        identifier = {"system": system, "value": "first-patient"}
        return self.post("/v1/patient-links", org_token, 201, code=code, identifier=identifier)

    def webhook(self, org_token: str) -> dict:
        """An endpoint at a local port nobody listens on: its deliveries stay pending."""
        return self.post("/v1/org/webhooks", org_token, 201, url=UNREACHABLE_RECEIVER)

    def consent(self, patient_token: str, grantee: dict, **extra) -> dict:
        body = {"grantee": grantee, **SCOPE, **extra}
        return self.post("/v1/me/consents", patient_token, 201, **body)


def build(client: FlaskClient) -> World:
    """Build the world through the API; every id it hands out exists when it returns."""
    b = _Builder(client)
    reward = b.post("/v1/admin/rewards", b.admin, 201, name="Cinema ticket", cost=10)
    p1, p1_token = b.patient("first-patient")
    p2, p2_token = b.patient("second-patient")
    parties: dict[str, Party] = {"p1": p1, "p2": p2}
    callers: dict[str, Caller] = {}
    for org_type in DATA_ORG_TYPES:
        _organisations_of(b, org_type, p1, p1_token, parties, callers)
    hospital = parties["first-hospital"]
    _life_of_the_first_patient(b, p1, p1_token, hospital, reward["id"])
    for org_type in DATA_ORG_TYPES:
        _as_the_organisation_sees_them(b, parties[f"first-{org_type}"])
    _life_of_the_second_patient(b, p2_token)
    callers["patient"] = Caller("patient", p1_token, frozenset({scopes.PATIENT}), p1, p1)
    callers["patient on another patient's ids"] = Caller(
        "patient on another patient's ids", p2_token, frozenset({scopes.PATIENT}), p2, p1
    )

    # A hospital client narrowed to one scope: a wrong scope within the organisation scopes.
    narrowed = b.org_token(*b.credentials[hospital.name], "hospital", "consent.check")
    callers["hospital narrowed to consent.check"] = Caller(
        "hospital narrowed to consent.check",
        narrowed,
        frozenset({scopes.CONSENT_CHECK}),
        hospital,
        hospital,
    )
    _suspended_hospital(b, p1, p1_token, parties, callers)

    # The operator: an organisation and a reward to administer.
    target = b.org("administered-org", "pharma")
    webhook = b.webhook(b.tokens[target.name])
    study = b.post("/v1/studies", b.tokens[target.name], 201, **study_body())
    operator = Party(
        "operator",
        "admin",
        {
            "org": target.ids["org"],
            "reward": reward["id"],
            "webhook": webhook["id"],
            "study": study["id"],
            "incident": _incident(b, target, p2),
        },
    )
    parties["operator"] = operator
    callers["admin"] = Caller(
        "admin", b.admin, frozenset(BY_ORG_TYPE["operator"]), operator, operator
    )
    _published(b, parties)
    _audited(b, p1, p1_token)
    for name, token in _refused_tokens(b, p1_token, hospital):
        callers[name] = Caller(name, token, frozenset(), None, None, valid=False)
    assert set(callers) == set(CALLER_NAMES), set(callers) ^ set(CALLER_NAMES)
    return World(callers, parties, b.app_client_id)


def _organisations_of(
    b: _Builder,
    org_type: str,
    p1: Party,
    p1_token: str,
    parties: dict[str, Party],
    callers: dict[str, Caller],
) -> None:
    """Two organisations of a type: the first holds a consent of p1 naming it, a pending
    request to her and a use of her data; the second holds nothing of hers."""
    first, second = b.org(f"first-{org_type}", org_type), b.org(f"second-{org_type}", org_type)
    token, second_token = b.tokens[first.name], b.tokens[second.name]
    consent = b.consent(p1_token, {"org_id": first.ids["org"]})
    mrn_system = f"https://{org_type}.example/mrn"
    link = b.link(token, p1_token, mrn_system)
    pending = b.request(token, link["patient_ref"])
    used, key = b.use(token, link["patient_ref"], ["lab_results"])
    webhook = b.webhook(token)
    study = b.post("/v1/studies", token, 201, **study_body())
    first.ids |= {
        "study": study["id"],
        "webhook": webhook["id"],
        "link": link["id"],
        "patient_ref": link["patient_ref"],
        "mrn_system": mrn_system,
        "consent": consent["id"],
        "consent_version": "1",
        "pending_request": pending["id"],
        "patient_id": p1.ids["patient_id"],
        "idempotency_key": key,
    }
    first.private |= {
        consent["id"],
        pending["id"],
        used["id"],
        link["id"],
        webhook["id"],
        study["id"],
    }
    parties[first.name], parties[second.name] = first, second
    scope = frozenset(BY_ORG_TYPE[org_type])
    callers[org_type] = Caller(org_type, token, scope, first, first)
    name = f"{org_type} on another {org_type}'s ids"
    callers[name] = Caller(name, second_token, scope, second, first)


def _audited(b: _Builder, p1: Party, p1_token: str) -> None:
    """The worker's sequencing, done: every audit entry is in the tree, under a checkpoint;
    one of the first patient's is the entry the matrix proves."""
    sequencer.sequence(now=utcnow(), batch=100_000)
    found = b.get("/v1/me/audit", p1_token, limit=200)["items"]
    assert found, "the first patient has audit entries"
    assert all(entry["leaf_index"] is not None for entry in found)
    p1.ids["audit_entry"] = found[0]["id"]
    p1.private |= {entry["id"] for entry in found}


def _incident(b: _Builder, org: Party, patient: Party) -> str:
    """An incident for the operator to review: the burst rule lowered to one use or attempt,
    two reports by `org` on the patient, the worker's scan; the rule put back."""
    lowered = {"thresholds": {"max_events": 1}}
    _ok(b.client.patch("/v1/admin/abuse-rules/burst", json=lowered, headers=bearer(b.admin)))
    ref = refs.encode(uuid.UUID(org.ids["org"]), uuid.UUID(patient.ids["patient_id"]))
    for _ in range(2):
        body = {
            "patient_ref": ref,
            "data_categories": ["lab_results"],
            "purpose": "TREAT",
            "action": "use",
            "record_count": 1,
            "occurred_at": utcnow().isoformat(),
        }
        headers = {**bearer(b.tokens[org.name]), "Idempotency-Key": uuid.uuid4().hex}
        reported = b.client.post("/v1/data-uses", json=body, headers=headers)
        assert reported.status_code in (201, 403), reported.get_data(as_text=True)
    detection.scan(now=utcnow())
    put_back = {"thresholds": {"max_events": 30}}
    _ok(b.client.patch("/v1/admin/abuse-rules/burst", json=put_back, headers=bearer(b.admin)))
    found = b.get("/v1/admin/incidents", b.admin, rule="burst", org_id=org.ids["org"])
    (incident,) = found["items"]
    return incident["id"]


def _published(b: _Builder, parties: dict[str, Party]) -> None:
    """The worker's publishing, done: each first organisation's events are in its feed and
    queued to its endpoint (unreachable, so they stay pending: one of them is its delivery)."""
    publishing.publish(now=utcnow())
    for org_type in DATA_ORG_TYPES:
        first = parties[f"first-{org_type}"]
        token = b.tokens[first.name]
        events = b.get("/v1/events", token, limit=500)["items"]
        assert events, f"{first.name} has events"
        first.private |= {event["id"] for event in events}
        deliveries = b.get(f"/v1/org/webhooks/{first.ids['webhook']}/deliveries", token)["items"]
        first.ids["delivery"] = deliveries[0]["id"]
        first.private |= {delivery["id"] for delivery in deliveries}
    suspended = parties["suspended-hospital"]  # its token no longer works: read the table
    suspended.ids["delivery"] = str(
        db.session.scalar(
            select(WebhookDelivery.id).where(
                WebhookDelivery.endpoint_id == uuid.UUID(suspended.ids["webhook"])
            )
        )
    )


def _as_the_organisation_sees_them(b: _Builder, first: Party) -> None:
    """An organisation knows every consent by an id of its own: its consent (the one naming
    it) is filled in as it knows it, and every consent it holds is private to it."""
    held = b.get("/v1/consents", b.tokens[first.name], limit=100)["items"]
    first.ids["consent"] = next(c["id"] for c in held if c["grantee"]["org_id"] == first.ids["org"])
    first.private |= {c["id"] for c in held}


def _life_of_the_first_patient(
    b: _Builder, p1: Party, p1_token: str, hospital: Party, reward_id: str
) -> None:
    """p1's own ids: an active consent, a paused one, a pending request, notices, a device,
    points earned from a paid use and a redemption of some."""
    token = b.tokens[hospital.name]
    paid = b.request(
        token, hospital.ids["patient_ref"], fee_per_use=100, data_categories=["imaging"]
    )
    paid_consent = b.post(f"/v1/me/consent-requests/{paid['id']}/approve", p1_token, 201)
    used, _ = b.use(token, hospital.ids["patient_ref"], ["imaging"])
    assert used["points_credited"], used
    hospital.private |= {paid["id"], paid_consent["id"], used["id"]}
    key = uuid.uuid4().hex
    redeemed = b.client.post(
        "/v1/me/points/redemptions",
        json={"reward_id": reward_id},
        headers={**bearer(p1_token), "Idempotency-Key": key},
    )
    _ok(redeemed, 201)

    # Other categories than the organisations' own consents: a type-wide grant of those would
    # let the second organisation of the type use them too.
    own = b.consent(p1_token, {"org_type": "research"}, data_categories=["wearables"])
    paused = b.consent(p1_token, {"org_type": "insurer"}, data_categories=["vital_signs"])
    b.post(f"/v1/me/consents/{paused['id']}/pause", p1_token)
    device = b.post(
        "/v1/me/devices", p1_token, 201, token=f"fcm-{uuid.uuid4().hex}", platform="ios"
    )
    notices = b.get("/v1/me/notifications", p1_token, limit=100)["items"]
    p1.ids |= {
        "consent": own["id"],
        "consent_version": "1",
        "paused_consent": paused["id"],
        "pending_request": hospital.ids["pending_request"],
        "notification": notices[0]["id"],
        "device": device["id"],
        "link": hospital.ids["link"],
        "idempotency_key": key,
    }
    p1.private |= {c["id"] for c in b.get("/v1/me/consents", p1_token, limit=100)["items"]}
    p1.private |= {r["id"] for r in b.get("/v1/me/consent-requests", p1_token, limit=100)["items"]}
    p1.private |= {u["id"] for u in b.get("/v1/me/access-log", p1_token, limit=100)["items"]}
    p1.private |= {n["id"] for n in notices} | {device["id"], redeemed.json["id"]}
    p1.private |= {link["id"] for link in b.get("/v1/me/links", p1_token)["items"]}


def _life_of_the_second_patient(b: _Builder, p2_token: str) -> None:
    """p2 has a life of her own: a consent and a device."""
    b.consent(p2_token, {"org_type": "pharma"})
    b.post("/v1/me/devices", p2_token, 201, token=f"fcm-{uuid.uuid4().hex}", platform="android")


def _suspended_hospital(
    b: _Builder, p1: Party, p1_token: str, parties: dict[str, Party], callers: dict[str, Caller]
) -> None:
    """A hospital suspended after it filed a request and was given a consent."""
    suspended = b.org("suspended-hospital", "hospital")
    token = b.tokens[suspended.name]
    consent = b.consent(p1_token, {"org_id": suspended.ids["org"]})
    mrn_system = "https://suspended.example/mrn"
    link = b.link(token, p1_token, mrn_system)
    pending = b.request(token, link["patient_ref"])
    webhook = b.webhook(token)
    study = b.post("/v1/studies", token, 201, **study_body())
    suspended.ids |= {
        "study": study["id"],
        "webhook": webhook["id"],
        "link": link["id"],
        "patient_ref": link["patient_ref"],
        "mrn_system": mrn_system,
        "consent": consent["id"],
        "consent_version": "1",
        "pending_request": pending["id"],
        "patient_id": p1.ids["patient_id"],
    }
    b.post(f"/v1/admin/orgs/{suspended.ids['org']}/suspend", b.admin)
    parties[suspended.name] = suspended
    scope = frozenset(BY_ORG_TYPE["hospital"])
    callers["suspended hospital"] = Caller(
        "suspended hospital",
        token,
        scope,
        suspended,
        suspended,
        valid=False,
        refused_as=(403, "org_suspended"),
    )


def _refused_tokens(b: _Builder, p1_token: str, hospital: Party) -> list[tuple[str, str | None]]:
    """Tokens the server refuses: none, one never issued, an expired, a revoked one, and one
    whose patient has since erased her account."""
    expired = b.login.tokens(b.get("/v1/me", p1_token)["email"])["access_token"]
    b.get("/v1/me", expired)  # each of these tokens worked until it was refused
    db.session.execute(
        update(OAuthToken)
        .where(OAuthToken.access_token_hash == digest(expired))
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    revoked = b.org_token(*b.credentials[hospital.name], "hospital")
    b.get("/v1/org", revoked)
    revocation = b.client.post(
        "/oauth/revoke", data={"token": revoked}, headers=basic_auth(*b.credentials[hospital.name])
    )
    _ok(revocation)
    _, erased = b.patient("erased-patient")
    _ok(b.client.delete("/v1/me", headers=bearer(erased)), 204)
    return [
        ("anonymous", None),
        ("foreign token", secrets.token_urlsafe(32)),
        ("expired patient token", expired),
        ("revoked hospital token", revoked),
        ("erased patient's token", erased),
    ]
