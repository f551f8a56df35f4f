"""Request bodies for the cohort-count scenario, and the demo pharma's privacy budget for it.

Each body is a scope a pharmaceutical company's analyst would size a study by: one to three
data categories (lab results, medications and diagnoses most often, genomics or wearables
sometimes), clinical trials or health research (now and then both, or public health), `use`
(sometimes `access` too), a quarter of them for records of a data period, and an `epsilon`
(half leave it out for the default 0.1). Scopes are drawn with a seeded RNG and kept by the
size of the cohort they reach, so the answers are neither all suppressed nor all huge: the
number of distinct patients with an active consent naming the demo pharma (by id or every
pharma) that covers the scope is estimated from the dataset (exclusions ignored), and each
size bucket takes its share of the bodies (BUCKETS). The invitable count (opted-in research
preferences accepting the scope from pharma) is computed exactly, as count_opted_in would.

The route spends each query's epsilon of the organisation's budget, and a run sends a few
thousand: `open_budget` writes the demo pharma's budget straight into the bench database
(1,000,000 epsilon, nothing spent, renewing every ten years) before the probe. The admin API
(PUT /v1/admin/orgs/{id}/privacy-budget) allows at most 100 epsilon and never gives back
what was spent, and no other scenario obtains an operator token, so the bench does not use
it. After the run `budget_after` reads what was spent.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg

from bench.checkdata import _write_lines
from bench.generate import demo_org
from consent_api.catalog import ALL, SENSITIVE
from consent_api.research import codes

COHORTS = 1_000
SEED = 14
MAX_TRIES = 50_000
MICRO = 1_000_000  # millionths of epsilon, as privacy_budgets stores them
BENCH_BUDGET_EPSILON = 1_000_000
BENCH_BUDGET_DAYS = 3650
SUPPRESSED_BELOW = 11  # the route releases no count below this
# (bucket, smallest estimated count, share of the bodies)
BUCKETS = (
    ("under 11", 0, 0.10),
    ("11-999", SUPPRESSED_BELOW, 0.30),
    ("1,000-9,999", 1_000, 0.35),
    ("10,000+", 10_000, 0.25),
)
CATEGORY_WEIGHTS = (
    ("lab_results", 10),
    ("medications", 9),
    ("diagnoses", 9),
    ("procedures", 5),
    ("genomics", 4),
    ("wearables", 4),
    ("demographics", 3),
    ("vital_signs", 2),
    ("imaging", 2),
    ("encounters", 1),
)
PURPOSE_CHOICES = (
    (("CLINTRL",), 0.48),
    (("HRESCH",), 0.37),
    (("CLINTRL", "HRESCH"), 0.10),
    (("PUBHLTH",), 0.05),
)
ACTION_CHOICES = ((("use",), 0.70), (("access",), 0.12), (("use", "access"), 0.18))
EPSILONS = ((None, 0.50), (0.05, 0.20), (0.2, 0.15), (0.5, 0.10), (0.01, 0.05))
PERIOD_SHARE = 0.25

_CATEGORIES, _CATEGORY_WEIGHTS = zip(*CATEGORY_WEIGHTS, strict=True)


@dataclass(frozen=True)
class CohortFiles:
    """One cohort-count body per line, for the demo pharma, and what the sample holds."""

    bodies: Path
    org_id: str
    summary: dict = field(default_factory=dict)


@dataclass
class Group:
    """Consents of one scope that reach the demo pharma: their patients as bits (of an index
    of the patients), those without a data period apart from those with one."""

    categories: frozenset[str]
    purposes: frozenset[str]
    actions: frozenset[str]
    undated: int = 0  # a bit per patient with such a consent for records of any date
    dated: list[tuple[date | None, date | None, int]] = field(default_factory=list)

    def covers(self, scope: dict) -> bool:
        """Tell whether these consents permit the scope's codes (their exclusions aside)."""
        for category in scope["data_categories"]:
            if category not in self.categories and (
                category in SENSITIVE or ALL not in self.categories
            ):
                return False
        return self.purposes.issuperset(scope["purposes"]) and self.actions.issuperset(
            scope["actions"]
        )


