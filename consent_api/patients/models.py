"""The patient: owner of the wallet and of the data its consents govern."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String, true
from sqlalchemy.orm import Mapped, mapped_column

from server.db import db, utcnow, uuid_pk


class Patient(db.Model):
    """A patient account; the e-mail is stored lower-cased and unique."""

    __tablename__ = "patients"

    id: Mapped[uuid.UUID] = uuid_pk()
    # NULL once erased; unique among the rest.
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(100))
    # Break-glass: a hospital may use the data for emergency treatment without a consent,
    # unless the patient turns this off.
    emergency_access: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    erased_at: Mapped[datetime | None]

    def get_user_id(self) -> str:
        """Return the id authlib records as the resource owner."""
        return str(self.id)
