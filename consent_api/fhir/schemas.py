"""The FHIR search parameters we support, read from the query string and written back into
the Bundle's links."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

from consent_api.fhir import dates

PATIENT, BY_IDENTIFIER = "patient", "patient:identifier"
STATUS, LAST_UPDATED, COUNT, CURSOR = "status", "_lastUpdated", "_count", "cursor"
# FHIR ANDs the repetitions of a parameter; only these may be repeated here.
REPEATABLE = (LAST_UPDATED,)
DEFAULT_COUNT, MAX_COUNT, MAX_DATES = 50, 200, 10
STATE_SYSTEM = "http://hl7.org/fhir/consent-state-codes"
STATES = ("draft", "active", "inactive", "not-done", "entered-in-error", "unknown")
FORMATS = ("json", "application/json", "application/fhir+json")


class StatusToken(fields.Field):
    """A token search on Consent.status: codes of consent-state-codes, bare or as
    `system|code`, separated by commas (any of them)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[str]:
        if not isinstance(value, str):
            raise ValidationError("Not a token.")
        found = []
        for token in value.split(","):
            system, bar, code = token.rpartition("|")
            if (bar and system not in ("", STATE_SYSTEM)) or code not in STATES:
                raise ValidationError(f"Each status is one of {', '.join(STATES)}.")
            found.append(code)
        return found

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else ",".join(value)


class DateValues(fields.Field):
    """Date search values (dates.parse), all of which apply; written back as the client
    wrote them."""

    def _deserialize(
        self, value: Any, attr: Any, data: Any, **kwargs: Any
    ) -> list[dates.DateSearch]:
        texts = value if isinstance(value, list) else [value]
        if len(texts) > MAX_DATES:
            raise ValidationError(f"Give at most {MAX_DATES} of these.")
        try:
            return [dates.parse(text if isinstance(text, str) else "") for text in texts]
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> list[str] | None:
        return None if value is None else [found.text for found in value]


class ConsentSearch(Schema):
    """`GET /fhir/R5/Consent?patient=` (`<id>` or `Patient/<id>`: a patient's own id, or the
    `patient_ref` an organisation knows the patient by), or, for an organisation,
    `patient:identifier=<system>|<value>` (its identifier of a linked patient); one of the
    two. Then `status`, `_lastUpdated` (repeatable), `_count` (at most 200) and the
    `cursor` of a next page. Loaded from the query string's lists of values."""

    class Meta:
        # FHIR's lenient handling: parameters we do not support are ignored, and the Bundle's
        # self link shows the ones applied (`Prefer: handling=strict` refuses them instead).
        unknown = EXCLUDE

    patient = fields.String(validate=validate.Length(min=1, max=80))
    identifier = fields.String(data_key=BY_IDENTIFIER, validate=validate.Length(min=3, max=520))
    status = StatusToken()
    last_updated = DateValues(data_key=LAST_UPDATED)
    count = fields.Integer(data_key=COUNT, validate=validate.Range(min=1))
    cursor = fields.String(validate=validate.Length(max=200))
    format = fields.String(data_key="_format", validate=validate.OneOf(FORMATS))

    @pre_load
    def _values(self, data: Mapping[str, list[str]], **kwargs: Any) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, given in data.items():
            if name in REPEATABLE:
                values[name] = given
            elif len(given) > 1:
                raise ValidationError("Give this parameter once.", name)
            else:
                values[name] = given[0]
        patient = values.get(PATIENT)
        if isinstance(patient, str) and patient.startswith("Patient/"):
            values[PATIENT] = patient.removeprefix("Patient/")
        return values

    @validates_schema
    def _one_of(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("patient" in data) == ("identifier" in data):
            raise ValidationError(
                f"Search by exactly one of {PATIENT} and {BY_IDENTIFIER}.", PATIENT
            )

    @post_load
    def _bounded(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # FHIR lets a server return fewer than `_count` asks: more than 200 is read as 200.
        if "count" in data:
            data["count"] = min(data["count"], MAX_COUNT)
        return data


SEARCH = ConsentSearch()
KNOWN = frozenset(field.data_key or name for name, field in SEARCH.fields.items())


def unknown(params: Mapping[str, Any]) -> dict[str, list[str]]:
    """The parameters we do not support, each with why (for strict handling)."""
    return {name: ["Not a search parameter of ours."] for name in params if name not in KNOWN}


def applied(query: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """The parameters a search applied, as query-string values (for the Bundle's links)."""
    return {**SEARCH.dump(query), **changes}