def _groups(connection: psycopg.Connection, org_id, org_type: str) -> list[Group]:
    """The consents a count for the demo pharma could count now, grouped by scope."""
    rows = connection.execute(
        "SELECT data_categories::text, purposes::text, actions::text, data_period_start, "
        "data_period_end, patient_id FROM consents "
        "WHERE (grantee_org_id = %s OR grantee_org_type = %s) AND status = 'active' "
        "AND valid_from <= now() AND (valid_until IS NULL OR valid_until > now()) "
        "AND (max_uses IS NULL OR use_count < max_uses)",
        (org_id, org_type),
    ).fetchall()
    patients: dict = {}
    groups: dict[tuple[str, str, str], Group] = {}
    for categories, purposes, actions, start, end, patient in rows:
        group = groups.get((categories, purposes, actions))
        if group is None:
            group = groups[categories, purposes, actions] = Group(
                frozenset(json.loads(categories)),
                frozenset(json.loads(purposes)),
                frozenset(json.loads(actions)),
            )
        bit = patients.setdefault(patient, len(patients))
        if start is None and end is None:
            group.undated |= 1 << bit
        else:
            group.dated.append((start, end, bit))
    return list(groups.values())


def _preferences(connection: psycopg.Connection, org_type: str) -> Counter:
    """How many opted-in patients accepting `org_type` hold each pair of purpose and
    category masks."""
    rows = connection.execute(
        "SELECT purposes_mask, categories_mask, count(*) FROM research_preferences "
        "WHERE opted_in AND org_types_mask & %s <> 0 GROUP BY 1, 2",
        (codes.mask([org_type], codes.ORG_TYPES),),
    ).fetchall()
    return Counter({(p, c): n for p, c, n in rows})


def consenting(groups: list[Group], scope: dict) -> int:
    """Estimate the consenting count: distinct patients with a consent covering the scope
    (its codes, and the data period asked: a consent for records of some period covers
    only a request within it, and none without a period)."""
    period = scope.get("data_period")
    start = end = None
    if period:
        start = date.fromisoformat(period["start"])
        end = date.fromisoformat(period["end"]) if period.get("end") else None
    bits = 0
    for group in groups:
        if not group.covers(scope):
            continue
        bits |= group.undated
        if start is None:
            continue
        for since, until, bit in group.dated:
            if (since is None or since <= start) and (
                until is None or (end is not None and until >= end)
            ):
                bits |= 1 << bit
    return bits.bit_count()


def invitable(preferences: Counter, scope: dict) -> int:
    """The exact invitable count: opted-in patients (of the organisation type the
    preferences were read for) accepting the scope's purposes and categories."""
    purposes = codes.mask(scope["purposes"], codes.PURPOSES)
    categories = codes.mask(scope["data_categories"], codes.DATA_CATEGORIES)
    return sum(
        n
        for (p, c), n in preferences.items()
        if p & purposes == purposes and c & categories == categories
    )


def _weighted(rng: random.Random, choices):
    values, weights = zip(*choices, strict=True)
    return rng.choices(values, weights=weights)[0]


def draw(rng: random.Random) -> dict:
    """Draw one scope an analyst might size, as a request body."""
    categories: list[str] = []
    wanted = rng.choice((1, 1, 2, 2, 2, 3))
    while len(categories) < wanted:
        category = rng.choices(_CATEGORIES, weights=_CATEGORY_WEIGHTS)[0]
        if category not in categories:
            categories.append(category)
    body: dict = {
        "data_categories": categories,
        "purposes": list(_weighted(rng, PURPOSE_CHOICES)),
        "actions": list(_weighted(rng, ACTION_CHOICES)),
    }
    if rng.random() < PERIOD_SHARE:
        start = rng.randint(2010, 2021)
        period = {"start": f"{start}-01-01"}
        if rng.random() < 0.7:
            period["end"] = f"{min(start + rng.randint(0, 4), 2025)}-12-31"
        body["data_period"] = period
    epsilon = _weighted(rng, EPSILONS)
    if epsilon is not None:
        body["epsilon"] = epsilon
    return body


def _bucket(count: int) -> str:
    return next(name for name, least, _ in reversed(BUCKETS) if count >= least)


