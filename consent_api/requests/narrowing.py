"""Pure rules for approving a request: the patient may narrow the proposed scope, never widen it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from consent_api.catalog import ALL, SENSITIVE


def _categories_within(approved: list[str], proposed: list[str]) -> bool:
    proposed_set = set(proposed)
    for code in approved:
        if code in proposed_set:
            continue
        if code != ALL and ALL in proposed_set and code not in SENSITIVE:
            continue
        return False
    return True


def _later_or_equal(value: date | datetime | None, bound: date | datetime | None) -> bool:
    return bound is None or (value is not None and value >= bound)


def _earlier_or_equal(value: date | datetime | None, bound: date | datetime | None) -> bool:
    return bound is None or (value is not None and value <= bound)


def narrowed_scope(proposed: dict[str, Any], approval: dict[str, Any]) -> tuple[dict, dict]:
    """Return (final scope, errors): the proposal with the patient's narrowing applied, and a
    field → messages map for every attempt to widen it. Exclusions only ever add up."""
    final = dict(proposed)
    errors: dict[str, list[str]] = {}

    def widen(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    if "data_categories" in approval:
        if not _categories_within(approval["data_categories"], proposed["data_categories"]):
            widen("data_categories", "May only keep or drop the requested categories.")
        final["data_categories"] = approval["data_categories"]
    for name in ("purposes", "actions"):
        if name in approval:
            if not set(approval[name]) <= set(proposed[name]):
                widen(name, f"May only keep or drop the requested {name}.")
            final[name] = approval[name]
    if approval.get("data_period") is not None:
        start = approval["data_period"].get("start") or proposed["data_period_start"]
        end = approval["data_period"].get("end") or proposed["data_period_end"]
        if not (
            _later_or_equal(start, proposed["data_period_start"])
            and _earlier_or_equal(end, proposed["data_period_end"])
        ):
            widen("data_period", "May only shorten the requested data period.")
        final["data_period_start"], final["data_period_end"] = start, end
    if approval.get("valid_from") is not None:
        if not _later_or_equal(approval["valid_from"], proposed["valid_from"]):
            widen("valid_from", "May only start later than requested.")
        final["valid_from"] = approval["valid_from"]
    if "valid_until" in approval:
        if not _earlier_or_equal(approval["valid_until"], proposed["valid_until"]):
            widen("valid_until", "May only end sooner than requested.")
        final["valid_until"] = approval["valid_until"]
    start, end = final.get("valid_from"), final.get("valid_until")
    if start is not None and end is not None and end <= start:
        # Narrowed into a consent that starts after it ends: it could never be used.
        errors.setdefault("valid_from", []).append("Must be before valid_until.")
    if "max_uses" in approval:
        if not _earlier_or_equal(approval["max_uses"], proposed["max_uses"]):
            widen("max_uses", "May only allow fewer uses than requested.")
        final["max_uses"] = approval["max_uses"]
    if approval.get("exclusions"):
        final["exclusions"] = [*proposed["exclusions"], *approval["exclusions"]]
    return final, errors
