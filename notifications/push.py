"""Push senders behind one interface: Firebase Cloud Messaging for real, a log and a recording
sender for development and tests. Delivery policy (retries, dead letters) lives in the caller;
a sender only reports, per message, what happened."""

from __future__ import annotations

import logging
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)

SENT, UNREGISTERED, RETRY, REJECTED = "sent", "unregistered", "retry", "rejected"


@dataclass(frozen=True)
class PushMessage:
    """One notice to one device."""

    token: str
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)
    high_priority: bool = False
    # The notice's id: a phone that gets the same notice twice (a worker crashed after FCM
    # accepted it, before the row said so) replaces the first instead of showing both.
    collapse_id: str = ""


@dataclass(frozen=True)
class PushResult:
    """What became of one message: sent, unregistered (drop the device), retry, or rejected."""

    outcome: str
    detail: str = ""


class PushSender(Protocol):
    """Send up to 500 messages; return one result per message, in order."""

    def send(self, messages: Sequence[PushMessage]) -> list[PushResult]: ...


class LogPushSender:
    """Write each notice to the log instead of a phone (development without credentials)."""

    def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        for message in messages:
            log.info("push (log backend): %s — %s %s", message.title, message.body, message.data)
        return [PushResult(SENT) for _ in messages]


class RecordingPushSender:
    """Keep every message in memory (tests and local tooling)."""

    def __init__(self) -> None:
        self.sent: list[PushMessage] = []

    def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        self.sent.extend(messages)
        return [PushResult(SENT) for _ in messages]


class FirebasePushSender:
    """Send through firebase-admin's FCM HTTP v1 client (`messaging.send_each`).

    `endpoint` replaces https://fcm.googleapis.com for staging and tests (firebase-admin has
    no emulator switch). firebase-admin retries 5xx on its own for seconds; that is turned
    off so that our own backoff decides.
    """

    MAX_BATCH = 500

    def __init__(self, credential, *, project_id: str, endpoint: str | None = None) -> None:
        import firebase_admin
        import requests
        from firebase_admin import messaging

        self._messaging = messaging
        self._app = firebase_admin.initialize_app(
            credential, {"projectId": project_id}, name=f"consent-wallet-{uuid.uuid4()}"
        )
        service = messaging._get_messaging_service(self._app)
        base = (endpoint or "https://fcm.googleapis.com").rstrip("/")
        service._fcm_url = f"{base}/v1/projects/{project_id}/messages:send"
        # send_each sends a batch (up to 500) from as many threads: keep that many
        # connections alive instead of opening (with TLS) and discarding most of them.
        no_retries = requests.adapters.HTTPAdapter(
            max_retries=0, pool_connections=1, pool_maxsize=self.MAX_BATCH
        )
        for prefix in ("https://", "http://"):
            service._client.session.mount(prefix, no_retries)

    def close(self) -> None:
        """Release the firebase-admin app."""
        import firebase_admin

        firebase_admin.delete_app(self._app)

    def _message(self, message: PushMessage):
        messaging = self._messaging
        with warnings.catch_warnings():
            # firebase-admin 7.5+ deprecates Message(token=) without a replacement for
            # single-device sends; firebase-admin itself silences it the same way.
            warnings.simplefilter("ignore", DeprecationWarning)
            return messaging.Message(
                token=message.token,
                notification=messaging.Notification(title=message.title, body=message.body),
                data=dict(message.data),
                # Android: the notification tag replaces a shown notice with the same tag. Not
                # collapse_key: FCM keeps at most 4 collapse keys per offline device, and
                # every notice would be a key of its own, so an offline phone would lose some.
                android=messaging.AndroidConfig(
                    priority="high" if message.high_priority else "normal",
                    notification=messaging.AndroidNotification(tag=message.collapse_id or None),
                ),
                apns=messaging.APNSConfig(headers=_apns_headers(message)),
                webpush=messaging.WebpushConfig(
                    headers=_webpush_headers(message),
                    notification=messaging.WebpushNotification(tag=message.collapse_id or None),
                ),
            )

    def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        if len(messages) > self.MAX_BATCH:
            raise ValueError(f"at most {self.MAX_BATCH} messages per call")
        if not messages:
            return []
        batch = self._messaging.send_each([self._message(m) for m in messages], app=self._app)
        return [self._result(response) for response in batch.responses]

    def _result(self, response) -> PushResult:
        if response.success:
            return PushResult(SENT, response.message_id or "")
        error = response.exception
        messaging = self._messaging
        if isinstance(error, messaging.UnregisteredError | messaging.SenderIdMismatchError):
            return PushResult(UNREGISTERED, str(error))
        if isinstance(error, messaging.QuotaExceededError) or _is_transient(error):
            return PushResult(RETRY, str(error))
        return PushResult(REJECTED, str(error))


def _apns_headers(message: PushMessage) -> dict[str, str]:
    headers = {"apns-priority": "10" if message.high_priority else "5"}
    if message.collapse_id:
        headers["apns-collapse-id"] = message.collapse_id  # at most 64 bytes; a UUID is 36
    return headers


def _webpush_headers(message: PushMessage) -> dict[str, str]:
    # Topic replaces a pending message with the same topic (RFC 8030): at most 32 characters
    # of the URL-safe base64 alphabet, which a UUID's hex digits are.
    return {"Topic": message.collapse_id.replace("-", "")} if message.collapse_id else {}


def build_sender(config) -> PushSender:
    """Choose the sender from configuration: PUSH_BACKEND `log` (default) or `fcm`, with
    FIREBASE_CREDENTIALS (a service-account JSON file) and FCM_ENDPOINT (optional)."""
    backend = config.get("PUSH_BACKEND", "log")
    if backend == "log":
        return LogPushSender()
    if backend != "fcm":
        raise ValueError(f"PUSH_BACKEND must be 'log' or 'fcm', got {backend!r}")
    from firebase_admin import credentials

    path = config.get("FIREBASE_CREDENTIALS")
    if not path:
        raise ValueError("PUSH_BACKEND=fcm needs FIREBASE_CREDENTIALS (service-account JSON)")
    certificate = credentials.Certificate(path)
    return FirebasePushSender(
        certificate, project_id=certificate.project_id, endpoint=config.get("FCM_ENDPOINT")
    )


def _is_transient(error: Exception | None) -> bool:
    from firebase_admin import exceptions

    return isinstance(
        error,
        exceptions.UnavailableError
        | exceptions.InternalError
        | exceptions.DeadlineExceededError
        | exceptions.UnknownError,
    )
