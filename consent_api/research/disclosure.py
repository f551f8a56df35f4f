"""How a count about patients is shown to a data user: never when it is below THRESHOLD,
only as "fewer than THRESHOLD" (cohort counts after their noise, a study's invitation counts
as they are), so that no answer singles out a handful of people."""

from __future__ import annotations

from dataclasses import dataclass

THRESHOLD = 11


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
