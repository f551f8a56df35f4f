"""Input and output shapes of the event feed and of webhook endpoints."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from consent_api.events import kinds


class EventTypesField(fields.String):
    """A comma-separated list of event types, each one we send."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        types = [item.strip() for item in text.split(",") if item.strip()]
        unknown = sorted(set(types) - set(kinds.ALL))
        if unknown:
            raise ValidationError(f"Unknown event types: {', '.join(unknown)}.")
        return types


class FeedQuery(Schema):
    """Where to read on from, how much, and which types."""

    after = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**62))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))
    types = EventTypesField(load_default=list, validate=validate.Length(max=1000))


class FeedPageOut(Schema):
    """Events, oldest first, and where to read on from."""

    items = fields.List(fields.Dict())
    next_after = fields.Integer()
    has_more = fields.Boolean()
