"""The detector: the worker's scan over the stream of data uses and refused attempts.

A scan (job `detect-abuse`, every ABUSE_SCAN_SECONDS) first brings two summaries up to date,
then asks each enabled rule about the windows ending now:
- the hourly counts of each organisation, for every complete hour (rolled once an hour has
  been over for SETTLE, so uses still committing are in it), from which the `volume` and
  `emergency` rules read their trailing baselines without counting weeks of uses;
- when each organisation first touched each patient, from the uses recorded since the last
  scan (read again SETTLE back, so a use that committed late is not missed; recording a
  touch is idempotent), which the `breadth` rule counts.

The rules read only the window's own uses, through the index on (org_id, created_at); a
scan costs what the windows hold, not what the table does. Scans run one at a time across
workers (an advisory lock). Nothing here runs on the data-use path itself: each rule asked
inline would add a round trip to a report of about twelve.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, select

from consent_api.abuse import incidents, rules, settings
from consent_api.abuse.findings import Detection
from consent_api.abuse.models import FirstTouch, HourlyUses, ScanState
from consent_api.abuse.rules import Settings
from consent_api.links.models import PatientLink
from consent_api.orgs.models import Organisation
from consent_api.uses.models import DataUse
from server.db import core, db, insert_or_skip, only_runner

LOCK_KEY = 0x6162757365  # any constant of our own: "abuse" in ASCII
SETTLE = timedelta(seconds=60)  # how late a use may commit after it was recorded
HOUR = timedelta(hours=1)
ROLL_HOURS_PER_SCAN = 240  # a first scan on a long history rolls it over several scans
EXAMPLES = 5

_uses = DataUse.__table__
_permitted = func.sum(case((_uses.c.outcome == "permitted", 1), else_=0))
_refused = func.sum(case((_uses.c.outcome == "refused", 1), else_=0))
_emergency = func.sum(case((_uses.c.emergency.is_(True), 1), else_=0))
_first_permitted = func.min(case((_uses.c.outcome == "permitted", _uses.c.created_at)))
_first_refused = func.min(case((_uses.c.outcome == "refused", _uses.c.created_at)))
_first_emergency = func.min(case((_uses.c.emergency.is_(True), _uses.c.created_at)))


def floor_hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def scan(*, now: datetime) -> dict[str, int]:
    """Bring the summaries up to date, ask every enabled rule, raise what fires. Returns
    counts: hours rolled, incidents opened and extended."""
    if not only_runner(LOCK_KEY):
        return {}
    state = db.session.get(ScanState, 1, with_for_update=True)
    if state is None:
        state = ScanState(id=1)
        db.session.add(state)
    in_force = settings.all_settings()
    rolled = _roll_hours(state, now=now, keep_hours=_longest_baseline(in_force))
    _record_touches(state, now=now)
    orgs = list(
        db.session.scalars(
            select(Organisation.id).where(
                Organisation.status == "active", Organisation.type != "operator"
            )
        )
    )
    counts = {"hours_rolled": rolled, "opened": 0, "extended": 0}
    if not orgs:
        return counts
    for rule, rule_settings in in_force.items():
        if not rule_settings.enabled:
            continue
        for detection in ASK[rule](rule_settings, orgs, now=now):
            outcome = incidents.raise_incident(detection, rule_settings, now=now)
            if outcome:
                counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _longest_baseline(in_force: dict[str, Settings]) -> int:
    return max(s.thresholds.get("baseline_hours", 0) for s in in_force.values())


# --- the summaries ---------------------------------------------------------------------------


def _roll_hours(state: ScanState, *, now: datetime, keep_hours: int) -> int:
    """Count each organisation's uses in every complete, settled hour the longest baseline
    reaches and no scan has counted: hours completed since the last scan (oldest first),
    then history the baselines now reach further back (newest first: a first scan, or a
    longer `baseline_hours`), up to ROLL_HOURS_PER_SCAN in all."""
    until = floor_hour(now - SETTLE)
    oldest = until - keep_hours * HOUR
    if state.rolled_until is None or state.rolled_until < oldest:
        state.rolled_from = state.rolled_until = until  # nothing counted is still needed
    rolled = 0
    while state.rolled_until < until and rolled < ROLL_HOURS_PER_SCAN:
        _roll(state.rolled_until)
        state.rolled_until += HOUR
        rolled += 1
    while state.rolled_from > oldest and rolled < ROLL_HOURS_PER_SCAN:
        state.rolled_from -= HOUR
        _roll(state.rolled_from)
        rolled += 1
    return rolled


def _roll(hour: datetime) -> None:
    rows = core().execute(
        select(_uses.c.org_id, _permitted, _refused, _emergency)
        .where(_uses.c.created_at >= hour, _uses.c.created_at < hour + HOUR)
        .group_by(_uses.c.org_id)
    )
    values = [
        {"org_id": org_id, "hour": hour, "uses": n or 0, "refused": r or 0, "emergency": e or 0}
        for org_id, n, r, e in rows
    ]
    if values:
        core().execute(insert_or_skip(HourlyUses.__table__, "org_id", "hour"), values)


def _record_touches(state: ScanState, *, now: datetime) -> None:
    """Record the first touch of every (patient, organisation) pair in the uses recorded
    since the last scan (all of them, the first time)."""
    recorded = select(_uses.c.patient_id, _uses.c.org_id, func.min(_uses.c.created_at)).where(
        _uses.c.created_at <= now
    )
    if state.touched_until is not None:
        recorded = recorded.where(_uses.c.created_at > state.touched_until - SETTLE)
    recorded = recorded.group_by(_uses.c.patient_id, _uses.c.org_id)
    core().execute(
        insert_or_skip(FirstTouch.__table__, "patient_id", "org_id").from_select(
            ["patient_id", "org_id", "first_at"], recorded
        )
    )
    state.touched_until = now


# --- the rules -------------------------------------------------------------------------------


def _window(s: Settings, now: datetime) -> datetime:
    return now - timedelta(minutes=s.thresholds["window_minutes"])


def _in_window(orgs: list[uuid.UUID], since: datetime, now: datetime) -> Any:
    return and_(_uses.c.org_id.in_(orgs), _uses.c.created_at > since, _uses.c.created_at <= now)


def _uses_of(
    org_id: uuid.UUID, since: datetime, now: datetime, *where: Any
) -> tuple[Select, Select]:
    """The patients and the first example uses of an organisation's window (narrowed)."""
    base = and_(
        _uses.c.org_id == org_id, _uses.c.created_at > since, _uses.c.created_at <= now, *where
    )
    patients = select(_uses.c.patient_id).where(base).distinct()
    examples = select(_uses.c.id).where(base).order_by(_uses.c.created_at).limit(EXAMPLES)
    return patients, examples


