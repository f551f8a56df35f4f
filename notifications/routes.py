"""The patient's inbox, devices and notification preferences."""

from __future__ import annotations

import uuid

from flask import Blueprint

from consent_api import scopes
from consent_api.oauth import current_patient, require
from notifications import devices, inbox, preferences
from notifications.schemas import (
    DeviceIn,
    DeviceOut,
    NotificationListQuery,
    NotificationOut,
    PreferencesIn,
    PreferencesOut,
)
from server.db import utcnow
from server.http import body, query

bp = Blueprint("notifications", __name__)


@bp.get("/v1/me/notifications")
@require(scopes.PATIENT)
@query(NotificationListQuery)
def list_notifications(query):
    """The inbox, newest first, with the unread count."""
    patient = current_patient()
    items, next_cursor = inbox.page(patient.id, query)
    return {
        "items": NotificationOut(many=True).dump([inbox.present(n) for n in items]),
        "next_cursor": next_cursor,
        "unread_count": inbox.unread_count(patient.id),
    }


@bp.post("/v1/me/notifications/<uuid:notification_id>/read")
@require(scopes.PATIENT)
def mark_read(notification_id: uuid.UUID):
    """Mark one notice read."""
    notice = inbox.mark_read(current_patient().id, notification_id, now=utcnow())
    return NotificationOut().dump(inbox.present(notice))


@bp.post("/v1/me/notifications/read-all")
@require(scopes.PATIENT)
def mark_all_read():
    """Mark every notice read."""
    return {"marked": inbox.mark_all_read(current_patient().id, now=utcnow()), "unread_count": 0}


@bp.get("/v1/me/devices")
@require(scopes.PATIENT)
def list_devices():
    """The devices that receive the patient's pushes."""
    found = devices.active(current_patient().id)
    return {"items": DeviceOut(many=True).dump([devices.present(d) for d in found])}


@bp.post("/v1/me/devices")
@require(scopes.PATIENT)
@body(DeviceIn)
def register_device(body):
    """Register a device for push; the same token again updates it (no duplicates)."""
    device, created = devices.register(
        current_patient().id, body["token"], body["platform"], now=utcnow()
    )
    return DeviceOut().dump(devices.present(device)), 201 if created else 200


@bp.delete("/v1/me/devices/<uuid:device_id>")
@require(scopes.PATIENT)
def remove_device(device_id: uuid.UUID):
    """Stop pushing to a device."""
    devices.remove(current_patient().id, device_id, now=utcnow())
    return "", 204


@bp.get("/v1/me/notification-preferences")
@require(scopes.PATIENT)
def get_preferences():
    """How and when routine notices reach the patient."""
    return PreferencesOut().dump(preferences.present(current_patient().id))


@bp.put("/v1/me/notification-preferences")
@require(scopes.PATIENT)
@body(PreferencesIn)
def put_preferences(body):
    """Replace the preferences; alerts stay immediate whatever they say."""
    patient_id = current_patient().id
    preferences.replace(patient_id, body, now=utcnow())
    return PreferencesOut().dump(preferences.present(patient_id))
