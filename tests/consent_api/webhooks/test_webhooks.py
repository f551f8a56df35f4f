"""Webhooks: endpoints an organisation registers, events pushed to them signed per Standard
Webhooks (checked by the receiver with the `standardwebhooks` library), in order, retried
with backoff, given up and dead-lettered after WEBHOOK_RETRY_HOURS, sent again by hand."""

import socket
import time
import uuid
from datetime import timedelta

import pytest

from consent_api.webhooks.models import WebhookDelivery, WebhookEndpoint
from server.db import db, utcnow
from tests.conftest import bearer, org_id_of, ref, shown
from tests.consent_api.webhooks.receiver import Receiver
from tests.support import run_job_now


def publish_and_deliver() -> None:
    run_job_now("publish-events")
    run_job_now("deliver-webhooks")


def until_delivered(receiver: Receiver, count: int, *, timeout: float = 20) -> list[dict]:
    """Publish and deliver until `count` webhooks were answered 2xx (retries back off from
    WEBHOOK_RETRY_BASE_SECONDS, 0.05 s in tests)."""
    deadline = time.monotonic() + timeout
    while len(receiver.delivered()) < count:
        assert time.monotonic() < deadline, f"{len(receiver.delivered())} of {count} delivered"
        publish_and_deliver()
        time.sleep(0.05)
    return receiver.delivered()


def register(client, token, url, **more):
    response = client.post("/v1/org/webhooks", json={"url": url, **more}, headers=bearer(token))
    assert response.status_code == 201, response.json
    return response.json


@pytest.fixture
def hooked(client, hospital_token, receiver):
    """The hospital's endpoint at the receiver, which verifies with its secret."""
    endpoint = register(client, hospital_token, receiver.url)
    receiver.secrets = [endpoint["secret"]]
    return endpoint


def test_a_revocation_reaches_the_receiver_signed_and_as_the_hospital_knows_it(
    client, grant, hospital, hospital_token, receiver, hooked
):
    patient, consent, patient_token = grant()
    client.post(f"/v1/me/consents/{consent['id']}/revoke", headers=bearer(patient_token))

    granted, revoked = until_delivered(receiver, 2)

    assert all(arrival["verified"] for arrival in receiver.arrivals)
    assert [granted["type"], revoked["type"]] == ["consent.granted", "consent.revoked"]
    assert (revoked["sequence"], revoked["data"]["patient_ref"]) == (2, ref(hospital, patient))
    assert revoked["data"]["consent"]["id"] == shown(hospital, consent["id"])
    assert revoked["data"]["consent"]["status"] == "revoked"
    headers = receiver.arrivals[1]["headers"]
    assert headers["webhook-id"] == revoked["id"]
    assert headers["content-type"] == "application/json"
    feed = client.get("/v1/events", headers=bearer(hospital_token)).json["items"]
    assert feed == [granted, revoked]  # the webhook and the feed tell the same events

    history = client.get(
        f"/v1/org/webhooks/{hooked['id']}/deliveries", headers=bearer(hospital_token)
    ).json["items"]
    assert [
        (d["sequence"], d["status"], d["attempts"], d["last_status_code"]) for d in history
    ] == [
        (2, "delivered", 1, 204),
        (1, "delivered", 1, 204),
    ]
    assert history[0]["event_id"] == revoked["id"]


def test_the_secret_is_shown_once(client, hospital_token, hooked):
    assert hooked["secret"].startswith("whsec_")
    listed = client.get("/v1/org/webhooks", headers=bearer(hospital_token)).json["items"]
    assert [e["id"] for e in listed] == [hooked["id"]]
    assert "secret" not in listed[0]
    one = client.get(f"/v1/org/webhooks/{hooked['id']}", headers=bearer(hospital_token)).json
    assert "secret" not in one
    stored = db.session.get(WebhookEndpoint, uuid.UUID(hooked["id"]))
    assert hooked["secret"] not in stored.secret_sealed


