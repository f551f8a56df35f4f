"""Liveness, readiness and the served contract."""

from server.app import create_app
from tests.conftest import app_config


def test_healthz_answers_without_touching_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_reports_the_migration_head(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["status"] == "ready"
    assert response.json["revision"]


def test_openapi_document_is_served_as_yaml(client):
    response = client.get("/openapi.yaml")
    assert response.status_code == 200
    assert response.mimetype == "application/yaml"
    assert response.text.startswith("openapi: 3.1")


def test_every_response_carries_a_request_id(client):
    response = client.get("/healthz", headers={"X-Request-Id": "abcdef0123456789"})
    assert response.headers["X-Request-Id"] == "abcdef0123456789"
    assert len(client.get("/healthz").headers["X-Request-Id"]) == 16


def test_healthz_answers_while_the_database_is_unreachable_but_readyz_does_not():
    # Port 9 (discard) is closed: every connection attempt is refused at once.
    unreachable = create_app(app_config("postgresql+psycopg://nobody@127.0.0.1:9/none"))
    client = unreachable.test_client()

    alive = client.get("/healthz")
    ready = client.get("/readyz")

    assert (alive.status_code, alive.json) == (200, {"status": "ok"})
    assert ready.status_code == 503
    assert ready.mimetype == "application/problem+json"
    assert ready.json["code"] == "database_unreachable"
