"""The patient's devices for push: register (a token moves to whoever registers it last),
list, remove. The registration token itself is never shown back."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update

from notifications.models import Device, OutboxMessage
from server.db import db
from server.errors import NotFound


def register(
    patient_id: uuid.UUID, token: str, platform: str, *, now: datetime
) -> tuple[Device, bool]:
    """Register a token for the patient; returns (device, created). Registering a known token
    again reactivates it, and moves it if another account had it (one phone, new login)."""
    device = db.session.scalar(select(Device).where(Device.token == token).with_for_update())
    if device is None:
        device = Device(
            id=uuid.uuid4(), patient_id=patient_id, token=token, platform=platform, created_at=now
        )
        db.session.add(device)
        db.session.flush()
        return device, True
    if device.patient_id != patient_id:
        _drop_undelivered(device.id)  # the previous account's notices must not reach this phone
        device.patient_id = patient_id
    device.platform, device.active, device.deactivated_at = platform, True, None
    db.session.flush()
    return device, False


def active(patient_id: uuid.UUID) -> list[Device]:
    """The patient's active devices, oldest first."""
    return list(
        db.session.scalars(
            select(Device)
            .where(Device.patient_id == patient_id, Device.active.is_(True))
            .order_by(Device.created_at, Device.id)
        )
    )


def remove(patient_id: uuid.UUID, device_id: uuid.UUID, *, now: datetime) -> None:
    """Stop pushing to a device (its unsent pushes are dropped)."""
    device = db.session.get(Device, device_id)
    if device is None or device.patient_id != patient_id or not device.active:
        raise NotFound("No such device.")
    device.active, device.deactivated_at = False, now
    _drop_undelivered(device.id)
    db.session.flush()


def _drop_undelivered(device_id: uuid.UUID) -> None:
    """Drop every push not yet delivered to the device: waiting, in flight (a worker that
    holds one re-checks the owner before sending) or dead-lettered (`retry-dead`)."""
    db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.device_id == device_id,
            OutboxMessage.status.in_(("pending", "sending", "dead")),
        )
        .values(status="dropped", last_error="device removed")
        .execution_options(synchronize_session=False)
    )
