"""Migrations build the schema from empty on both databases, and match the models exactly."""

from urllib.parse import quote

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from server.app import create_app
from server.db import db, migrate
from tests.conftest import app_config


@pytest.fixture
def empty_database_url(database_url, tmp_path):
    """A fresh, empty database of the same kind as the suite's."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    schema = "migration_check"
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in database_url else "?"
    yield f"{database_url}{separator}options={quote(f'-csearch_path={schema}')}"
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    engine.dispose()


def test_migrations_from_empty_reach_head_without_drift(empty_database_url):
    application = create_app(app_config(empty_database_url))
    with application.app_context():
        flask_migrate.upgrade()
        head = ScriptDirectory.from_config(migrate.get_config()).get_current_head()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert context.get_current_revision() == head
            assert compare_metadata(context, db.metadata) == []
        flask_migrate.downgrade(revision="base")
        with db.engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() is None
        db.engine.dispose()