def test_failures_are_retried_and_events_still_arrive_in_order(
    client, grant, hospital_token, receiver, hooked
):
    receiver.answer = lambda n: 500 if n < 3 else 204
    _, consent, patient_token = grant()
    path = f"/v1/me/consents/{consent['id']}"
    client.post(f"{path}/pause", headers=bearer(patient_token))
    client.post(f"{path}/revoke", headers=bearer(patient_token))

    told = until_delivered(receiver, 3)

    assert [e["sequence"] for e in told] == [1, 2, 3]
    assert [e["data"]["consent"]["version"] for e in told] == [1, 2, 3]
    assert [a["status"] for a in receiver.arrivals] == [500, 500, 500, 204, 204, 204]
    first_ids = {a["headers"]["webhook-id"] for a in receiver.arrivals[:4]}
    assert first_ids == {told[0]["id"]}  # one message, sent four times, one id
    history = client.get(
        f"/v1/org/webhooks/{hooked['id']}/deliveries", headers=bearer(hospital_token)
    ).json["items"]
    assert history[-1]["attempts"] == 4
    assert history[-1]["last_status_code"] == 204


def test_a_receiver_that_times_out_is_tried_again(
    app, client, grant, receiver, hooked, monkeypatch
):
    monkeypatch.setitem(app.config, "WEBHOOK_TIMEOUT_SECONDS", 0.3)
    receiver.answer = lambda n: time.sleep(1.0 if n == 0 else 0) or 204
    grant()

    (told,) = until_delivered(receiver, 1)

    assert len(receiver.arrivals) == 2
    assert receiver.arrivals[0]["headers"]["webhook-id"] == told["id"]
    delivery = db.session.scalar(db.select(WebhookDelivery))
    assert (delivery.status, delivery.attempts) == ("delivered", 2)


def test_a_receiver_down_for_a_while_gets_everything_once_back(
    client, grant, hospital_token, receiver, hooked
):
    receiver.stop()
    for _ in range(3):
        _, consent, patient_token = grant()
        client.post(f"/v1/me/consents/{consent['id']}/revoke", headers=bearer(patient_token))
    for _ in range(3):
        publish_and_deliver()
        time.sleep(0.1)
    endpoint = client.get(f"/v1/org/webhooks/{hooked['id']}", headers=bearer(hospital_token)).json
    assert endpoint["consecutive_failures"] >= 1
    assert endpoint["failing_since"] is not None

    receiver.start()  # the same port
    told = until_delivered(receiver, 6)

    assert [e["sequence"] for e in told] == [1, 2, 3, 4, 5, 6]
    endpoint = client.get(f"/v1/org/webhooks/{hooked['id']}", headers=bearer(hospital_token)).json
    assert (endpoint["consecutive_failures"], endpoint["failing_since"]) == (0, None)


