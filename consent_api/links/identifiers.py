"""An organisation's own identifier for a patient, FHIR-style: {"system": URI, "value": …}."""

from __future__ import annotations

import re
import unicodedata
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

MAX_LENGTH = 255
# The identifier system of our own patient references: `{"system": PATIENT_REF_SYSTEM,
# "value": <patient_ref>}` names a patient as `patient_ref` does (CDS Hooks' patientId, FHIR
# identifiers). No organisation may link patients under it.
PATIENT_REF_SYSTEM = "urn:consent-wallet:patient-ref"
# An absolute URI (urn:oid:…, https://…): a scheme, a colon, no spaces or controls.
_SYSTEM = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s\x00-\x1f\x7f]+")
_VALUE = re.compile(r"[^\x00-\x1f\x7f]+")
# Characters that hide or reorder text (controls, format characters such as U+202E, line and
# paragraph separators, private use, surrogates): an identifier is shown to the patient.
_HIDDEN = frozenset({"Cc", "Cf", "Co", "Cs", "Zl", "Zp"})
FIELDS = {"system", "value"}


def normal_system(system: str) -> str:
    """A system as compared and kept: the parts URIs define as case-insensitive lower-cased
    (the scheme; a URN's namespace; an http(s) URL's host), so that one system has one
    spelling (RFC 3986 6.2.2.1, RFC 8141 3.1)."""
    if system.lower() == PATIENT_REF_SYSTEM:  # ours, whose whole name is case-insensitive
        return PATIENT_REF_SYSTEM
    scheme, _, rest = system.partition(":")
    scheme = scheme.lower()
    if scheme == "urn":
        namespace, colon, specific = rest.partition(":")
        return f"urn:{namespace.lower()}{colon}{specific}"
    if scheme in ("http", "https"):
        parts = urlsplit(system)
        return urlunsplit((scheme, parts.netloc.lower(), parts.path, parts.query, parts.fragment))
    return f"{scheme}:{rest}"


def _shown_safely(value: str) -> bool:
    return (
        value.strip() == value
        and any(not c.isspace() for c in value)
        and not any(unicodedata.category(c) in _HIDDEN for c in value)
    )


class Identifier(NamedTuple):
    system: str
    value: str

    def as_json(self) -> dict[str, str]:
        return {"system": self.system, "value": self.value}


def problems(raw: Any) -> dict[str, list[str]]:
    """What is wrong with an identifier as sent (empty when nothing is)."""
    if not isinstance(raw, dict):
        return {"_schema": ['Expected an object: {"system": …, "value": …}.']}
    errors = {name: ["Unknown field."] for name in sorted(raw.keys() - FIELDS)}
    for name, shape, hint in (
        ("system", _SYSTEM, "an absolute URI, e.g. urn:oid:… or https://…"),
        ("value", _VALUE, "text without control characters"),
    ):
        value = raw.get(name)
        if value is None:
            errors[name] = ["Missing data for required field."]
        elif not isinstance(value, str) or not 1 <= len(value) <= MAX_LENGTH:
            errors[name] = [f"Must be a string of 1 to {MAX_LENGTH} characters."]
        elif not shape.fullmatch(value):
            errors[name] = [f"Must be {hint}."]
        elif name == "value" and not _shown_safely(value):
            errors[name] = ["Must be visible text, without leading or trailing spaces."]
    return errors


def problems_as_own(raw: Any) -> dict[str, list[str]]:
    """What is wrong with an identifier an organisation links a patient under."""
    errors = problems(raw)
    if not errors and normal_system(raw["system"]) == PATIENT_REF_SYSTEM:
        errors["system"] = ["This system names our patient references: use your own."]
    return errors


def parse(raw: Any) -> tuple[Identifier | None, dict[str, list[str]]]:
    """(identifier, {}) or (None, field errors)."""
    errors = problems(raw)
    if errors:
        return None, errors
    return Identifier(normal_system(raw["system"]), raw["value"]), {}
