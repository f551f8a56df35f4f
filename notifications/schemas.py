"""Input and output shapes of the inbox, devices and notification preferences."""

from __future__ import annotations

import functools
import zoneinfo

from marshmallow import Schema, ValidationError, fields, validate

from notifications.models import DATA_USE_DELIVERY


class NotificationOut(Schema):
    id = fields.UUID()
    type = fields.String()
    title = fields.String()
    body = fields.String()
    data = fields.Dict(keys=fields.String(), values=fields.String())
    high_priority = fields.Boolean()
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)


class InboxPageOut(Schema):
    """A page of the inbox, newest first, with how many notices are unread in all."""

    items = fields.List(fields.Nested(NotificationOut))
    next_cursor = fields.String(allow_none=True)
    unread_count = fields.Integer()


class MarkedReadOut(Schema):
    marked = fields.Integer()
    unread_count = fields.Integer()


class NotificationListQuery(Schema):
    """Paging for the inbox (newest first), optionally only the unread."""

    unread = fields.Boolean(load_default=False)
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class DeviceIn(Schema):
    """A push registration token from the app (FCM), and the platform it runs on."""

    # FCM tokens are ~160 printable ASCII characters; the bound keeps the unique index happy.
    token = fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=1024),
            validate.Regexp(r"^[\x21-\x7e]+$", error="Printable ASCII, no spaces."),
        ],
    )
    platform = fields.String(required=True, validate=validate.OneOf(("android", "ios", "web")))


class DeviceOut(Schema):
    """A device as its patient sees it: never its push token."""

    id = fields.UUID()
    platform = fields.String()
    created_at = fields.DateTime()


class DeviceListOut(Schema):
    items = fields.List(fields.Nested(DeviceOut))


@functools.cache
def _zones() -> frozenset[str]:
    # Read on first use, not at start-up (it walks the time-zone database). "America" is a
    # folder there, not a zone, so ZoneInfo() alone would not do.
    return frozenset(zoneinfo.available_timezones())


def _time_zone(name: str) -> None:
    if name not in _zones():
        raise ValidationError("Not an IANA time zone (e.g. Europe/Paris).")


class LocalTime(fields.Time):
    """A wall-clock time in the patient's time zone: an offset would contradict it."""

    def _deserialize(self, value, attr, data, **kwargs):
        parsed = super()._deserialize(value, attr, data, **kwargs)
        if parsed.tzinfo is not None:
            raise ValidationError("A local time without an offset (the time_zone applies).")
        return parsed


class QuietHours(Schema):
    """Local times between which routine notices wait; may cross midnight."""

    start = LocalTime(required=True)
    end = LocalTime(required=True)


class PreferencesIn(Schema):
    """The whole set of preferences (PUT replaces them)."""

    data_uses = fields.String(required=True, validate=validate.OneOf(DATA_USE_DELIVERY))
    digest_time = LocalTime(load_default=None)
    quiet_hours = fields.Nested(QuietHours, load_default=None, allow_none=True)
    time_zone = fields.String(
        load_default="UTC", validate=[validate.Length(min=1, max=64), _time_zone]
    )


_QUIET_HOURS = QuietHours()


def _quiet_hours(prefs) -> dict | None:
    if prefs.quiet_start is None:
        return None
    return _QUIET_HOURS.dump({"start": prefs.quiet_start, "end": prefs.quiet_end})


class PreferencesOut(Schema):
    """A patient's preferences (stored, or the defaults)."""

    data_uses = fields.String()
    digest_time = fields.Time()
    quiet_hours = fields.Function(_quiet_hours, allow_none=True)
    time_zone = fields.String()
    next_digest_at = fields.DateTime(allow_none=True)
