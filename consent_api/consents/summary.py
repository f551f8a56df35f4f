"""Plain-language summaries: who may do what with which data, why, until when, and what not."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from consent_api.catalog import ACTIONS, ALL, CATEGORIES, PURPOSES
from consent_api.wording import day, join_words

# The sensitive categories as an adjective, for "all your records except ... data".
_SENSITIVE_KINDS = {
    "genomics": "genetic",
    "mental_health": "mental-health",
    "sexual_health": "sexual-health",
    "substance_use": "substance-use",
}


def _categories(codes: Iterable[str]) -> str:
    codes = list(codes)
    if ALL not in codes:
        return join_words([CATEGORIES[c] for c in codes])
    # "all" covers no sensitive category: name the ones granted, and the rest as left out.
    text = "all your records"
    named = [CATEGORIES[c] for c in _SENSITIVE_KINDS if c in codes]
    if named:
        text += ", including " + join_words(named) + ","
    left_out = [kind for code, kind in _SENSITIVE_KINDS.items() if code not in codes]
    if left_out:
        text += " except " + join_words(left_out) + " data"
    return text.rstrip(",")


def summarise(scope: Mapping[str, Any], *, grantee: str, org_names: Mapping[Any, str]) -> str:
    """Return a short plain-language summary of a consent (or a request's proposed scope)."""
    actions = join_words([ACTIONS[a] for a in scope["actions"]])
    purposes = join_words([PURPOSES[p] for p in scope["purposes"]])
    text = f"{grantee} may {actions} {_categories(scope['data_categories'])} for {purposes}"
    start, end = scope.get("data_period_start"), scope.get("data_period_end")
    if start and end:
        text += f", from records dated {day(start)} to {day(end)}"
    elif start:
        text += f", from records dated {day(start)} onwards"
    elif end:
        text += f", from records dated up to {day(end)}"
    valid_until = scope.get("valid_until")
    text += f", until {day(valid_until)}." if valid_until else ", until you withdraw it."
    if scope.get("max_uses"):
        text += f" At most {scope['max_uses']} uses."
    hidden = []
    for exclusion in scope.get("exclusions") or []:
        parts = []
        if exclusion.get("data_categories"):
            parts.append(_categories(exclusion["data_categories"]))
        if exclusion.get("purposes"):
            parts.append("for " + join_words([PURPOSES[p] for p in exclusion["purposes"]]))
        if exclusion.get("org_ids"):
            parts.append(
                "by "
                + join_words(
                    [
                        org_names.get(str(o), "an excluded organisation")
                        for o in exclusion["org_ids"]
                    ]
                )
            )
        hidden.append(" ".join(parts))
    if hidden:
        text += " Never: " + "; ".join(hidden) + "."
    fee = scope.get("fee_per_use")
    if fee:
        text += f" Each use pays {fee} points, and your share comes back to you as health points."
    return text