def sample(url: str, count: int = COHORTS) -> tuple[list[dict], dict]:
    """Return `count` bodies, each bucket of estimated size taking its share, and a summary."""
    with psycopg.connect(url, autocommit=True) as connection:
        org_id, _, org_type = demo_org(connection, "pharma")
        groups = _groups(connection, org_id, org_type)
        preferences = _preferences(connection, org_type)
    rng = random.Random(SEED)
    quota = {name: round(share * count) for name, _, share in BUCKETS}
    kept: dict[str, list[tuple[dict, int]]] = {name: [] for name, _, _ in BUCKETS}
    overflow: list[tuple[dict, int]] = []
    tries = 0
    while sum(map(len, kept.values())) < count and tries < MAX_TRIES:
        tries += 1
        body = draw(rng)
        estimate = consenting(groups, body)
        bucket = _bucket(estimate)
        if len(kept[bucket]) < quota[bucket]:
            kept[bucket].append((body, estimate))
        elif len(overflow) < count:
            overflow.append((body, estimate))
    drawn = [one for bucket in kept.values() for one in bucket]
    drawn += overflow[: count - len(drawn)]  # a bucket the dataset cannot fill
    rng.shuffle(drawn)
    sizes: dict[str, int] = {}  # scopes recur: count each once
    chosen = []
    for body, estimate in drawn:
        key = json.dumps([body["purposes"], body["data_categories"]])
        if key not in sizes:
            sizes[key] = invitable(preferences, body)
        chosen.append((body, estimate, sizes[key]))
    estimates = sorted(e for _, e, _ in chosen)
    invitables = sorted(i for _, _, i in chosen)
    summary = {
        "bodies": len(chosen),
        "org_id": str(org_id),
        "tries": tries,
        "consenting_estimate_by_bucket": dict(Counter(_bucket(e) for e in estimates)),
        "consenting_estimate_median": estimates[len(estimates) // 2] if estimates else None,
        "consenting_estimate_max": estimates[-1] if estimates else None,
        "invitable_by_bucket": dict(Counter(_bucket(i) for i in invitables)),
        "invitable_median": invitables[len(invitables) // 2] if invitables else None,
        "with_data_period": sum("data_period" in b for b, _, _ in chosen),
        "default_epsilon": sum("epsilon" not in b for b, _, _ in chosen),
        "scope_groups": len(groups),
        "buckets_asked": {name: round(share * count) for name, _, share in BUCKETS},
    }
    return [body for body, _, _ in chosen], summary


def write(url: str, directory: Path) -> CohortFiles:
    """Write the cohort-count bodies (var/bench/cohorts.jsonl); return where and what."""
    bodies, summary = sample(url)
    if not bodies:
        raise ValueError("no cohort-count bodies could be drawn from the dataset")
    path = directory / "cohorts.jsonl"
    _write_lines(path, [json.dumps(body, separators=(",", ":")) for body in bodies])
    return CohortFiles(path, summary["org_id"], summary)


def open_budget(url: str, org_id: str) -> None:
    """Give the demo pharma a budget no run can spend (written directly, nothing spent)."""
    now = datetime.now(UTC)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO privacy_budgets (org_id, total_micro, spent_micro, renews_every_days, "
            "period_started_at, updated_at) VALUES (%(org)s, %(total)s, 0, %(days)s, %(now)s, "
            "%(now)s) ON CONFLICT (org_id) DO UPDATE SET total_micro = EXCLUDED.total_micro, "
            "spent_micro = 0, renews_every_days = EXCLUDED.renews_every_days, "
            "period_started_at = EXCLUDED.period_started_at, updated_at = EXCLUDED.updated_at",
            {
                "org": org_id,
                "total": BENCH_BUDGET_EPSILON * MICRO,
                "days": BENCH_BUDGET_DAYS,
                "now": now,
            },
        )


def budget_after(url: str, org_id: str) -> dict:
    """What the demo pharma spent of its bench budget (probe, warm-up and measured run)."""
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute(
            "SELECT total_micro, spent_micro FROM privacy_budgets WHERE org_id = %s", (org_id,)
        ).fetchone()
    if row is None:
        return {"budget_row": None}
    total, spent = row
    return {
        "total_epsilon": total / MICRO,
        "spent_epsilon": round(spent / MICRO, 6),
        "remaining_epsilon": round((total - spent) / MICRO, 6),
    }