def ask_burst(s: Settings, orgs: list[uuid.UUID], *, now: datetime) -> Iterable[Detection]:
    since, most = _window(s, now), s.thresholds["max_events"]
    rows = core().execute(
        select(_uses.c.org_id, _uses.c.patient_id, func.count(), func.min(_uses.c.created_at))
        .where(_in_window(orgs, since, now))
        .group_by(_uses.c.org_id, _uses.c.patient_id)
        .having(func.count() > most)  # the rule: more than `max_events`
    )
    for org_id, patient_id, n, first in rows:
        patients, examples = _uses_of(org_id, since, now, _uses.c.patient_id == patient_id)
        yield Detection(
            "burst",
            org_id,
            since,
            now,
            first,
            {"events": n, "max_events": most},
            subject=str(patient_id),
            concerned=patients,
            examples=examples,
        )


def _window_counts(s: Settings, orgs: list[uuid.UUID], now: datetime) -> list[Any]:
    return list(
        core().execute(
            select(
                _uses.c.org_id,
                func.count().label("total"),
                _permitted.label("permitted"),
                _refused.label("refused"),
                _emergency.label("emergency"),
                _first_permitted.label("first_permitted"),
                _first_refused.label("first_refused"),
                _first_emergency.label("first_emergency"),
            )
            .where(_in_window(orgs, _window(s, now), now))
            .group_by(_uses.c.org_id)
        )
    )


def _baselines(s: Settings, now: datetime, column: str) -> dict[uuid.UUID, float]:
    """Each organisation's trailing mean, scaled to the rule's window: over the hours the
    scan has counted (the last hour counts once it has settled, not as zero before)."""
    hours = s.thresholds["baseline_hours"]
    end = floor_hour(now - SETTLE)
    table = HourlyUses.__table__
    rows = core().execute(
        select(table.c.org_id, func.sum(table.c[column]))
        .where(table.c.hour >= end - hours * HOUR, table.c.hour < end)
        .group_by(table.c.org_id)
    )
    minutes = s.thresholds["window_minutes"]
    return {
        org_id: rules.baseline_for_window(total or 0, baseline_hours=hours, window_minutes=minutes)
        for org_id, total in rows
    }


