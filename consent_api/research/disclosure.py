"""How a count about patients is shown to a data user: never when it is below THRESHOLD,
only as "fewer than THRESHOLD", so that no answer singles out a handful of people.

Cohort counts are noised first (differential privacy), so they are released as they come
out. Exact counts (a study's invitations) are also rounded to the nearest ROUNDING, the
statistical offices' rule for small numbers: two counts shown side by side (invited, and
seen) could otherwise be subtracted into a small exact number (exactly one never opened
theirs), which suppression alone does not prevent."""

from __future__ import annotations

from dataclasses import dataclass

THRESHOLD = 11
ROUNDING = 5


@dataclass(frozen=True)
class Released:
    """A count as released: the count, or None and `below` when it is under the threshold."""

    count: int | None
    below: int | None


def release(value: int) -> Released:
    """The value as a data user may see it."""
    if value < THRESHOLD:
        return Released(None, THRESHOLD)
    return Released(value, None)


def release_exact(value: int) -> Released:
    """An exact count as a data user may see it: suppressed below the threshold, otherwise
    rounded to the nearest ROUNDING (so 11 and 12 show as 10, 13 as 15)."""
    if value < THRESHOLD:
        return Released(None, THRESHOLD)
    return Released((value + ROUNDING // 2) // ROUNDING * ROUNDING, None)
