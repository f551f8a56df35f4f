"""The public catalog."""

from flask import Blueprint

from consent_api import catalog
from server.guard import public

bp = Blueprint("catalog", __name__)


@bp.get("/v1/catalog")
@public
def get_catalog():
    """List data categories, purposes and actions with their plain-language labels."""
    return catalog.as_document()
