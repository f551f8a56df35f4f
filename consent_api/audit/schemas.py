"""Output and query shapes of the audit log's routes. Hashes are base64 (standard), as in
the signed checkpoints."""

from __future__ import annotations

import base64

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from consent_api.audit import entries
from server.http import when


def b64(value: bytes) -> str:
    return base64.b64encode(bytes(value)).decode()


class AuditListQuery(Schema):
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class ActorOut(Schema):
    type = fields.String(attribute="actor_type")
    id = fields.String(attribute="actor_id", allow_none=True)


class AuditEntryOut(Schema):
    """One of the patient's entries: what happened, who did it, and what it said."""

    id = fields.UUID()
    kind = fields.String()
    actor = fields.Function(lambda shown: ActorOut().dump(shown.entry))
    subjects = fields.Dict(keys=fields.String(), values=fields.String())
    occurred_at = fields.DateTime()
    payload = fields.Dict(allow_none=True)
    commitment = fields.Function(lambda shown: b64(shown.commitment))
    leaf_index = fields.Integer(allow_none=True)


class AuditPageOut(Schema):
    items = fields.List(fields.Nested(AuditEntryOut))
    next_cursor = fields.String(allow_none=True)


class CheckpointOut(Schema):
    """A signed tree head: its size, root and time, and the compact JWS that signs them."""

    tree_size = fields.Integer()
    root = fields.Function(lambda head: b64(head.root))
    created_at = fields.DateTime()
    signed = fields.String()


class InclusionOut(Schema):
    """An entry's place in the tree and the path of hashes from its leaf to the root."""

    entry_id = fields.UUID()
    leaf_index = fields.Integer(attribute="inclusion.leaf_index")
    leaf_hash = fields.Function(lambda proof: b64(proof.inclusion.leaf_hash))
    tree_size = fields.Integer(attribute="inclusion.tree_size")
    path = fields.Function(lambda proof: [b64(step) for step in proof.inclusion.path])
    checkpoint = fields.Nested(CheckpointOut)


class CheckpointQuery(Schema):
    from_size = fields.Integer(strict=False, validate=validate.Range(min=1))


class LatestCheckpointOut(Schema):
    """The latest checkpoint, and the proof that the one of `from_size` is its prefix."""

    checkpoint = fields.Nested(CheckpointOut, attribute="head")
    from_size = fields.Integer(allow_none=True)
    consistency = fields.Function(
        lambda found: (
            None if found.consistency is None else [b64(step) for step in found.consistency]
        ),
        allow_none=True,
    )


class ExportedEntryOut(AuditEntryOut):
    """An entry in the patient's export: with its commitment's salt and its proof."""

    salt = fields.Function(lambda shown: None if shown.salt is None else b64(shown.salt))
    leaf_hash = fields.Function(lambda shown: None)
    path = fields.Function(lambda shown: None)


def exported(found) -> dict:
    """The export's `audit` part: the checkpoint, and every entry with its proof."""
    items = []
    for shown, inclusion in found.entries:
        item = ExportedEntryOut().dump(shown)
        if inclusion is not None:
            item["leaf_hash"] = b64(inclusion.leaf_hash)
            item["path"] = [b64(step) for step in inclusion.path]
        items.append(item)
    return {
        "checkpoint": None if found.checkpoint is None else CheckpointOut().dump(found.checkpoint),
        "entries": items,
    }


class AdminAuditQuery(AuditListQuery):
    """The operator's filters: kind, patient, kind of actor, and a time range."""

    kind = fields.String(validate=validate.Length(min=1, max=60))
    patient_id = fields.UUID()
    actor_type = fields.String(validate=validate.OneOf(entries.ACTORS))
    since = when()
    until = when()

    @validates_schema
    def _range_in_order(self, data, **kwargs):
        if "since" in data and "until" in data and data["until"] <= data["since"]:
            raise ValidationError("Must be after since.", "until")


class AdminAuditEntryOut(Schema):
    """An entry as the operator sees it: what happened, never what it said."""

    id = fields.UUID()
    patient_id = fields.UUID(allow_none=True)
    kind = fields.String()
    actor = fields.Function(lambda shown: ActorOut().dump(shown.entry))
    subjects = fields.Dict(keys=fields.String(), values=fields.String())
    occurred_at = fields.DateTime()
    recorded_at = fields.DateTime()
    commitment = fields.Function(lambda shown: b64(shown.commitment))
    leaf_index = fields.Integer(allow_none=True)


class AdminAuditPageOut(Schema):
    items = fields.List(fields.Nested(AdminAuditEntryOut))
    next_cursor = fields.String(allow_none=True)
