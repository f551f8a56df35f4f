"""The hot paths' kept-open read connection survives the database dropping it."""

import pytest
from sqlalchemy import create_engine, text

from server.app import create_app
from server.db import db, reads
from tests.conftest import app_config


def test_a_dropped_read_connection_is_replaced_and_the_read_retried(app, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("only PostgreSQL can drop a client's connection from the server side")
    application = create_app(app_config(database_url))
    with application.app_context():
        first_pid = reads.execute(text("SELECT pg_backend_pid()"), {}).scalar_one()
        killer = create_engine(database_url)
        with killer.begin() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid})
        killer.dispose()

        second_pid = reads.execute(text("SELECT pg_backend_pid()"), {}).scalar_one()

        assert second_pid != first_pid
        reads.release()
        db.engine.dispose()
