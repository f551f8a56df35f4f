"""FHIR date search values (`_lastUpdated=ge2026-01-15`): pure parsing, no database.

A FHIR date value stands for a range as wide as its precision: `2026-01` is all of
January, `2026-01-20T10:00:00Z` one second. Against an instant `t` (a consent's last
change), with the value's range [lo, hi):

    eq: lo <= t < hi    ge: t >= lo    gt: t >= hi    le: t < hi    lt: t < lo

(FHIR's `gt` asks that the range above the value overlaps `t`, so a value's whole range is
passed first.) Dates without a time, and times without an offset, are read in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

PREFIXES = ("eq", "gt", "ge", "lt", "le")
_NUMBERS = ("year", "month", "day", "hour", "minute", "second")
_VALUE = re.compile(
    r"(?P<prefix>[a-z]{2})?"
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d+))?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?"
)


@dataclass(frozen=True)
class DateSearch:
    """One date search value: its prefix and the range [lo, hi) its precision spans."""

    prefix: str
    lo: datetime
    hi: datetime
    text: str  # as the client wrote it, for the Bundle's links


def parse(text: str) -> DateSearch:
    """Read a FHIR date search value, or raise ValueError saying what is wrong."""
    found = _VALUE.fullmatch(text)
    if found is None:
        raise ValueError("Not a FHIR date: [prefix]YYYY[-MM[-DD[Thh:mm[:ss[.s]][Z|±hh:mm]]]].")
    prefix = found["prefix"] or "eq"
    if prefix not in PREFIXES:
        raise ValueError(f"The prefix {prefix} is not supported; use {', '.join(PREFIXES)}.")
    parts = {k: int(v) for k, v in found.groupdict().items() if k in _NUMBERS and v}
    try:
        lo, hi = _range(found, parts)
    except (ValueError, OverflowError) as exc:
        raise ValueError("Not a date of the calendar.") from exc
    return DateSearch(prefix, lo, hi, text)


def _range(found: re.Match[str], parts: dict[str, int]) -> tuple[datetime, datetime]:
    year, month, day = parts["year"], parts.get("month", 1), parts.get("day", 1)
    if found["month"] is None:
        return _utc(year, 1, 1), _utc(year + 1, 1, 1)
    if found["day"] is None:
        following = _utc(year + month // 12, month % 12 + 1, 1)
        return _utc(year, month, 1), following
    if found["hour"] is None:
        start = _utc(year, month, day)
        return start, start + timedelta(days=1)
    zone = _zone(found["zone"])
    microsecond = int((found["fraction"] or "0")[:6].ljust(6, "0"))
    start = datetime(
        year, month, day, parts["hour"], parts["minute"], parts.get("second", 0), microsecond, zone
    ).astimezone(UTC)
    if found["second"] is None:
        width = timedelta(minutes=1)
    elif found["fraction"] is None:
        width = timedelta(seconds=1)
    else:
        width = timedelta(microseconds=1)  # as fine as our clock
    return start, start + width


def _utc(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def _zone(text: str | None) -> timezone:
    if text in (None, "Z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))
