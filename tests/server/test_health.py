"""Liveness, readiness and the served contract."""


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
