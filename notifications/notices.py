"""What we tell the patient, for every event that matters, in plain words.

Each function writes one inbox notice (and its pushes) through `outbox.notify`, inside the
caller's transaction: the notice exists if and only if the event does. Types are stable codes
the app may switch on; `data` carries the ids it needs to open the right screen.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from consent_api.catalog import CATEGORIES, PURPOSES
from consent_api.consents.summary import ORG_TYPE_PLURALS, day, join_words
from notifications.models import Notification
from notifications.outbox import notify

DATA_USE = "data_use"
ACCESS_REFUSED = "access_refused"
EMERGENCY_ACCESS = "emergency_access"
REQUEST_RECEIVED = "consent_request_received"
REQUEST_EXPIRING = "consent_request_expiring"
CONSENT_EXPIRING = "consent_expiring"
CONSENT_EXPIRED = "consent_expired"
CONSENT_REVOKED = "consent_revoked"
DIGEST = "data_use_digest"
POINTS_EXPIRING = "points_expiring"
TYPES = (
    DATA_USE,
    ACCESS_REFUSED,
    EMERGENCY_ACCESS,
    REQUEST_RECEIVED,
    REQUEST_EXPIRING,
    CONSENT_EXPIRING,
    CONSENT_EXPIRED,
    CONSENT_REVOKED,
    DIGEST,
    POINTS_EXPIRING,
)

# Why a use was refused, as the patient would say it.
REFUSALS = {
    "no_consent": "you have not given them consent",
    "revoked": "you revoked that consent",
    "expired": "that consent has expired",
    "paused": "you paused that consent",
    "not_yet_valid": "that consent has not started yet",
    "out_of_scope": "your consent does not cover this",
    "excluded": "you excluded this from your consent",
    "sensitive_not_named": "this is sensitive data you did not name in your consent",
    "outside_data_period": "those records are outside the period you consented to",
    "max_uses_reached": "your consent's number of uses is used up",
}


def categories(codes: Iterable[str]) -> str:
    """Name data categories the way a patient reads them ("your lab results and ..."); more
    than three are counted instead, to keep a title short."""
    codes = list(codes)
    if len(codes) > 3:
        return f"{len(codes)} kinds of your data"
    return join_words([CATEGORIES[code] for code in codes])


def _records(count: int) -> str:
    return "1 record" if count == 1 else f"{count} records"


def _earned(points: int) -> str:
    return f" You earned {points} health point{'s' if points != 1 else ''}." if points else ""


def data_use(
    use: Any, org_name: str, *, now: datetime, points: int = 0, targets: Any = None
) -> Notification:
    """A permitted use (routine: may go to the daily digest), with the points it earned."""
    return notify(
        use.patient_id,
        type=DATA_USE,
        title=f"{org_name} used {categories(use.data_categories)}",
        body=f"For {PURPOSES[use.purpose]}: {_records(use.record_count)}, "
        f"under the consent you gave.{_earned(points)} See your access history for details.",
        data={"data_use_id": use.id, "org_id": use.org_id, "points": points},
        now=now,
        digestible=True,
        targets=targets,
    )


def access_refused(use: Any, org_name: str, *, now: datetime, targets: Any = None) -> Notification:
    """An attempt we refused: always an immediate alert."""
    return notify(
        use.patient_id,
        type=ACCESS_REFUSED,
        title=f"{org_name} tried to use {categories(use.data_categories)} without consent",
        body=f"We refused it: {REFUSALS.get(use.reason, 'your consent does not allow it')}. "
        "Nothing was used under your consent.",
        data={"data_use_id": use.id, "org_id": use.org_id},
        now=now,
        high_priority=True,
        targets=targets,
    )


def emergency_access(
    use: Any, org_name: str, *, now: datetime, points: int = 0, targets: Any = None
) -> Notification:
    """Emergency treatment access: always an immediate, high-priority alert."""
    return notify(
        use.patient_id,
        type=EMERGENCY_ACCESS,
        title=f"{org_name} used {categories(use.data_categories)} in an emergency",
        body=f"Emergency treatment access: {_records(use.record_count)}.{_earned(points)} "
        "You can turn emergency access off in your settings.",
        data={"data_use_id": use.id, "org_id": use.org_id, "points": points},
        now=now,
        high_priority=True,
        targets=targets,
    )


def request_received(request: Any, org_name: str, *, now: datetime) -> Notification:
    """An organisation asks for consent."""
    return notify(
        request.patient_id,
        type=REQUEST_RECEIVED,
        title=f"{org_name} asks for your consent",
        body=f"{request.summary}. Answer by {day(request.expires_at)}.",
        data={"request_id": request.id, "org_id": request.org_id},
        now=now,
    )


def request_expiring(request: Any, org_name: str, *, now: datetime) -> Notification:
    """A pending request is about to lapse unanswered."""
    return notify(
        request.patient_id,
        type=REQUEST_EXPIRING,
        title=f"{org_name}'s request for consent ends soon",
        body=f"It lapses on {day(request.expires_at)} if you do not answer.",
        data={"request_id": request.id, "org_id": request.org_id},
        now=now,
    )


def _grantee(consent: Any, names: dict[str, str]) -> str:
    name = names.get(str(consent.grantee_org_id))
    return name or ORG_TYPE_PLURALS.get(consent.grantee_org_type, "every organisation")


def consent_expiring(consent: Any, names: dict[str, str], *, now: datetime) -> Notification:
    """A consent ends within the reminder window."""
    return notify(
        consent.patient_id,
        type=CONSENT_EXPIRING,
        title=f"Your consent for {_grantee(consent, names)} ends soon",
        body=f"It ends on {day(consent.valid_until)}. Renew it if you want it to continue.",
        data={"consent_id": consent.id},
        now=now,
    )


def consent_expired(consent: Any, names: dict[str, str], *, now: datetime) -> Notification:
    """A consent has reached its end."""
    return notify(
        consent.patient_id,
        type=CONSENT_EXPIRED,
        title=f"Your consent for {_grantee(consent, names)} has ended",
        body="It no longer allows any use of your data.",
        data={"consent_id": consent.id},
        now=now,
    )


def consents_revoked(
    patient_id: uuid.UUID, consents: list[Any], names: dict[str, str], *, now: datetime
) -> Notification:
    """Confirmation of a revocation (one notice, however many consents it changed)."""
    grantees = join_words(sorted({_grantee(c, names) for c in consents}))
    return notify(
        patient_id,
        type=CONSENT_REVOKED,
        title=f"Consent withdrawn: {grantees}",
        body="From now on every check for this consent is refused.",
        data={"consent_ids": ",".join(str(c.id) for c in consents)},
        now=now,
    )


def digest(
    patient_id: uuid.UUID, uses: int, org_names: list[str], *, since: datetime, now: datetime
) -> Notification:
    """The daily summary of routine uses for a patient who chose a digest."""
    more = f" and {len(org_names) - 3} more" if len(org_names) > 3 else ""
    who = join_words(org_names[:3]) + more
    return notify(
        patient_id,
        type=DIGEST,
        title=f"{uses} use{'s' if uses != 1 else ''} of your data since {day(since)}",
        body=f"By {who}. See your access history for each one.",
        data={"since": since.isoformat()},
        now=now,
    )


def points_expiring(
    patient_id: uuid.UUID, points: int, first_expiry: datetime, *, now: datetime
) -> Notification:
    """Points will expire soon unless spent."""
    return notify(
        patient_id,
        type=POINTS_EXPIRING,
        title=f"{points} health point{'s' if points != 1 else ''} expire soon",
        body=f"Spend them by {day(first_expiry)}; after that they are gone.",
        data={"points": points, "expires_at": first_expiry.isoformat()},
        now=now,
    )
