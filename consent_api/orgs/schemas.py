"""Output shapes of organisations."""

from marshmallow import Schema, fields


class OrgOut(Schema):
    """An organisation as the operator and the organisation itself see it."""

    id = fields.UUID()
    name = fields.String()
    type = fields.String()
    status = fields.String()
    created_at = fields.DateTime()
    suspended_at = fields.DateTime(allow_none=True)


class OrgListOut(Schema):
    """Every organisation."""

    items = fields.List(fields.Nested(OrgOut))


class OrgRefOut(Schema):
    """An organisation named in someone else's record: its id and name only."""

    id = fields.UUID()
    name = fields.String()
