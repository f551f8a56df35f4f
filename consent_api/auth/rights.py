"""The auth package's part in erasure: a patient's tokens and codes go with them."""

from __future__ import annotations

import uuid

from sqlalchemy import delete

from consent_api.auth.models import AuthorizationCode, OAuthToken
from server.db import db


def forget(patient_id: uuid.UUID) -> None:
    """Delete every token and authorization code issued for the patient."""
    for model in (OAuthToken, AuthorizationCode):
        db.session.execute(
            delete(model)
            .where(model.patient_id == patient_id)
            .execution_options(synchronize_session=False)
        )
