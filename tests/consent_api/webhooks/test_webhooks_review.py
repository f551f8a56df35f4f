"""Defects an outside review of the webhooks found (issue 12, review): each test failed
before its fix."""

import time
from datetime import timedelta

import pytest

from consent_api.events.models import OrgEvent
from consent_api.webhooks.models import WebhookDelivery, WebhookEndpoint
from server.db import db, utcnow
from tests.conftest import bearer, org_id_of
from tests.consent_api.webhooks.receiver import Receiver
from tests.consent_api.webhooks.test_webhooks import publish_and_deliver, register, until_delivered
from tests.support import run_job_now, wait_until


def _short_body(handler, n):
    """200 with a Content-Length it never sends, then the connection closes."""
    handler.send_response(200)
    handler.send_header("Content-Length", "100")
    handler.end_headers()
    handler.wfile.write(b"0123456789")
    handler.close_connection = True


def _bad_gzip(handler, n):
    handler.send_response(200)
    handler.send_header("Content-Encoding", "gzip")
    handler.send_header("Content-Length", "10")
    handler.end_headers()
    handler.wfile.write(b"not gzip!!")


DRIPPED: list[str] = []  # how each dripping answer ended: "cut off" or "finished"


def _drip_head(handler, n):
    """The status line one byte at a time, each within the read timeout, for 20 s."""
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 200:
        try:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
        except OSError:
            DRIPPED.append("cut off")
            return
        time.sleep(0.1)
    DRIPPED.append("finished")


@pytest.fixture
def two_hospitals(client, token_for):
    """Two hospitals with endpoints at receivers of their own; every hospital is told of a
    grant to all hospitals."""
    with Receiver() as first, Receiver() as second:
        tokens = []
        for receiver in (first, second):
            token = token_for("hospital")
            receiver.secrets = [register(client, token, receiver.url)["secret"]]
            tokens.append(token)
        yield (first, tokens[0]), (second, tokens[1])


@pytest.mark.parametrize("breaks", [_short_body, _bad_gzip])
def test_a_receiver_breaking_http_fails_its_own_delivery_only(grant, two_hospitals, breaks):
    """Review 1: an error the sender did not catch (here, reading the answer's body) rolled
    back the whole run, the healthy organisation's delivery included, which was then sent
    again and again."""
    (broken, broken_token), (healthy, healthy_token) = two_hospitals
    broken.respond = breaks
    grant()
    publish_and_deliver()

    assert len(healthy.arrivals) == 1
    by_org = {row.org_id: row for row in db.session.scalars(db.select(WebhookDelivery))}
    good = by_org[org_id_of(healthy_token)]
    assert (good.status, good.attempts) == ("delivered", 1)
    bad = by_org[org_id_of(broken_token)]
    # Its answer's status was a 2xx, whatever came after: received, recorded, no error.
    assert (bad.status, bad.attempts, bad.last_status_code) == ("delivered", 1, 200)


