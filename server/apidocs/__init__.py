"""The API reference at /docs: Swagger UI rendering /openapi.yaml, every file served by us.

The viewer's files come from the flask-swagger-ui wheel, which vendors Swagger UI's dist
(its blueprint and template are not used: the template starts the viewer with an inline
script, which our CSP refuses). Only the files the page names are served, from a fixed list,
so no other file of the package, nor any path built from the request, can be reached.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, Response, render_template, request, url_for

from server.errors import NotFound
from server.guard import public
from server.headers import DOCS_BLUEPRINT

# Named by server/headers.py, which gives this blueprint's answers the policy that lets the
# viewer run.
bp = Blueprint(DOCS_BLUEPRINT, __name__, template_folder="templates")

VIEWER = Path(flask_swagger_ui.__file__).parent / "dist"
OURS = Path(__file__).parent / "static"
# Each asset the page loads: the folder it is read from and its type (stated, not guessed
# from the machine's mime.types). The standalone preset is left out: its top bar loads any
# spec URL typed into it, and its logo carries an inline style.
ASSETS = {
    "swagger-ui.css": (VIEWER, "text/css"),
    "index.css": (VIEWER, "text/css"),
    "swagger-ui-bundle.js": (VIEWER, "text/javascript"),
    "favicon-32x32.png": (VIEWER, "image/png"),
    "start.js": (OURS, "text/javascript"),
}
# A day, then revalidated by ETag: an upgraded viewer shows within a day, an unchanged file
# costs a 304.
ASSET_MAX_AGE = 24 * 3600


@bp.get("/docs")
@public
def page():
    """Serve the reference page, which loads the viewer and points it at the contract."""
    return render_template("apidocs/index.html", spec_url=url_for("health.openapi"))


@bp.get("/docs/assets/<asset>")
@public
def asset(asset: str) -> Response:
    """Serve one of the page's assets, cacheable and conditional on its ETag."""
    if asset not in ASSETS:
        raise NotFound("No such asset.")
    data, etag = _contents(asset)
    response = Response(data, mimetype=ASSETS[asset][1])
    response.cache_control.public = True
    response.cache_control.max_age = ASSET_MAX_AGE
    response.set_etag(etag)
    return response.make_conditional(request)


@functools.cache
def _contents(asset: str) -> tuple[bytes, str]:
    """Return the asset's bytes and their hash, read once per process (a few MB in all)."""
    folder, _ = ASSETS[asset]
    data = (folder / asset).read_bytes()
    return data, hashlib.sha256(data).hexdigest()
