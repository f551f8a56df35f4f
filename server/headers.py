"""Security headers on every answer, built with the `secure` library.

JSON answers load nothing and may be framed by nobody: `default-src 'none'; frame-ancestors
'none'`. The login form (the one HTML page) gets its own policy: it loads nothing either, and
sets no `form-action`, because browsers apply that directive to the redirect that follows the
form (to the patient app's redirect URI, often a custom scheme) and would block the login.
The API reference (/docs and its assets, server/apidocs) runs a viewer: scripts and styles
from our origin only (never inline), images from it or `data:` (the viewer's icons are data
URLs in its stylesheet), and fetches to it (the contract, and "try it out"). Its error
answers are API answers like any other. HSTS only in production, where the service is
reached over https.
"""

from __future__ import annotations

from flask import Flask, Response, request
from secure import (
    ContentSecurityPolicy,
    ReferrerPolicy,
    Secure,
    StrictTransportSecurity,
    XContentTypeOptions,
    XFrameOptions,
)

HSTS_MAX_AGE = 365 * 24 * 3600
# The blueprint of the API reference (server/apidocs), the one place scripts may run.
DOCS_BLUEPRINT = "apidocs"


def policies(*, production: bool) -> tuple[Secure, Secure, Secure]:
    """Return the header sets for (API answers, HTML pages, the API reference)."""
    hsts = StrictTransportSecurity().max_age(HSTS_MAX_AGE) if production else None

    def common(csp: ContentSecurityPolicy) -> Secure:
        return Secure(
            csp=csp,
            hsts=hsts,
            referrer=ReferrerPolicy().no_referrer(),
            xcto=XContentTypeOptions(),
            xfo=XFrameOptions().deny(),
        )

    api = common(ContentSecurityPolicy().default_src("'none'").frame_ancestors("'none'"))
    page = common(
        ContentSecurityPolicy().default_src("'none'").base_uri("'none'").frame_ancestors("'none'")
    )
    docs = common(
        ContentSecurityPolicy()
        .default_src("'none'")
        .script_src("'self'")
        .style_src("'self'")
        .img_src("'self'", "data:")
        .connect_src("'self'")
        .base_uri("'none'")
        .frame_ancestors("'none'")
    )
    return api, page, docs


def static_headers(*, production: bool = False) -> list[tuple[str, str]]:
    """The API header set as a list, for answers made outside Flask (the WSGI server's)."""
    api, _, _ = policies(production=production)
    return list(api.headers.items())


def init_app(app: Flask) -> None:
    """Add the security headers to every response the app makes, errors included."""
    api, page, docs = policies(production=app.config["APP_ENV"] == "production")
    api_items, page_items, docs_items = dict(api.headers), dict(page.headers), dict(docs.headers)

    @app.after_request
    def _secure(response: Response) -> Response:
        if request.blueprint == DOCS_BLUEPRINT and response.status_code < 400:
            chosen = docs_items
        elif response.mimetype == "text/html":
            chosen = page_items
        else:
            chosen = api_items
        response.headers.update(chosen)
        return response
