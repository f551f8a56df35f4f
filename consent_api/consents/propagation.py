"""Who has received a change of a patient's consent, and when: for each version, each
organisation it concerns, and whether that organisation has the news yet (answered our
webhook, or read it from its feed)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, func, select

from consent_api.consents.models import Consent
from consent_api.events import kinds
from consent_api.events.models import OrgEvent
from consent_api.orgs.models import Organisation
from server.db import db


class Notice(NamedTuple):
    """One organisation's news of one version of a consent."""

    id: uuid.UUID  # the event's (for ordering; never shown to the patient)
    consent_id: uuid.UUID
    version: int
    change: str  # the event type: consent.revoked, ...
    org_id: uuid.UUID
    org_name: str
    sent_at: datetime  # when it was published to the organisation
    received_at: datetime | None
    received_via: str | None
    occurred_at: datetime  # when it was received, or sent while not yet received


# When a notice happened for the patient: its receipt, or its sending until then.
NOTICE_AT = func.coalesce(OrgEvent.received_at, OrgEvent.published_at)


def notices(patient_id: uuid.UUID) -> Select:
    """The organisations' news of the changes to a patient's consents (rows read as a
    `Notice`), for this consent's view and for the access history."""
    return (
        select(
            OrgEvent.id,
            OrgEvent.consent_id,
            OrgEvent.consent_version,
            OrgEvent.type,
            OrgEvent.org_id,
            Organisation.name,
            OrgEvent.published_at,
            OrgEvent.received_at,
            OrgEvent.received_via,
            NOTICE_AT,
        )
        .join(Organisation, Organisation.id == OrgEvent.org_id)
        .where(OrgEvent.patient_id == patient_id, OrgEvent.type.in_(kinds.CONSENT_KINDS))
    )


def of(patient_id: uuid.UUID, consent_id: uuid.UUID) -> list[Notice]:
    """Every organisation's news of every version of one consent, oldest version first."""
    rows = db.session.execute(
        notices(patient_id)
        .where(OrgEvent.consent_id == consent_id)
        .order_by(OrgEvent.consent_version, Organisation.name, OrgEvent.org_id)
    ).all()
    return [Notice(*row) for row in rows]


@dataclass(frozen=True)
class WithPropagation:
    """A consent, read like the consent, with who has received each of its changes."""

    consent: Consent
    propagation: list[Notice]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.consent, name)


_NEWS = {
    kinds.CONSENT_GRANTED: "your consent",
    kinds.CONSENT_AMENDED: "your change",
    kinds.CONSENT_PAUSED: "your pause",
    kinds.CONSENT_RESUMED: "the end of your pause",
    kinds.CONSENT_REVOKED: "your revocation",
    kinds.CONSENT_EXPIRED: "the end of your consent",
}


def summary(notice: Notice) -> str:
    """In words: "St Mary's received your revocation at 2026-11-30 10:02:07 UTC"."""
    news = _NEWS[notice.change]
    if notice.received_at is None:
        return f"{notice.org_name} has not received {news} yet (sent {_clock(notice.sent_at)})."
    return f"{notice.org_name} received {news} at {_clock(notice.received_at)}."


def _clock(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
