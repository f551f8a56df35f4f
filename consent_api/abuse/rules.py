"""The rules, their documented defaults and their pure decisions (no database here).

Every threshold is a whole number (a share is in percent), so settings and evidence are
exact in JSON and in the audit log. Windows end at the scan's `now` and count uses and
refused attempts by the time they were recorded (`created_at`), never by the time an
organisation claims they happened.

- burst: one organisation, one patient, more than `max_events` uses or attempts within
  `window_minutes`.
- volume: an organisation's permitted uses within `window_minutes` above `factor` times its trailing
  baseline for as long (its mean over the `baseline_hours` complete hours before this one,
  an hour with none counting as zero) and above `floor`.
- refusals: an organisation's refused attempts within `window_minutes`: at least
  `min_refused`, and at least `min_share_percent` of its uses and attempts.
- emergency: an organisation's emergency-access uses within `window_minutes` above `factor`
  times its trailing baseline for as long and above `floor`.
- breadth: more than `new_patients` patients the organisation had never touched before (no
  earlier use or attempt, no link) first touched within `window_minutes` (scraping).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from consent_api.abuse.models import RULES


@dataclass(frozen=True)
class Settings:
    """How one rule runs: whether, how severe its incidents are, whether an incident
    suspends the organisation at once, and its thresholds."""

    rule: str
    enabled: bool
    severity: str
    auto_suspend: bool
    thresholds: dict[str, int]

    def merged(self, changes: dict[str, Any]) -> Settings:
        """These settings with the changes given (thresholds merged key by key)."""
        thresholds = {**self.thresholds, **changes.get("thresholds", {})}
        given = {
            key: changes[key] for key in ("enabled", "severity", "auto_suspend") if key in changes
        }
        return replace(self, thresholds=thresholds, **given)


# Each threshold with its default and the range an operator may set it within.
LIMITS: dict[str, dict[str, tuple[int, int, int]]] = {
    "burst": {"window_minutes": (10, 1, 1440), "max_events": (30, 1, 1_000_000)},
    "volume": {
        "window_minutes": (60, 5, 1440),
        "baseline_hours": (168, 24, 2160),
        "factor": (5, 2, 1000),
        "floor": (2000, 1, 100_000_000),
    },
    "refusals": {
        "window_minutes": (60, 1, 1440),
        "min_refused": (50, 1, 1_000_000),
        "min_share_percent": (50, 1, 100),
    },
    "emergency": {
        "window_minutes": (60, 5, 1440),
        "baseline_hours": (168, 24, 2160),
        "factor": (3, 2, 1000),
        "floor": (20, 1, 1_000_000),
    },
    "breadth": {"window_minutes": (15, 1, 1440), "new_patients": (200, 1, 1_000_000)},
}
assert tuple(LIMITS) == RULES

# Scraping is the one pattern no care explains: it suspends by default; the rest wait for
# the operator.
DEFAULTS: dict[str, Settings] = {
    rule: Settings(
        rule=rule,
        enabled=True,
        severity={"burst": "medium", "volume": "medium", "refusals": "medium"}.get(rule, "high"),
        auto_suspend=rule == "breadth",
        thresholds={name: limits[0] for name, limits in LIMITS[rule].items()},
    )
    for rule in RULES
}


def baseline_for_window(hourly_total: int, *, baseline_hours: int, window_minutes: int) -> float:
    """The trailing mean scaled to the window: what the organisation usually does in as long."""
    return hourly_total / baseline_hours * window_minutes / 60


def above_baseline(count: int, baseline: float, *, factor: int, floor: int) -> bool:
    """`volume` and `emergency`: above `factor` times the baseline, and above the floor."""
    return count > floor and count > factor * baseline


def too_many_refusals(
    refused: int, total: int, *, min_refused: int, min_share_percent: int
) -> bool:
    """`refusals`: as a count and as a share of everything the organisation attempted."""
    return refused >= min_refused and refused * 100 >= min_share_percent * max(total, 1)
