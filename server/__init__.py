"""Wiring of the Consent Wallet service: app factory, config, database, errors, CLI."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from server import config as config_module
from server.jsonio import ApiJSONProvider


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create and configure an instance of the application."""
    import consent_api
    import notifications
    from consent_api.oauth import check_routes_declare_scopes
    from server import db, errors, health, http, ratelimit

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
    db.init_app(app)
    ratelimit.init_app(app)
    consent_api.init_app(app)
    notifications.init_app(app)
    app.register_blueprint(health.bp)
    check_routes_declare_scopes(app)
    return app


def _configure_logging(app: Flask) -> None:
    from server.http import RequestIdFilter

    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    if not any(isinstance(f, RequestIdFilter) for h in root.handlers for f in h.filters):
        root.addHandler(handler)
    root.setLevel(app.config["LOG_LEVEL"])
