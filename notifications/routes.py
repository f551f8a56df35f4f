"""The patient's inbox, devices and notification preferences."""

from __future__ import annotations

import uuid

from flask import Blueprint

from notifications import devices, inbox, preferences
from notifications.schemas import (
    DeviceIn,
    DeviceListOut,
    DeviceOut,
    InboxPageOut,
    MarkedReadOut,
    NotificationListQuery,
    NotificationOut,
    PreferencesIn,
    PreferencesOut,
)
from server import scopes
from server.db import utcnow
from server.guard import acting_patient_id, require
from server.http import body, output, query

bp = Blueprint("notifications", __name__)


@bp.get("/v1/me/notifications")
@require(scopes.PATIENT)
@output(InboxPageOut)
@query(NotificationListQuery)
def list_notifications(query):
    """The inbox, newest first, with the unread count."""
    return inbox.page(acting_patient_id(), query)


@bp.post("/v1/me/notifications/<uuid:notification_id>/read")
@require(scopes.PATIENT)
@output(NotificationOut)
def mark_read(notification_id: uuid.UUID):
    """Mark one notice read."""
    return inbox.mark_read(acting_patient_id(), notification_id, now=utcnow())


@bp.post("/v1/me/notifications/read-all")
@require(scopes.PATIENT)
@output(MarkedReadOut)
def mark_all_read():
    """Mark every notice read."""
    return {"marked": inbox.mark_all_read(acting_patient_id(), now=utcnow()), "unread_count": 0}


@bp.get("/v1/me/devices")
@require(scopes.PATIENT)
@output(DeviceListOut)
def list_devices():
    """The devices that receive the patient's pushes."""
    return {"items": devices.active(acting_patient_id())}


@bp.post("/v1/me/devices")
@require(scopes.PATIENT)
@output(DeviceOut)
@body(DeviceIn)
def register_device(body):
    """Register a device for push; the same token again updates it (no duplicates)."""
    device, created = devices.register(
        acting_patient_id(), body["token"], body["platform"], now=utcnow()
    )
    return device, 201 if created else 200


@bp.delete("/v1/me/devices/<uuid:device_id>")
@require(scopes.PATIENT)
def remove_device(device_id: uuid.UUID):
    """Stop pushing to a device."""
    devices.remove(acting_patient_id(), device_id, now=utcnow())
    return "", 204


@bp.get("/v1/me/notification-preferences")
@require(scopes.PATIENT)
@output(PreferencesOut)
def get_preferences():
    """How and when routine notices reach the patient."""
    return preferences.stored_or_default(acting_patient_id())


@bp.put("/v1/me/notification-preferences")
@require(scopes.PATIENT)
@output(PreferencesOut)
@body(PreferencesIn)
def put_preferences(body):
    """Replace the preferences; alerts stay immediate whatever they say."""
    return preferences.replace(acting_patient_id(), body, now=utcnow())
