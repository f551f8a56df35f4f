"""Security headers on every answer, built with the `secure` library.

JSON answers load nothing and may be framed by nobody: `default-src 'none'; frame-ancestors
'none'`. The login form (the one HTML page) gets its own policy: it loads nothing either, and
sets no `form-action`, because browsers apply that directive to the redirect that follows the
form (to the patient app's redirect URI, often a custom scheme) and would block the login.
HSTS only in production, where the service is reached over https.
"""

from __future__ import annotations

from flask import Flask, Response
from secure import (
    ContentSecurityPolicy,
    ReferrerPolicy,
    Secure,
    StrictTransportSecurity,
    XContentTypeOptions,
    XFrameOptions,
)

HSTS_MAX_AGE = 365 * 24 * 3600


def policies(*, production: bool) -> tuple[Secure, Secure]:
    """Return the header sets for (API answers, HTML pages)."""
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
    return api, page


def static_headers(*, production: bool = False) -> list[tuple[str, str]]:
    """The API header set as a list, for answers made outside Flask (the WSGI server's)."""
    api, _ = policies(production=production)
    return list(api.headers.items())


def init_app(app: Flask) -> None:
    """Add the security headers to every response the app makes, errors included."""
    api, page = policies(production=app.config["APP_ENV"] == "production")
    api_items, page_items = dict(api.headers), dict(page.headers)

    @app.after_request
    def _secure(response: Response) -> Response:
        chosen = page_items if response.mimetype == "text/html" else api_items
        response.headers.update(chosen)
        return response
