"""The app factory: the composition root that wires the core, the domain and notifications."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from consent_api.abuse.routes import bp as abuse_bp
from consent_api.audit.routes import bp as audit_bp
from consent_api.auth import language
from consent_api.auth import server as auth_server
from consent_api.auth.routes import bp as oauth_bp
from consent_api.catalog.routes import bp as catalog_bp
from consent_api.cds.routes import bp as cds_bp
from consent_api.cohorts.routes import bp as cohorts_bp
from consent_api.consents.routes import bp as consents_bp
from consent_api.decisions.routes import bp as decisions_bp
from consent_api.fhir.routes import bp as fhir_bp
from consent_api.links.routes import bp as links_bp
from consent_api.orgs.routes import bp as orgs_bp
from consent_api.patients import passwords
from consent_api.patients.routes import bp as patients_bp
from consent_api.points.routes import bp as points_bp
from consent_api.registration.routes import bp as registration_bp
from consent_api.requests.routes import bp as requests_bp
from consent_api.research.routes import bp as research_bp
from consent_api.rights.routes import bp as rights_bp
from consent_api.studies.routes import bp as studies_bp
from consent_api.uses.routes import bp as uses_bp
from consent_api.webhooks.routes import bp as webhooks_bp
from notifications.routes import bp as notifications_bp
from server import apidocs, db, errors, guard, headers, health, http, ratelimit, signing
from server import config as config_module
from server.http import RequestIdFilter
from server.jsonio import ApiJSONProvider

BLUEPRINTS = (
    health.bp,
    apidocs.bp,
    oauth_bp,
    patients_bp,
    orgs_bp,
    registration_bp,
    catalog_bp,
    consents_bp,
    requests_bp,
    research_bp,
    studies_bp,
    decisions_bp,
    fhir_bp,
    cds_bp,
    links_bp,
    uses_bp,
    webhooks_bp,
    points_bp,
    cohorts_bp,
    rights_bp,
    abuse_bp,
    audit_bp,
    notifications_bp,
)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create and configure an instance of the application."""
    app = Flask(__name__, static_folder=None)
    app.json = ApiJSONProvider(app)
    app.config.from_mapping(config_module.from_env())
    if config:
        app.config.from_mapping(config)
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS",
        config_module.engine_options(app.config["SQLALCHEMY_DATABASE_URI"]),
    )
    app.config["SESSION_COOKIE_SECURE"] = app.config["APP_ENV"] == "production"
    config_module.check_consistent(app.config)
    config_module.check_production(app.config)
    _configure_logging(app)
    for warning in config_module.warnings_for(app.config):
        app.logger.warning(warning)
    if app.config["TRUSTED_PROXIES"]:
        # Behind N reverse proxies, believe their X-Forwarded-* headers (client address for
        # rate limits, https scheme for secure cookies), and nobody else's.
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    http.init_app(app)
    errors.init_app(app)
    headers.init_app(app)
    db.init_app(app)
    ratelimit.init_app(app)
    auth_server.init_app(app)
    language.init_app(app)
    passwords.init_app(app)
    signing.init_app(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    db.one_transaction_per_request(app)
    guard.check_routes_declare_scopes(app)
    return app


def _configure_logging(app: Flask) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    if not any(isinstance(f, RequestIdFilter) for h in root.handlers for f in h.filters):
        root.addHandler(handler)
    root.setLevel(app.config["LOG_LEVEL"])
