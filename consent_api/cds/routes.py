"""CDS Hooks 2.0 over HTTP: discovery, and the patient-consent-consult hook.

Clients authenticate with our OAuth bearer tokens (scope consent.check), like every other
organisation route, rather than with CDS Hooks' signed JWTs. Answers are rendered by hand
(`cards`): the card is a CDS Hooks document, not one of our resources.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from consent_api.cds import cards, parsing, service
from consent_api.orgs.current import current_org_ref
from server import scopes
from server.db import utcnow
from server.guard import require
from server.http import external_url, issuer, json_body

bp = Blueprint("cds", __name__)


@bp.get("/cds-services")
@require(scopes.CONSENT_CHECK)
def discovery():
    """List the CDS services offered here."""
    return jsonify(cards.discovery())


@bp.post(f"/cds-services/{parsing.HOOK}")
@require(scopes.CONSENT_CHECK)
def consult():
    """Decide whether the calling organisation may access a patient's data, as one card."""
    asked = parsing.parse(json_body())
    org = current_org_ref()
    outcome = service.consult(asked, org=org, now=utcnow())
    return jsonify(
        cards.response(
            outcome,
            asked,
            org_name=org.name,
            source_url=f"{issuer()}/",
            consent_url=lambda consent_id: external_url("fhir.read", consent_id=consent_id),
        )
    )