def test_an_endpoint_failing_for_a_day_is_disabled_its_undelivered_kept_and_sent_again_by_hand(
    app, client, grant, hospital_token, receiver, hooked, monkeypatch
):
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_BASE_SECONDS", 60)  # one attempt a run
    receiver.answer = lambda n: 503
    grant()
    grant()
    publish_and_deliver()
    head = db.session.scalar(db.select(WebhookDelivery).order_by(WebhookDelivery.seq))
    assert head.attempts == 1
    head.first_attempt_at = utcnow() - timedelta(hours=24, seconds=1)
    db.session.get(WebhookEndpoint, uuid.UUID(hooked["id"])).next_attempt_at = utcnow()
    db.session.flush()

    publish_and_deliver()

    endpoint = client.get(f"/v1/org/webhooks/{hooked['id']}", headers=bearer(hospital_token)).json
    assert (endpoint["status"], endpoint["disabled_by"]) == ("disabled", "failing")
    history = client.get(
        f"/v1/org/webhooks/{hooked['id']}/deliveries",
        query_string={"status": "failed"},
        headers=bearer(hospital_token),
    ).json["items"]
    assert len(history) == 2  # dead letters, both
    run_job_now("publish-events")
    disabled = client.get(
        "/v1/events",
        query_string={"types": "webhook_endpoint.disabled"},
        headers=bearer(hospital_token),
    ).json["items"]
    assert [e["data"] for e in disabled] == [{"endpoint_id": hooked["id"], "reason": "failing"}]

    retry = f"/v1/org/webhooks/{hooked['id']}/deliveries/{history[-1]['id']}/retry"
    refused = client.post(retry, headers=bearer(hospital_token))
    assert (refused.status_code, refused.json["code"]) == (409, "endpoint_disabled")
    enabled = client.patch(
        f"/v1/org/webhooks/{hooked['id']}", json={"enabled": True}, headers=bearer(hospital_token)
    )
    assert enabled.json["status"] == "active"
    receiver.answer = lambda n: 204
    again = client.post(retry, headers=bearer(hospital_token))
    assert (again.status_code, again.json["status"]) == (202, "pending")

    retried, notice = until_delivered(receiver, 2)

    assert retried["id"] == history[-1]["event_id"]
    # The news of the disabling waited for the endpoint, like anything published meanwhile.
    assert (notice["type"], notice["data"]["reason"]) == ("webhook_endpoint.disabled", "failing")


def test_an_endpoint_gets_only_the_types_it_asked_for(client, grant, hospital_token, receiver):
    endpoint = register(client, hospital_token, receiver.url, event_types=["consent.revoked"])
    receiver.secrets = [endpoint["secret"]]
    _, consent, patient_token = grant()
    client.post(f"/v1/me/consents/{consent['id']}/revoke", headers=bearer(patient_token))

    (told,) = until_delivered(receiver, 1)
    publish_and_deliver()

    assert told["type"] == "consent.revoked"
    assert len(receiver.arrivals) == 1


def test_a_rotated_secret_signs_beside_the_old_one_until_the_grace_ends(
    client, grant, hospital_token, receiver, hooked
):
    old = hooked["secret"]
    rotated = client.post(
        f"/v1/org/webhooks/{hooked['id']}/rotate-secret", headers=bearer(hospital_token)
    )
    assert rotated.status_code == 200
    new = rotated.json["secret"]
    assert new != old
    assert rotated.json["previous_secret_expires_at"] is not None

    for secrets in ([old], [new]):
        receiver.secrets = secrets
        grant()
        until_delivered(receiver, len(receiver.delivered()) + 1)
        assert receiver.arrivals[-1]["verified"]
        assert len(receiver.arrivals[-1]["headers"]["webhook-signature"].split(" ")) == 2

    endpoint = db.session.get(WebhookEndpoint, uuid.UUID(hooked["id"]))
    endpoint.previous_secret_until = utcnow() - timedelta(seconds=1)
    db.session.flush()
    receiver.secrets = [old]
    grant()
    until_delivered(receiver, 3)
    assert not receiver.arrivals[-1]["verified"]  # the old secret no longer signs


def test_a_suspended_organisation_hears_only_of_its_suspension(
    client, admin_token, grant, hospital, hospital_token, receiver, hooked
):
    client.post(f"/v1/admin/orgs/{hospital.org.id}/suspend", headers=bearer(admin_token))
    grant()
    until_delivered(receiver, 1)
    publish_and_deliver()
    assert [a["body"]["type"] for a in receiver.arrivals] == ["org.suspended"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "https://127.0.0.1/hooks",
        "https://localhost/hooks",
        "https://10.1.2.3/hooks",
        "https://192.168.0.1/hooks",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/",
        "https://[::1]/hooks",
        "https://[fd00:ec2::254]/",
        "https://[::ffff:10.0.0.1]/",
        "https://[64:ff9b::a9fe:a9fe]/",
        "https://0.0.0.0/",
        "ftp://hooks.example/",
        "https://user:secret@hooks.example/",
        "https:///nohost",
        "https://hooks.example:99999/",
    ],
)
def test_an_inward_or_malformed_url_is_refused_in_production_settings(
    app, client, hospital_token, monkeypatch, url
):
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_LOCAL", False)
    response = client.post("/v1/org/webhooks", json={"url": url}, headers=bearer(hospital_token))
    assert response.status_code == 422, response.json
    assert "url" in response.json["errors"]
    assert db.session.scalar(db.select(db.func.count()).select_from(WebhookEndpoint)) == 0


