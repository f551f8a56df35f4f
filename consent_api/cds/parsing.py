"""Read a `patient-consent-consult` hook request: CDS Hooks 2.0 around LEAP's context.

By hand, like the consent check: one pass reads LEAP's unions (`purposeOfUse` a code or a
list) and maps each class to its data category as it checks it, into one 422 whose `errors`
nest the way marshmallow's do (`{"context": {"class": {"0": [...]}}}`), every bad field named.

What is used: `hook` (must be ours), `context.patientId` (the patient, see `resolve`),
`context.purposeOfUse` (v3 PurposeOfUse codes of our catalog; required here, optional in
LEAP: we decide nothing without a purpose), `context.class` (our data categories, or the
v3 sensitivity codes of the sensitive ones; none = the whole record) and `context.action`
(our extension; `access` by default, what a consult before disclosure is about).

What is checked and then ignored: `hookInstance` (required); `context.actor` (required, as
in LEAP: the decision is always the calling organisation's, whatever it names);
`context.category` (consent scopes: we hold patient-privacy consents only); `context.content`
(a Bundle: not processed, the obligations say what to redact); `fhirServer`,
`fhirAuthorization`, `prefetch` and `extension`. We never call the client's FHIR server, so
its access token in `fhirAuthorization` is neither used nor kept.

Unknown members of `context` are refused, as LEAP refuses them (a legacy `scope` must not
pass for a question we answer); unknown members of the request itself are tolerated, as
LEAP tolerates them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from consent_api import catalog
from consent_api.links import identifiers, naming
from consent_api.links.identifiers import Identifier
from server.errors import ValidationFailed

HOOK = "patient-consent-consult"
DEFAULT_ACTION = "access"
CONTEXT_FIELDS = frozenset(
    {"patientId", "actor", "purposeOfUse", "category", "class", "content", "action"}
)
MAX_IDENTIFIERS = 20  # identifiers of one patient: a handful in practice
MAX_CODINGS = 50
MAX_TEXT = 255
MISSING = "Missing data for required field."

# The classes we understand: our data categories, and the v3 sensitivity codes.
CLASSES: dict[tuple[str, str], str] = {
    **{(catalog.DATA_CATEGORY_SYSTEM, code): code for code in catalog.CATEGORIES},
    **{
        (catalog.ACT_CODE_SYSTEM, code): category
        for category, (code, _) in catalog.SENSITIVITY_CODES.items()
    },
}
UNKNOWN_CLASS = (
    f"Not a class we know: send system {catalog.DATA_CATEGORY_SYSTEM} with a data category "
    f"of GET /v1/catalog, or system {catalog.ACT_CODE_SYSTEM} with one of "
    f"{', '.join(code for code, _ in catalog.SENSITIVITY_CODES.values())}."
)
# Optional members of the request, with the JSON type each must have when present.
IGNORED_ROOT = {"fhirServer": str, "fhirAuthorization": dict, "prefetch": dict, "extension": dict}
TYPE_NAMES = {str: "a string", dict: "a JSON object"}


@dataclass(frozen=True)
class Consult:
    """What a consult asks: about whom, which data, for which purposes, to do what."""

    refs: tuple[str, ...]  # patient_refs we gave the caller
    identifiers: tuple[Identifier, ...]  # the caller's own identifiers of a linked patient
    purposes: tuple[str, ...]
    categories: tuple[str, ...]  # in catalog order
    action: str
    whole_record: bool  # no class was sent: every category is asked
    content_sent: bool  # a Bundle came with the request (not processed)


def parse(body: dict[str, Any]) -> Consult:
    """Read a hook request, or raise a 422 naming every bad field."""
    errors: dict[str, Any] = {}
    hook = body.get("hook")
    if hook is None:
        errors["hook"] = [MISSING]
    elif hook != HOOK:
        errors["hook"] = [f"This service answers the {HOOK} hook only."]
    instance = body.get("hookInstance")
    if instance is None:
        errors["hookInstance"] = [MISSING]
    elif not isinstance(instance, str) or not instance:
        errors["hookInstance"] = ["Must be a non-empty string (a UUID)."]
    for name, kind in IGNORED_ROOT.items():
        if body.get(name) is not None and not isinstance(body[name], kind):
            errors[name] = [f"Must be {TYPE_NAMES[kind]}."]
    raw = body.get("context")
    consult = None
    if raw is None:
        errors["context"] = [MISSING]
    elif not isinstance(raw, dict):
        errors["context"] = ["Expected a JSON object."]
    else:
        context_errors: dict[str, Any] = {}
        consult = _context(raw, context_errors)
        if context_errors:
            errors["context"] = context_errors
    if errors or consult is None:
        raise ValidationFailed(errors=errors)
    return consult


def _context(raw: dict[str, Any], errors: dict[str, Any]) -> Consult | None:
    for unknown in sorted(raw.keys() - CONTEXT_FIELDS):
        errors[unknown] = ["Unknown field."]
    refs, named = _patients(raw.get("patientId"), errors)
    _items("actor", raw.get("actor"), _actor, errors, required=True, limit=MAX_IDENTIFIERS)
    purposes = _purposes(raw.get("purposeOfUse"), errors)
    _items("category", raw.get("category"), _coding, errors, limit=MAX_CODINGS)
    classes = _items("class", raw.get("class"), _class, errors, limit=MAX_CODINGS, some=True)
    content = raw.get("content")
    if content is not None and (
        not isinstance(content, dict) or content.get("resourceType") != "Bundle"
    ):
        errors["content"] = ['Must be a FHIR Bundle ({"resourceType": "Bundle", …}).']
    action = raw.get("action")
    if action is None:
        action = DEFAULT_ACTION
    elif not isinstance(action, str) or action not in catalog.ACTIONS:
        errors["action"] = [f"Must be one of: {', '.join(catalog.ACTIONS)}."]
    if errors:
        return None
    asked = set(classes) if classes is not None else set(catalog.CATEGORIES)
    return Consult(
        refs=refs,
        identifiers=named,
        purposes=purposes,
        categories=tuple(code for code in catalog.CATEGORIES if code in asked),
        action=action,
        whole_record=classes is None,
        content_sent=content is not None,
    )


def _items(
    name: str,
    raw: Any,
    read: Callable[[Any], tuple[Any, dict[str, Any]]],
    errors: dict[str, Any],
    *,
    limit: int,
    required: bool = False,
    some: bool = False,
) -> list[Any] | None:
    """Read a list field item by item with `read(item) -> (value, item errors)`; None when
    it is absent. With `some`, an empty list is refused (absent means something else)."""
    if raw is None:
        if required:
            errors[name] = [MISSING]
        return None
    if not isinstance(raw, list) or len(raw) > limit or (some and not raw):
        errors[name] = [f"Send a list of {1 if some else 0} to {limit} items."]
        return None
    values, problems = [], {}
    for index, item in enumerate(raw):
        value, item_errors = read(item)
        if item_errors:
            problems[str(index)] = item_errors
        values.append(value)
    if problems:
        errors[name] = problems
        return None
    return values


def _text(raw: dict[str, Any], name: str, errors: dict[str, Any], *, required: bool) -> None:
    value = raw.get(name)
    if value is None:
        if required:
            errors[name] = [MISSING]
    elif not isinstance(value, str) or not 1 <= len(value) <= MAX_TEXT:
        errors[name] = [f"Must be a string of 1 to {MAX_TEXT} characters."]


def _actor(raw: Any) -> tuple[None, dict[str, Any]]:
    """An actor identifier, {system?, value}: checked for shape, not used."""
    if not isinstance(raw, dict):
        return None, {"_schema": ['Expected an object: {"system": …, "value": …}.']}
    errors = {name: ["Unknown field."] for name in sorted(raw.keys() - {"system", "value"})}
    _text(raw, "system", errors, required=False)
    _text(raw, "value", errors, required=True)
    return None, errors


def _coding(raw: Any) -> tuple[tuple[str, str] | None, dict[str, Any]]:
    """A FHIR Coding, {system, code, display?}, as (system, code)."""
    if not isinstance(raw, dict):
        return None, {"_schema": ['Expected an object: {"system": …, "code": …}.']}
    errors = {
        name: ["Unknown field."] for name in sorted(raw.keys() - {"system", "code", "display"})
    }
    _text(raw, "system", errors, required=True)
    _text(raw, "code", errors, required=True)
    _text(raw, "display", errors, required=False)
    if errors:
        return None, errors
    return (raw["system"], raw["code"]), {}


def _class(raw: Any) -> tuple[str | None, dict[str, Any]]:
    """A class, as the data category it names."""
    coding, errors = _coding(raw)
    if errors:
        return None, errors
    category = CLASSES.get(coding)
    if category is None:
        return None, {"_schema": [UNKNOWN_CLASS]}
    return category, {}


def _patients(raw: Any, errors: dict[str, Any]) -> tuple[tuple[str, ...], tuple[Identifier, ...]]:
    """The patientId identifiers, split into our references and the caller's identifiers."""
    found = _items(
        "patientId", raw, identifiers.parse, errors, required=True, limit=MAX_IDENTIFIERS, some=True
    )
    names = [naming.named(None, identifier) for identifier in found or []]
    refs = tuple(n.ref for n in names if n.ref is not None)
    named = tuple(dict.fromkeys(n.identifier for n in names if n.identifier is not None))
    return refs, named


def _purposes(raw: Any, errors: dict[str, Any]) -> tuple[str, ...]:
    """purposeOfUse: one code or a list of them, each a v3 PurposeOfUse code we know."""
    wrong = f"Must be one of: {', '.join(catalog.PURPOSES)}."
    if raw is None:
        errors["purposeOfUse"] = [MISSING]
        return ()
    if isinstance(raw, str):
        raw_codes = [raw]
    elif isinstance(raw, list) and 1 <= len(raw) <= len(catalog.PURPOSES) * 2:
        raw_codes = raw
    else:
        errors["purposeOfUse"] = [
            f"Send a purpose code, or a list of 1 to {len(catalog.PURPOSES) * 2}."
        ]
        return ()
    bad = {
        str(index): [wrong]
        for index, code in enumerate(raw_codes)
        if not isinstance(code, str) or code not in catalog.PURPOSES
    }
    if bad:
        errors["purposeOfUse"] = [wrong] if isinstance(raw, str) else bad
        return ()
    return tuple(dict.fromkeys(raw_codes))
