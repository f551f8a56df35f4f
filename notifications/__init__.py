"""Notices to patients: outbox, push senders and the scheduled jobs that drain them."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the inbox, device, preference and outbox tables and the patient's routes."""
    from notifications import models  # noqa: F401 - importing declares the tables
    from notifications.routes import bp

    app.register_blueprint(bp)
