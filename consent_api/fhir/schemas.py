"""The FHIR search parameters we support."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, pre_load


class ConsentSearch(Schema):
    """`GET /fhir/R5/Consent?patient=`: the patient is required, as `<id>` or `Patient/<id>`."""

    class Meta:
        # FHIR servers ignore search parameters they do not support (lenient handling); the
        # Bundle's self link shows the ones that were applied.
        unknown = EXCLUDE

    patient = fields.UUID(required=True)

    @pre_load
    def _bare_id(self, data, **kwargs):
        value = data.get("patient")
        if isinstance(value, str) and value.startswith("Patient/"):
            data = {**data, "patient": value.removeprefix("Patient/")}
        return data
