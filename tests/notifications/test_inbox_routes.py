"""The patient's inbox and devices over HTTP, with real patient tokens."""

import uuid

from sqlalchemy import select

from notifications.models import Device, OutboxMessage
from notifications.outbox import notify
from server.db import db, utcnow
from tests.conftest import bearer
from tests.factories import PatientFactory
from tests.support import all_pages


def _notice(patient, title="Hello", **extra):
    return notify(patient.id, type="test", title=title, body="b", now=utcnow(), **extra)


def test_the_inbox_lists_newest_first_with_the_unread_count(client, patient, patient_token):
    for n in range(3):
        _notice(patient, title=f"Notice {n}")
    body = client.get("/v1/me/notifications", headers=bearer(patient_token)).json
    assert [n["title"] for n in body["items"]] == ["Notice 2", "Notice 1", "Notice 0"]
    assert body["unread_count"] == 3
    assert body["next_cursor"] is None


def test_marking_read_one_and_all(client, patient, patient_token):
    first, _second, _third = (_notice(patient, title=f"N{n}") for n in range(3))
    marked = client.post(
        f"/v1/me/notifications/{first.id}/read", headers=bearer(patient_token)
    ).json
    assert marked["read_at"] is not None
    again = client.post(f"/v1/me/notifications/{first.id}/read", headers=bearer(patient_token))
    assert again.json["read_at"] == marked["read_at"]  # the first reading stays
    inbox = client.get(
        "/v1/me/notifications", query_string={"unread": "true"}, headers=bearer(patient_token)
    ).json
    assert inbox["unread_count"] == 2
    assert [n["title"] for n in inbox["items"]] == ["N2", "N1"]

    answer = client.post("/v1/me/notifications/read-all", headers=bearer(patient_token)).json
    assert answer == {"marked": 2, "unread_count": 0}
    after = client.get("/v1/me/notifications", headers=bearer(patient_token)).json
    assert after["unread_count"] == 0


def test_the_inbox_pages_with_a_cursor(client, patient, patient_token):
    for n in range(5):
        _notice(patient, title=f"N{n}")
    notices = all_pages(client, "/v1/me/notifications", headers=bearer(patient_token))
    titles = [n["title"] for n in notices]
    assert titles == ["N4", "N3", "N2", "N1", "N0"]


def test_another_patients_notice_is_not_found(client, patient_token):
    other = _notice(PatientFactory())
    response = client.post(f"/v1/me/notifications/{other.id}/read", headers=bearer(patient_token))
    assert response.status_code == 404
    assert db.session.get(type(other), other.id).read_at is None


def test_registering_a_device_twice_keeps_one_and_a_token_moves_to_its_new_owner(
    client, patient_token_for, patient, patient_token
):
    body = {"token": "fcm-token-1", "platform": "android"}
    created = client.post("/v1/me/devices", json=body, headers=bearer(patient_token))
    again = client.post("/v1/me/devices", json=body, headers=bearer(patient_token))
    assert (created.status_code, again.status_code) == (201, 200)
    assert created.json["id"] == again.json["id"]
    assert "token" not in created.json

    newcomer = PatientFactory()
    newcomer_token = patient_token_for(newcomer)
    _notice(patient, title="for the first owner")  # queued for the phone, not yet sent
    moved = client.post(
        "/v1/me/devices", json={**body, "platform": "ios"}, headers=bearer(newcomer_token)
    )
    assert moved.status_code == 200
    assert moved.json["id"] == created.json["id"]
    assert client.get("/v1/me/devices", headers=bearer(patient_token)).json["items"] == []
    (listed,) = client.get("/v1/me/devices", headers=bearer(newcomer_token)).json["items"]
    assert listed["platform"] == "ios"
    device = db.session.get(Device, uuid.UUID(created.json["id"]))
    assert device.patient_id == newcomer.id
    statuses = db.session.scalars(
        select(OutboxMessage.status).where(OutboxMessage.device_id == device.id)
    ).all()
    assert statuses == ["dropped"]  # the first owner's notice never reaches the new owner


def test_removing_a_device_stops_its_pushes(client, patient, patient_token):
    made = client.post(
        "/v1/me/devices", json={"token": "t-9", "platform": "web"}, headers=bearer(patient_token)
    ).json
    _notice(patient)
    assert (
        client.delete(f"/v1/me/devices/{made['id']}", headers=bearer(patient_token)).status_code
        == 204
    )
    assert client.get("/v1/me/devices", headers=bearer(patient_token)).json["items"] == []
    _notice(patient)
    rows = db.session.scalars(select(OutboxMessage.status)).all()
    assert rows == ["dropped"]
    again = client.delete(f"/v1/me/devices/{made['id']}", headers=bearer(patient_token))
    assert again.status_code == 404


def test_device_bodies_are_validated(client, patient_token):
    response = client.post(
        "/v1/me/devices", json={"token": "", "platform": "nokia"}, headers=bearer(patient_token)
    )
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"token", "platform"}


def test_organisations_cannot_read_an_inbox(client, token_for):
    response = client.get("/v1/me/notifications", headers=bearer(token_for("hospital")))
    assert response.status_code == 403
