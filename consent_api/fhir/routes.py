"""FHIR R5 read and search of consents (/fhir/R5/Consent), for patients and organisations."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from flask import Blueprint, Response, jsonify, request

from consent_api.fhir import capabilities, outcome, render, schemas, service, smart
from consent_api.orgs.current import current_org
from consent_api.patients.current import current_patient
from server import errors, scopes
from server.db import utcnow
from server.errors import ValidationFailed
from server.guard import bearer, public, require
from server.http import external_url, issuer, load, refuse_nul

FHIR_JSON = outcome.FHIR_JSON

bp = Blueprint("fhir", __name__)
# Every error under /fhir/, whatever raised it, is an OperationOutcome.
bp.record_once(lambda state: errors.add_dialect(state.app, "/fhir/", outcome.rendered))


def _reader() -> service.Reader:
    """Who the token reads for; each kind of holder counts only with its own scope."""
    token = bearer()
    granted = scopes.parse(token.scope)
    if token.patient_id is not None and scopes.PATIENT in granted:
        return service.Reader(patient_id=current_patient().id)
    if token.org_id is not None and scopes.CONSENT_READ in granted:
        return service.Reader(org=current_org())
    return service.Reader()


def _fhir(resource: dict) -> Response:
    # Not jsonify, which sorts keys: keep FHIR's element order, resourceType first, as
    # streaming parsers and people reading it expect.
    return Response(json.dumps(resource), mimetype=FHIR_JSON)


def _version(resource: dict) -> Response:
    """Answer one version of a resource: its versionId as a weak ETag, its lastUpdated as
    Last-Modified, and 304 Not Modified when the client holds it already (If-None-Match,
    or If-Modified-Since without it)."""
    response = _fhir(resource)
    response.set_etag(resource["meta"]["versionId"], weak=True)
    response.last_modified = datetime.fromisoformat(resource["meta"]["lastUpdated"])
    environ = request.environ
    since = request.if_modified_since
    if since is not None and since > utcnow():  # RFC 9110 13.1.3: a future date is no condition
        environ = {k: v for k, v in environ.items() if k != "HTTP_IF_MODIFIED_SINCE"}
    return response.make_conditional(environ)


def _oauth_urls() -> dict[str, str]:
    """Our issuer and OAuth endpoints, as absolute URLs under it (for discovery)."""
    return {
        "issuer": issuer(),
        "token": external_url("oauth.token"),
        "authorize": external_url("oauth.authorize_form"),
        "revoke": external_url("oauth.revoke"),
    }


@bp.get("/fhir/R5/metadata")
@public
def metadata():
    """Describe this FHIR server: its CapabilityStatement."""
    urls = {"fhir": external_url(".metadata").removesuffix("/metadata"), **_oauth_urls()}
    return _fhir(capabilities.capability_statement(urls, now=utcnow()))


@bp.get("/fhir/R5/.well-known/smart-configuration")
@bp.get("/.well-known/smart-configuration")
@public
def smart_configuration():
    """Describe our OAuth server to SMART clients (SMART App Launch v2): at the FHIR base,
    where SMART clients look, and at the root."""
    return jsonify(smart.configuration(_oauth_urls()))


@bp.get("/fhir/R5/Consent/<uuid:consent_id>")
@require(scopes.PATIENT, scopes.CONSENT_READ)
def read(consent_id: uuid.UUID):
    """Read one consent as a FHIR R5 Consent."""
    return _version(service.read(_reader(), consent_id, now=utcnow()))


@bp.get("/fhir/R5/Consent/<uuid:consent_id>/_history/<int:version_id>")
@require(scopes.PATIENT, scopes.CONSENT_READ)
def vread(consent_id: uuid.UUID, version_id: int):
    """Read one version of a consent as a FHIR R5 Consent."""
    return _version(service.version(_reader(), consent_id, version_id, now=utcnow()))


@bp.get("/fhir/R5/Consent/<uuid:consent_id>/_history")
@require(scopes.PATIENT, scopes.CONSENT_READ)
def history(consent_id: uuid.UUID):
    """Every version of a consent, newest first, as a history Bundle."""
    now = utcnow()
    resources = service.history(_reader(), consent_id, now=now)
    entries = [(external_url(".read", consent_id=r["id"]), r) for r in resources]
    self_url = external_url(".history", consent_id=consent_id)
    return _fhir(render.history_bundle(entries, self_url=self_url, now=now))


def _strict() -> bool:
    """Whether the client asked for FHIR's strict handling (`Prefer: handling=strict`)."""
    preferences = request.headers.get("Prefer", "").split(",")
    return any(
        p.partition(";")[0].replace(" ", "").lower() == "handling=strict" for p in preferences
    )


def _search_parameters() -> dict:
    """The search, from the query string (a parameter may be given several times)."""
    params = request.args.to_dict(flat=False)
    refuse_nul(params)
    if _strict() and schemas.unknown(params):
        raise ValidationFailed(errors=schemas.unknown(params))
    return load(schemas.SEARCH, params)


@bp.get("/fhir/R5/Consent")
@require(scopes.PATIENT, scopes.CONSENT_READ)
def search():
    """Search one patient's consents that the caller may see, as a searchset Bundle."""
    query, now = _search_parameters(), utcnow()
    found = service.search(_reader(), query, now=now)
    entries = [(external_url(".read", consent_id=r["id"]), r) for r in found.resources]
    links = {"self": external_url(".search", **schemas.applied(query))}
    if found.next_cursor:
        links["next"] = external_url(".search", **schemas.applied(query, cursor=found.next_cursor))
    return _fhir(render.searchset(entries, links=links, total=found.total, now=now))
