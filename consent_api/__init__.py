"""The Consent Wallet domain and its HTTP face, one package per resource."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Wire OAuth and register every resource's blueprint."""
    from consent_api.auth.routes import bp as oauth_bp
    from consent_api.catalog.routes import bp as catalog_bp
    from consent_api.consents.routes import bp as consents_bp
    from consent_api.decisions.routes import bp as decisions_bp
    from consent_api.fhir.routes import bp as fhir_bp
    from consent_api.oauth import config_oauth
    from consent_api.orgs.routes import bp as orgs_bp
    from consent_api.patients.routes import bp as patients_bp
    from consent_api.points.routes import bp as points_bp
    from consent_api.requests.routes import bp as requests_bp
    from consent_api.uses.routes import bp as uses_bp

    config_oauth(app)
    for blueprint in (
        oauth_bp,
        patients_bp,
        orgs_bp,
        catalog_bp,
        consents_bp,
        requests_bp,
        decisions_bp,
        fhir_bp,
        uses_bp,
        points_bp,
    ):
        app.register_blueprint(blueprint)