def _above_baseline(
    rule: str, s: Settings, orgs: list[uuid.UUID], now: datetime
) -> Iterable[Detection]:
    column = "uses" if rule == "volume" else "emergency"
    baselines = _baselines(s, now, column)
    since = _window(s, now)
    t = s.thresholds
    for row in _window_counts(s, orgs, now):
        org_id, volume = row.org_id, rule == "volume"
        count = (row.permitted if volume else row.emergency) or 0
        first = row.first_permitted if volume else row.first_emergency
        baseline = baselines.get(org_id, 0.0)
        if rules.above_baseline(count, baseline, factor=t["factor"], floor=t["floor"]):
            narrowed = (
                (_uses.c.outcome == "permitted",) if volume else (_uses.c.emergency.is_(True),)
            )
            patients, examples = _uses_of(org_id, since, now, *narrowed)
            yield Detection(
                rule,
                org_id,
                since,
                now,
                first,
                {
                    "uses" if rule == "volume" else "emergency_uses": count,
                    "baseline": round(baseline, 2),
                    "factor": t["factor"],
                    "floor": t["floor"],
                },
                concerned=patients,
                examples=examples,
            )


def ask_volume(s: Settings, orgs: list[uuid.UUID], *, now: datetime) -> Iterable[Detection]:
    return _above_baseline("volume", s, orgs, now)


def ask_emergency(s: Settings, orgs: list[uuid.UUID], *, now: datetime) -> Iterable[Detection]:
    return _above_baseline("emergency", s, orgs, now)


def ask_refusals(s: Settings, orgs: list[uuid.UUID], *, now: datetime) -> Iterable[Detection]:
    since, t = _window(s, now), s.thresholds
    for row in _window_counts(s, orgs, now):
        org_id, total, first, refused = row.org_id, row.total, row.first_refused, row.refused or 0
        if rules.too_many_refusals(
            refused, total, min_refused=t["min_refused"], min_share_percent=t["min_share_percent"]
        ):
            patients, examples = _uses_of(org_id, since, now, _uses.c.outcome == "refused")
            yield Detection(
                "refusals",
                org_id,
                since,
                now,
                first,
                {
                    "refused": refused,
                    "attempts": total,
                    "share_percent": refused * 100 // max(total, 1),
                    "min_refused": t["min_refused"],
                    "min_share_percent": t["min_share_percent"],
                },
                concerned=patients,
                examples=examples,
            )


_touches = FirstTouch.__table__
_links = PatientLink.__table__


def _new_patients(org_id: Any, since: datetime, now: datetime) -> Any:
    """First touched by the organisation within the window, and not linked by it."""
    linked = exists().where(
        _links.c.patient_id == _touches.c.patient_id,
        _links.c.org_id == _touches.c.org_id,
        _links.c.removed_at.is_(None),
    )
    return and_(org_id, _touches.c.first_at > since, _touches.c.first_at <= now, ~linked)


def ask_breadth(s: Settings, orgs: list[uuid.UUID], *, now: datetime) -> Iterable[Detection]:
    since, limit = _window(s, now), s.thresholds["new_patients"]
    rows = core().execute(
        select(_touches.c.org_id, func.count(), func.min(_touches.c.first_at))
        .where(_new_patients(_touches.c.org_id.in_(orgs), since, now))
        .group_by(_touches.c.org_id)
        .having(func.count() > limit)  # the rule: more than `new_patients`
    )
    for org_id, n, first in rows:
        new = _new_patients(_touches.c.org_id == org_id, since, now)
        patients = select(_touches.c.patient_id).where(new)
        examples = (
            select(_uses.c.id)
            .where(
                _uses.c.org_id == org_id,
                _uses.c.created_at > since,
                _uses.c.patient_id.in_(select(_touches.c.patient_id).where(new)),
            )
            .order_by(_uses.c.created_at)
            .limit(EXAMPLES)
        )
        yield Detection(
            "breadth",
            org_id,
            since,
            now,
            first,
            {"new_patients": n, "limit": limit},
            concerned=patients,
            examples=examples,
        )


ASK = {
    "burst": ask_burst,
    "volume": ask_volume,
    "refusals": ask_refusals,
    "emergency": ask_emergency,
    "breadth": ask_breadth,
}
