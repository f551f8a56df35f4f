"""Liveness, readiness and the published contract."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from flask import Blueprint, Response, current_app
from sqlalchemy import inspect, text

from server.config import ROOT
from server.db import db, migrate
from server.errors import problem_response
from server.guard import public

bp = Blueprint("health", __name__)
OPENAPI_PATH = ROOT / "openapi.yaml"


@bp.get("/healthz")
@public
def healthz():
    """Answer as long as the process can serve; touches no database."""
    return {"status": "ok"}


def _migration_state() -> tuple[str | None, str | None]:
    script = ScriptDirectory.from_config(migrate.get_config())
    # Read-only: an AUTOCOMMIT connection takes no transaction (nor, on SQLite, the write lock).
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("SELECT 1"))
        # Alembic's own table, read directly: its MigrationContext logs two lines a call.
        current = None
        if inspect(connection).has_table("alembic_version"):
            current = connection.scalar(text("SELECT version_num FROM alembic_version"))
    return current, script.get_current_head()


@bp.get("/readyz")
@public
def readyz():
    """Answer 200 only when the database is reachable and at the migration head."""
    try:
        current, head = _migration_state()
    except Exception:
        current_app.logger.exception("readiness check could not reach the database")
        return problem_response(503, "database_unreachable", "Not ready", "Database unreachable.")
    if current != head:
        return problem_response(
            503,
            "migrations_pending",
            "Not ready",
            f"Database at {current}, code expects {head}.",
        )
    return {"status": "ready", "revision": current}


@bp.get("/openapi.yaml")
@public
def openapi():
    """Serve the API contract."""
    return Response(OPENAPI_PATH.read_bytes(), mimetype="application/yaml")