def test_a_receiver_dripping_its_answer_is_cut_off_at_the_timeout(
    app, grant, two_hospitals, monkeypatch
):
    """Review 2: the timeout bounded each read, not the attempt, so a receiver sending a
    byte now and then held the worker (and every other endpoint) for as long as it liked."""
    monkeypatch.setitem(app.config, "WEBHOOK_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setitem(app.config, "WEBHOOK_RETRY_BASE_SECONDS", 60)  # one attempt this run
    (slow, slow_token), (healthy, _) = two_hospitals
    slow.respond = _drip_head
    grant()
    run_job_now("publish-events")

    DRIPPED.clear()
    run_job_now("deliver-webhooks")

    # The sender hung up mid-drip (the receiver's next write failed), not after 20 s.
    wait_until(lambda: DRIPPED, timeout=30, what="the dripping answer's end")
    assert DRIPPED == ["cut off"]
    assert len(healthy.arrivals) == 1
    (cut,) = db.session.scalars(
        db.select(WebhookDelivery).where(WebhookDelivery.org_id == org_id_of(slow_token))
    )
    assert (cut.status, cut.attempts) == ("pending", 1)
    assert "0.5 s" in cut.last_error


def test_a_suspended_organisation_gets_only_news_of_its_suspension_until_reinstated(
    client, admin_token, grant, hospital, hospital_token, receiver
):
    """Review 3: events queued before a suspension were still sent to the suspended
    organisation. They wait now, and go out in order once it is reinstated."""
    receiver.secrets = [register(client, hospital_token, receiver.url)["secret"]]
    receiver.answer = lambda n: 500
    grant()
    publish_and_deliver()  # fails: the grant waits, pending
    client.post(f"/v1/admin/orgs/{hospital.org.id}/suspend", headers=bearer(admin_token))
    receiver.answer = lambda n: 204
    grant()
    db.session.execute(db.update(WebhookEndpoint).values(next_attempt_at=utcnow()))
    for _ in range(5):
        publish_and_deliver()
        time.sleep(0.05)
    assert [e["type"] for e in receiver.delivered()] == ["org.suspended"]

    client.post(f"/v1/admin/orgs/{hospital.org.id}/resume", headers=bearer(admin_token))
    told = until_delivered(receiver, 4)
    assert [(e["type"], e["sequence"]) for e in told] == [
        ("org.suspended", 2),
        ("consent.granted", 1),  # waited while suspended
        ("consent.granted", 3),  # published while suspended
        ("org.resumed", 4),
    ]


def test_events_published_while_an_endpoint_is_disabled_wait_for_it(
    client, grant, hospital_token, receiver
):
    """Review 5: events published while an endpoint was disabled were never sent to it,
    though the contract says they wait."""
    endpoint = register(client, hospital_token, receiver.url)
    receiver.secrets = [endpoint["secret"]]
    path = f"/v1/org/webhooks/{endpoint['id']}"
    client.patch(path, json={"enabled": False}, headers=bearer(hospital_token))
    grant()
    publish_and_deliver()
    assert receiver.arrivals == []

    client.patch(path, json={"enabled": True}, headers=bearer(hospital_token))
    (told,) = until_delivered(receiver, 1)
    assert told["type"] == "consent.granted"


def test_a_cursor_older_than_the_feed_keeps_says_where_the_feed_starts(
    client, grant, hospital_token
):
    """Review 4: the 410 did not say where the kept events start."""
    for _ in range(3):
        grant()
    run_job_now("publish-events")
    oldest = db.session.get(OrgEvent, (org_id_of(hospital_token), 1))
    oldest.published_at = utcnow() - timedelta(days=31)
    db.session.flush()
    run_job_now("purge-events")
    gone = client.get("/v1/events", headers=bearer(hospital_token))
    assert (gone.status_code, gone.json["oldest_sequence"]) == (410, 2)


def test_a_cursor_past_the_last_event_is_refused(client, grant, hospital_token):
    """Review 10: a cursor beyond the last event was answered as if all were read."""
    grant()
    run_job_now("publish-events")
    response = client.get("/v1/events", query_string={"after": 2}, headers=bearer(hospital_token))
    assert response.status_code == 422
    assert "after" in response.json["errors"]
    assert (
        client.get(
            "/v1/events", query_string={"after": 1}, headers=bearer(hospital_token)
        ).status_code
        == 200
    )


def test_a_head_request_does_not_count_as_reading_the_feed(client, grant, hospital_token):
    """Review 7: HEAD /v1/events marked the events received, as a GET does."""
    grant()
    run_job_now("publish-events")
    assert client.head("/v1/events", headers=bearer(hospital_token)).status_code == 200
    (event,) = db.session.scalars(db.select(OrgEvent))
    assert event.received_at is None


@pytest.mark.parametrize(
    "url",
    [
        "https://[::127.0.0.1]/",
        "https://[::ffff:0:7f00:1]/",
        "https://[64:ff9b:1::7f00:1]/",
        "https://a..b.example.com/hook",
        "https://" + "a" * 64 + ".example.com/",
        "https://hooks.example:0/",
        "https://hooks.example/a b",
        "https://hooks.example/a\r\nX-Injected: 1",
        " https://hooks.example/",
        "https://h\u043e\u043eks.example/",  # Cyrillic o's: not ASCII
    ],
)
def test_more_unreachable_or_undeliverable_urls_are_refused(
    app, client, hospital_token, monkeypatch, url
):
    """Review 8 and 9: IPv6 forms of inward addresses, and URLs no request can be sent to."""
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_LOCAL", False)
    response = client.post("/v1/org/webhooks", json={"url": url}, headers=bearer(hospital_token))
    assert response.status_code == 422, response.json
    assert "url" in response.json["errors"]