def test_a_name_that_resolves_inward_at_sending_is_refused(
    app, client, grant, hospital_token, monkeypatch
):
    """DNS rebinding: the name passed when registered, and resolves to a private address
    when the webhook is sent. The address is checked at the connection, and nothing goes."""
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_LOCAL", False)
    endpoint = register(client, hospital_token, "https://hooks.rebind.example/in")
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host == "hooks.rebind.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    grant()
    publish_and_deliver()

    (delivery,) = client.get(
        f"/v1/org/webhooks/{endpoint['id']}/deliveries", headers=bearer(hospital_token)
    ).json["items"]
    assert delivery["status"] == "pending"
    assert "10.0.0.7" in delivery["last_error"]
    assert delivery["last_status_code"] is None


def test_another_organisation_cannot_see_or_touch_an_endpoint(client, token_for, hooked):
    other = token_for("hospital")
    path = f"/v1/org/webhooks/{hooked['id']}"
    assert client.get(path, headers=bearer(other)).status_code == 404
    assert client.patch(path, json={"enabled": False}, headers=bearer(other)).status_code == 404
    assert client.delete(path, headers=bearer(other)).status_code == 404
    assert client.post(f"{path}/rotate-secret", headers=bearer(other)).status_code == 404
    assert client.get(f"{path}/deliveries", headers=bearer(other)).status_code == 404
    assert client.get("/v1/org/webhooks", headers=bearer(other)).json["items"] == []


def test_bad_endpoint_input_names_the_field_and_writes_nothing(client, hospital_token, receiver):
    bad = client.post(
        "/v1/org/webhooks",
        json={"url": receiver.url, "event_types": ["consent.exploded"]},
        headers=bearer(hospital_token),
    )
    assert bad.status_code == 422
    assert "event_types" in bad.json["errors"]
    for _ in range(10):
        register(client, hospital_token, receiver.url)
    too_many = client.post(
        "/v1/org/webhooks", json={"url": receiver.url}, headers=bearer(hospital_token)
    )
    assert (too_many.status_code, too_many.json["code"]) == (409, "too_many_endpoints")
    assert len(client.get("/v1/org/webhooks", headers=bearer(hospital_token)).json["items"]) == 10


def test_the_operator_disables_an_endpoint_and_only_the_operator_enables_it(
    client, admin_token, grant, hospital, hospital_token, receiver, hooked
):
    listed = client.get(
        "/v1/admin/webhooks",
        query_string={"org_id": str(hospital.org.id)},
        headers=bearer(admin_token),
    )
    assert [(e["id"], e["org_id"]) for e in listed.json["items"]] == [
        (hooked["id"], str(hospital.org.id))
    ]
    disabled = client.post(
        f"/v1/admin/webhooks/{hooked['id']}/disable", headers=bearer(admin_token)
    )
    assert (disabled.json["status"], disabled.json["disabled_by"]) == ("disabled", "operator")
    grant()
    publish_and_deliver()
    assert receiver.arrivals == []

    refused = client.patch(
        f"/v1/org/webhooks/{hooked['id']}", json={"enabled": True}, headers=bearer(hospital_token)
    )
    assert (refused.status_code, refused.json["code"]) == (409, "disabled_by_operator")
    enabled = client.post(f"/v1/admin/webhooks/{hooked['id']}/enable", headers=bearer(admin_token))
    assert enabled.json["status"] == "active"
    told = client.get(
        "/v1/events",
        query_string={"types": "webhook_endpoint.disabled"},
        headers=bearer(hospital_token),
    ).json["items"]
    assert [e["data"]["reason"] for e in told] == ["operator"]


