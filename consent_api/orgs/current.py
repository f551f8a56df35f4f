"""The organisation the current request's token acts for."""

from __future__ import annotations

from consent_api.orgs.models import Organisation
from consent_api.orgs.values import Org
from server.db import db
from server.errors import Problem
from server.guard import acting_org_id, bearer


def current_org() -> Organisation:
    """Return the organisation the current token was issued to."""
    org = db.session.get(Organisation, acting_org_id())
    if org is None:
        raise Problem("This token does not act for an organisation.", status=403, code="forbidden")
    return org


def current_org_ref() -> Org:
    """Return who the calling organisation is, without loading it (for the hot paths)."""
    token = bearer()
    org_id = acting_org_id()
    return Org(id=org_id, type=token.org_type, active=token.org_active, name=token.org_name or "")
