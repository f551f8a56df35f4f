"""What the patient is told about uses of their data: each use (routine, may wait for the
daily digest), each refused attempt and each emergency access (alerts, pushed at once), and
the daily digest itself.

Each writes one inbox notice (and its pushes) in the caller's transaction; a data use passes
the audience it has already read (`to`), to save a query."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, update

from consent_api.catalog import PURPOSES
from consent_api.uses.models import RefusalAlert
from consent_api.wording import categories, day, join_words
from notifications.models import Notification
from notifications.outbox import Audience, notify, restate
from server.db import core, insert_or_skip

DATA_USE = "data_use"
ACCESS_REFUSED = "access_refused"
EMERGENCY_ACCESS = "emergency_access"
DIGEST = "data_use_digest"

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
    "org_suspended": "that organisation is suspended",
}
# Why a use happened or not, as the access history labels it.
REASONS = {
    "permitted": "allowed by your consent",
    EMERGENCY_ACCESS: "emergency treatment, which you allow without consent",
    **REFUSALS,
}


def _records(count: int) -> str:
    return "1 record" if count == 1 else f"{count} records"


def _earned(points: int) -> str:
    return f" You earned {points} health point{'s' if points != 1 else ''}." if points else ""


def data_use(
    use: Any, org_name: str, *, now: datetime, points: int = 0, to: Audience | None = None
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
        to=to,
    )


_alerts = RefusalAlert.__table__
_COUNT_ATTEMPT = (
    update(_alerts)
    .where(
        _alerts.c.patient_id == bindparam("patient"),
        _alerts.c.org_id == bindparam("org"),
        _alerts.c.window_start == bindparam("window"),
    )
    .values(attempts=_alerts.c.attempts + 1, last_at=bindparam("now"))
    .returning(_alerts.c.notification_id, _alerts.c.attempts)
)


def window_start(now: datetime, window: timedelta) -> datetime:
    """The start of the fixed window (of `window`, counted from the epoch) holding `now`."""
    seconds = int(window.total_seconds())
    return datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=UTC)


def access_refused(
    use: Any, org_name: str, *, now: datetime, window: timedelta, to: Audience | None = None
) -> None:
    """An attempt we refused. The first by an organisation in a window is an immediate alert;
    later ones in the same window are counted into it (rewritten, shown unread, not pushed
    again), so repeated probing makes one alert with a count, not a push per attempt."""
    reason = REFUSALS.get(use.reason, "your consent does not allow it")
    key = {"patient_id": use.patient_id, "org_id": use.org_id}
    start = window_start(now, window)
    notice_id = uuid.uuid4()
    first = (
        core()
        .execute(
            insert_or_skip(_alerts)
            .values(**key, window_start=start, notification_id=notice_id, attempts=1, last_at=now)
            .returning(_alerts.c.notification_id)
        )
        .first()
    )
    if first is not None:
        notify(
            use.patient_id,
            type=ACCESS_REFUSED,
            title=f"{org_name} tried to use {categories(use.data_categories)} without consent",
            body=f"We refused it: {reason}. Nothing was used under your consent.",
            data={"data_use_id": use.id, "org_id": use.org_id},
            now=now,
            high_priority=True,
            to=to,
            notice_id=notice_id,
        )
        return
    notice_id, attempts = (
        core()
        .execute(
            _COUNT_ATTEMPT,
            {"patient": use.patient_id, "org": use.org_id, "window": start, "now": now},
        )
        .one()
    )
    restate(
        notice_id,
        title=f"{org_name} tried {attempts} times to use your data without consent",
        body=f"We refused every attempt since {start:%H:%M} UTC; the latest: {reason}. "
        "Nothing was used under your consent. See your access history for each one.",
    )


def emergency_access(
    use: Any, org_name: str, *, now: datetime, points: int = 0, to: Audience | None = None
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
        to=to,
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
