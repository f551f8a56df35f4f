"""Link codes (the patient) and links (the patient, and the organisation that made them)."""

from __future__ import annotations

import uuid

from flask import Blueprint

from consent_api.links import service
from consent_api.links.schemas import LinkCodeIn, LinkCodeOut, LinkListOut, LinkRedeemIn, OrgLinkOut
from consent_api.orgs.current import current_org
from consent_api.patients.current import current_patient
from server import scopes
from server.db import utcnow
from server.guard import acting_org_id, bearer, require
from server.http import body, output
from server.ratelimit import configured, limiter

bp = Blueprint("links", __name__)


def _patient_key() -> str:
    return f"link-codes:{bearer().patient_id}"


def _org_key() -> str:
    return f"link-redeem:{acting_org_id()}"


@bp.post("/v1/me/link-codes")
@require(scopes.PATIENT)
@limiter.limit(configured("RATELIMIT_LINK_CODES"), key_func=_patient_key)
@output(LinkCodeOut, status=201)
@body(LinkCodeIn, optional=True)
def create_code(body):
    """Make a short-lived, single-use code the patient gives an organisation to link them."""
    return service.create_code(current_patient(), body, now=utcnow())


@bp.get("/v1/me/links")
@require(scopes.PATIENT)
@output(LinkListOut)
def list_links():
    """The organisations that link the patient, and under which identifier."""
    return {"items": service.active_links(current_patient())}


@bp.delete("/v1/me/links/<uuid:link_id>")
@require(scopes.PATIENT)
def remove_link(link_id: uuid.UUID):
    """Remove a link: the organisation can no longer name the patient by its identifier."""
    service.remove_for_patient(current_patient(), link_id, now=utcnow())
    return "", 204


# Every redemption counts against the organisation, before it is evaluated: counting only
# failures, afterwards, let concurrent guesses past the limit.
@bp.post("/v1/patient-links")
@require(scopes.PATIENT_LINK)
@limiter.limit(configured("RATELIMIT_LINK_REDEEM"), key_func=_org_key)
@output(OrgLinkOut, status=201)
@body(LinkRedeemIn)
def redeem(body):
    """Redeem a patient's link code under the organisation's own identifier for them."""
    return service.redeem(current_org(), body, now=utcnow())


@bp.delete("/v1/patient-links/<uuid:link_id>")
@require(scopes.PATIENT_LINK)
def remove_org_link(link_id: uuid.UUID):
    """Remove one of the organisation's links (a wrong identifier, a merged record)."""
    service.remove_for_org(current_org(), link_id, now=utcnow())
    return "", 204
