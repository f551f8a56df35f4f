"""The FHIR search parameters we support."""

from __future__ import annotations

from typing import Any

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    pre_load,
    validate,
    validates_schema,
)

PATIENT, BY_IDENTIFIER = "patient", "patient:identifier"


class ConsentSearch(Schema):
    """`GET /fhir/R5/Consent?patient=` (`<id>` or `Patient/<id>`: a patient's own id, or the
    `patient_ref` an organisation knows the patient by), or, for an organisation,
    `patient:identifier=<system>|<value>` (its identifier of a linked patient). One of the two."""

    class Meta:
        # FHIR servers ignore search parameters they do not support (lenient handling); the
        # Bundle's self link shows the ones that were applied.
        unknown = EXCLUDE

    patient = fields.String(validate=validate.Length(min=1, max=80))
    identifier = fields.String(data_key=BY_IDENTIFIER, validate=validate.Length(min=3, max=520))

    @pre_load
    def _bare_id(self, data: Any, **kwargs: Any) -> Any:
        value = data.get(PATIENT)
        if isinstance(value, str) and value.startswith("Patient/"):
            data = {**data, PATIENT: value.removeprefix("Patient/")}
        return data

    @validates_schema
    def _one_of(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("patient" in data) == ("identifier" in data):
            raise ValidationError(
                f"Search by exactly one of {PATIENT} and {BY_IDENTIFIER}.", PATIENT
            )
