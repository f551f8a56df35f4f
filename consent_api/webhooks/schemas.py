"""Input and output shapes of the event feed and of webhook endpoints."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from consent_api.consents.schemas import codes
from consent_api.events import kinds
from server.http import rendered


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


class EndpointIn(Schema):
    """An endpoint to register: where, and which event types (none listed: every type)."""

    url = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    event_types = codes(kinds.ALL, required=False, min_length=0, load_default=list)
    description = fields.String(load_default="", validate=validate.Length(max=200))


class EndpointPatch(Schema):
    """What to change of an endpoint; `enabled` disables or enables it."""

    url = fields.String(validate=validate.Length(min=1, max=2000))
    event_types = codes(kinds.ALL, required=False, min_length=0)
    description = fields.String(validate=validate.Length(max=200))
    enabled = fields.Boolean()


class EndpointOut(Schema):
    """An endpoint, without its secret."""

    id = fields.UUID()
    url = fields.String()
    description = fields.String()
    event_types = fields.List(fields.String())
    status = fields.String()
    disabled_by = fields.String(allow_none=True)
    disabled_at = fields.DateTime(allow_none=True)
    consecutive_failures = fields.Integer(attribute="failures")
    failing_since = fields.DateTime(allow_none=True)
    next_attempt_at = fields.DateTime()
    previous_secret_expires_at = fields.Function(
        lambda endpoint: _still(endpoint.previous_secret_until), allow_none=True
    )
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


def _still(until):
    return until.isoformat() if until is not None and until > rendered("now") else None


class EndpointListOut(Schema):
    """The organisation's endpoints."""

    items = fields.List(fields.Nested(EndpointOut))


class EndpointWithSecretOut(EndpointOut):
    """An endpoint with its new signing secret: shown this once, never again."""

    secret = fields.String()


class AdminEndpointOut(EndpointOut):
    """An endpoint as the operator sees it: whose it is."""

    org_id = fields.UUID()


class AdminEndpointListOut(Schema):
    """Endpoints, for the operator."""

    items = fields.List(fields.Nested(AdminEndpointOut))


class AdminEndpointQuery(Schema):
    """The operator's filters."""

    org_id = fields.UUID()
    status = fields.String(validate=validate.OneOf(("active", "disabled")))


class DeliveryOut(Schema):
    """One event's delivery to one endpoint, and its last attempt."""

    id = fields.UUID()
    event_id = fields.UUID(attribute="event.id")
    event_type = fields.String(attribute="event.type")
    sequence = fields.Integer(attribute="seq")
    status = fields.String()
    attempts = fields.Integer()
    first_attempt_at = fields.DateTime(allow_none=True)
    last_attempt_at = fields.DateTime(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    response_excerpt = fields.String(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class DeliveryPageOut(Schema):
    """A page of an endpoint's deliveries, newest first."""

    items = fields.List(fields.Nested(DeliveryOut))
    next_cursor = fields.String(allow_none=True)


class DeliveryListQuery(Schema):
    """Filters and paging of deliveries."""

    status = fields.String(validate=validate.OneOf(("pending", "delivered", "failed")))
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
