"""The requests package's part in the patient's export (requests stay, pseudonymous, after
erasure: they are the organisations' record too)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from consent_api.patients.models import Patient
from consent_api.requests.models import ConsentRequest
from consent_api.requests.schemas import RequestOut
from server.db import db
from server.http import dump


def export_for(patient: Patient, *, now: datetime) -> dict[str, Any]:
    """Every consent request addressed to the patient, oldest first."""
    asked = db.session.scalars(
        select(ConsentRequest)
        .where(ConsentRequest.patient_id == patient.id)
        .order_by(ConsentRequest.created_at)
        .options(selectinload(ConsentRequest.org), selectinload(ConsentRequest.study))
    ).all()
    return {"consent_requests": dump(RequestOut(many=True), asked, now=now)}
