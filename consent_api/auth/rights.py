"""The auth package's part in a patient's rights: a password change ends the other sessions;
erasure takes every token and code with it."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, select, update

from consent_api.auth.models import AuthorizationCode, OAuthToken
from server.db import db, utcnow


def end_other_sessions(patient_id: uuid.UUID, *, keeping_token_id: uuid.UUID) -> None:
    """Revoke every token of the patient but those of the session `keeping_token_id` belongs
    to (its family: the login it came from and its refreshes)."""
    kept = select(OAuthToken.family_id).where(OAuthToken.id == keeping_token_id).scalar_subquery()
    now = utcnow()
    db.session.execute(
        update(OAuthToken)
        .where(OAuthToken.patient_id == patient_id, OAuthToken.family_id != kept)
        .values(revoked_at=func.coalesce(OAuthToken.revoked_at, now), refresh_revoked_at=now)
        .execution_options(synchronize_session=False)
    )


def forget(patient_id: uuid.UUID) -> None:
    """Delete every token and authorization code issued for the patient."""
    for model in (OAuthToken, AuthorizationCode):
        db.session.execute(
            delete(model)
            .where(model.patient_id == patient_id)
            .execution_options(synchronize_session=False)
        )
