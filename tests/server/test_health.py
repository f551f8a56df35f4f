"""Liveness, readiness and the served contract."""

from server.app import create_app
from tests.conftest import app_config, bearer


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


def test_readyz_logs_nothing_of_alembic(client, caplog):
    """Issue 13: every readiness check logged two Alembic lines."""
    with caplog.at_level("INFO"):
        assert client.get("/readyz").status_code == 200
    assert [r.getMessage() for r in caplog.records if r.name.startswith("alembic")] == []


def test_the_access_log_names_each_request_by_its_id():
    """Issue 13: gunicorn's access lines carried no request id, though every line should."""
    from types import SimpleNamespace

    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    from server import gunicorn_conf

    config = Config()
    config.set("access_log_format", gunicorn_conf.access_log_format)
    logger = Logger(config)
    response = SimpleNamespace(
        status="200 OK",
        status_code=200,
        response_length=2,
        sent=2,
        headers=[("X-Request-Id", "abcd1234efgh5678")],
    )
    request = SimpleNamespace(
        headers=[], method="GET", path="/healthz", query="", uri="/healthz", version=(1, 1)
    )
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/healthz",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
    }
    atoms = logger.atoms(
        response, request, environ, __import__("datetime").timedelta(milliseconds=3)
    )
    line = gunicorn_conf.access_log_format % atoms
    assert "request_id=abcd1234efgh5678" in line


def test_a_204_answer_has_no_content_type(client, patient_token):
    """Issue 13: 204 answers said `Content-Type: text/html`, for no content at all."""
    made = client.post(
        "/v1/me/devices", json={"token": "t-204", "platform": "web"}, headers=bearer(patient_token)
    )
    removed = client.delete(f"/v1/me/devices/{made.json['id']}", headers=bearer(patient_token))
    assert removed.status_code == 204
    assert "Content-Type" not in removed.headers
    assert removed.data == b""
