"""Every version of a consent is kept exactly as the patient saw it, never rewritten."""

from __future__ import annotations

from datetime import datetime

from consent_api.consents.models import Consent, ConsentVersion
from consent_api.consents.schemas import ConsentOut
from server.db import db
from server.http import dump

_SNAPSHOT = ConsentOut()


def record(consent: Consent, change: str, *, now: datetime) -> None:
    """Keep the consent's current version (call after a flush, so that it reads back)."""
    db.session.add(
        ConsentVersion(
            consent_id=consent.id,
            version=consent.version,
            change=change,
            # JSON-ready, so the stored version reads back exactly as it was shown.
            snapshot=dump(_SNAPSHOT, consent, now=now),
            created_at=now,
        )
    )
    db.session.expire(consent, ["versions"])  # read again, with this one, when next shown