def test_removing_an_endpoint_keeps_the_feed(client, grant, hospital_token, receiver, hooked):
    grant()
    until_delivered(receiver, 1)
    assert (
        client.delete(
            f"/v1/org/webhooks/{hooked['id']}", headers=bearer(hospital_token)
        ).status_code
        == 204
    )
    assert (
        client.get(f"/v1/org/webhooks/{hooked['id']}", headers=bearer(hospital_token)).status_code
        == 404
    )
    assert len(client.get("/v1/events", headers=bearer(hospital_token)).json["items"]) == 1


def test_the_patient_sees_which_organisation_received_each_change_and_when(
    client, grant, hospital, hospital_token, token_for, receiver, hooked
):
    other = token_for("hospital")  # no endpoint: it learns from its feed, when it reads it
    _, consent, patient_token = grant()
    client.post(f"/v1/me/consents/{consent['id']}/revoke", headers=bearer(patient_token))
    path = f"/v1/me/consents/{consent['id']}"
    assert client.get(path, headers=bearer(patient_token)).json["propagation"] == []

    until_delivered(receiver, 2)
    news = client.get(path, headers=bearer(patient_token)).json["propagation"]
    by_org = {(n["organisation"]["id"], n["version"]): n for n in news}
    mine = by_org[(str(hospital.org.id), 2)]
    assert (mine["change"], mine["status"], mine["received_via"]) == (
        "consent.revoked",
        "received",
        "webhook",
    )
    assert mine["summary"].startswith("St Mary's received your revocation at ")
    theirs = by_org[(str(org_id_of(other)), 2)]
    assert (theirs["status"], theirs["received_at"]) == ("sent", None)
    assert "has not received your revocation yet" in theirs["summary"]

    client.get("/v1/events", headers=bearer(other))
    news = client.get(path, headers=bearer(patient_token)).json["propagation"]
    theirs = next(
        n for n in news if n["organisation"]["id"] == str(org_id_of(other)) and n["version"] == 2
    )
    assert (theirs["status"], theirs["received_via"]) == ("received", "feed")


def test_the_access_history_shows_each_organisation_receiving_a_change(
    client, grant, hospital, hospital_token, receiver, hooked
):
    _, consent, patient_token = grant(grantee={"org_id": str(hospital.org.id)})
    client.post(f"/v1/me/consents/{consent['id']}/revoke", headers=bearer(patient_token))
    until_delivered(receiver, 2)

    history = client.get(
        "/v1/me/access-log", query_string={"limit": 1}, headers=bearer(patient_token)
    ).json
    (latest,) = history["items"]
    assert (latest["kind"], latest["change"], latest["status"]) == (
        "consent_notice",
        "consent.revoked",
        "received",
    )
    assert latest["consent_id"] == consent["id"]
    assert latest["organisation"] == {"id": str(hospital.org.id), "name": "St Mary's"}
    assert latest["summary"].startswith("St Mary's received your revocation at ")
    rest = client.get(
        "/v1/me/access-log",
        query_string={"limit": 5, "cursor": history["next_cursor"]},
        headers=bearer(patient_token),
    ).json
    assert [(e["kind"], e["change"]) for e in rest["items"]] == [
        ("consent_notice", "consent.granted")
    ]
    assert rest["next_cursor"] is None
    only_uses = client.get(
        "/v1/me/access-log", query_string={"kind": "data_use"}, headers=bearer(patient_token)
    ).json
    assert only_uses["items"] == []
