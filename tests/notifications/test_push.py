"""Push delivery through the real firebase-admin client against a local fake FCM server."""

import socket

import pytest
from google.oauth2.credentials import Credentials

from notifications.push import (
    RETRY,
    SENT,
    UNREGISTERED,
    FirebasePushSender,
    PushMessage,
    RecordingPushSender,
)
from tests.notifications.fake_fcm import FakeFcm


@pytest.fixture
def fcm():
    with FakeFcm() as server:
        yield server


@pytest.fixture
def sender(fcm):
    firebase = FirebasePushSender(
        Credentials(token="test-access-token"), project_id="demo", endpoint=fcm.url
    )
    yield firebase
    firebase.close()


def _message(token: str, **overrides) -> PushMessage:
    fields = {
        "token": token,
        "title": "Your lab results were used",
        "body": "St. Mary's used your lab results for your treatment.",
        "data": {"type": "data_use", "notification_id": "n-1"},
    }
    fields.update(overrides)
    return PushMessage(**fields)


def test_messages_reach_fcm_with_notification_data_and_bearer_credentials(sender, fcm):
    results = sender.send([_message("phone-1"), _message("phone-2", high_priority=True)])

    assert [r.outcome for r in results] == [SENT, SENT]
    assert all(r.detail.startswith("projects/demo/messages/") for r in results)
    bodies = sorted(fcm.received, key=lambda b: b["message"]["token"])
    assert [b["path"] for b in bodies] == ["/v1/projects/demo/messages:send"] * 2
    first = bodies[0]["message"]
    assert first["notification"] == {
        "title": "Your lab results were used",
        "body": "St. Mary's used your lab results for your treatment.",
    }
    assert first["data"] == {"type": "data_use", "notification_id": "n-1"}
    assert first["android"]["priority"] == "normal"
    assert bodies[1]["message"]["android"]["priority"] == "high"
    assert set(fcm.authorizations) == {"Bearer test-access-token"}


def test_a_message_names_its_notice_so_a_resend_replaces_it_on_the_phone(sender, fcm):
    notice = "6f1c2d4e-8a9b-4c3d-9e8f-7a6b5c4d3e2f"
    data = {"type": "data_use", "notification_id": notice}
    sender.send([_message("phone-1", data=data, collapse_id=notice)])

    (sent,) = [body["message"] for body in fcm.received]
    assert sent["data"]["notification_id"] == notice
    assert sent["android"]["notification"]["tag"] == notice
    assert sent["apns"]["headers"]["apns-collapse-id"] == notice
    assert sent["webpush"]["headers"]["Topic"] == notice.replace("-", "")
    assert sent["webpush"]["notification"]["tag"] == notice


def test_each_message_gets_its_own_outcome(sender, fcm):
    tokens = ["ok", "unregistered:1", "quota:1", "unavailable:1", "invalid:1"]
    outcomes = [r.outcome for r in sender.send([_message(t) for t in tokens])]
    assert outcomes == [SENT, UNREGISTERED, RETRY, RETRY, "rejected"]


def test_a_5xx_is_tried_once_so_our_backoff_decides(sender, fcm):
    sender.send([_message("unavailable:1")])
    assert len(fcm.received) == 1


def test_connection_refused_is_a_retry():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the socket closes
    firebase = FirebasePushSender(
        Credentials(token="t"), project_id="demo", endpoint=f"http://127.0.0.1:{port}"
    )
    try:
        (result,) = firebase.send([_message("phone-1")])
    finally:
        firebase.close()
    assert result.outcome == RETRY


def test_more_than_500_messages_per_call_is_refused(sender):
    with pytest.raises(ValueError, match="500"):
        sender.send([_message(f"t{i}") for i in range(501)])


def test_recording_sender_keeps_what_it_was_given():
    recorder = RecordingPushSender()
    assert [r.outcome for r in recorder.send([_message("a")])] == [SENT]
    assert recorder.sent[0].token == "a"


def test_service_account_credentials_fetch_a_token_from_their_token_uri(fcm, tmp_path):
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from notifications.push import build_sender

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    account = tmp_path / "service-account.json"
    account.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "wallet-staging",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "push@wallet-staging.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": f"{fcm.url}/token",
            }
        )
    )
    sender = build_sender(
        {"PUSH_BACKEND": "fcm", "FIREBASE_CREDENTIALS": str(account), "FCM_ENDPOINT": fcm.url}
    )
    try:
        (result,) = sender.send([_message("phone-1")])
    finally:
        sender.close()

    assert result.outcome == SENT
    assert fcm.received[0]["path"] == "/v1/projects/wallet-staging/messages:send"
    assert fcm.authorizations == ["Bearer sa-token"]
    assert "grant_type=urn" in fcm.token_requests[0]  # a signed JWT assertion, exchanged


def test_unknown_push_backend_is_a_clear_error():
    from notifications.push import LogPushSender, build_sender

    assert isinstance(build_sender({}), LogPushSender)
    with pytest.raises(ValueError, match="PUSH_BACKEND"):
        build_sender({"PUSH_BACKEND": "pigeon"})
