"""Request bodies for the consent-check scenarios, sampled from the loaded dataset.

Most checks ask about a consent that names the demo hospital (by id, or every hospital), for
a category, purpose and action it mostly covers, so a healthy share is permitted; the rest
ask about random patients and codes (mostly `no_consent`). The sample is deterministic: rows
are ordered by a hash of their id, and one seeded RNG picks the codes.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import psycopg

from bench.generate import demo_org, hospital_refs
from consent_api.catalog import ACTIONS, ALL, CATEGORIES, PURPOSES, SENSITIVE

SINGLE_CHECKS = 10_000
BATCHES = 16
TARGETED_SHARE = 0.8  # the rest: random patients, random codes
IN_SCOPE = 0.85  # chance a targeted check keeps to its consent's purpose and action
SENSITIVE_UNDER_ALL = 0.1  # chance a check under `all` asks for a sensitive category
DATED = 0.5  # share of checks that send a data_date
SEED = 7
FIRST_DAY = date(2008, 1, 1)
DAYS = (date(2025, 12, 31) - FIRST_DAY).days  # data dates span a fixed range: reproducible

_NON_SENSITIVE = tuple(c for c in CATEGORIES if c not in SENSITIVE)


@dataclass(frozen=True)
class CheckFiles:
    """One JSON body per line: single checks, and batches of `batch_size` checks."""

    single: Path
    batches: Path
    batch_size: int


def _targeted(connection: psycopg.Connection, count: int) -> list[tuple]:
    """Return (patient_id, categories, purposes, actions) of consents naming the demo hospital."""
    org_id, _, org_type = demo_org(connection, "hospital")
    return connection.execute(
        "SELECT patient_id::text, data_categories, purposes, actions FROM consents "
        "WHERE grantee_org_id = %s OR grantee_org_type = %s ORDER BY md5(id::text) LIMIT %s",
        (org_id, org_type, count),
    ).fetchall()


def _random_patients(connection: psycopg.Connection, count: int) -> list[str]:
    rows = connection.execute(
        "SELECT id::text FROM patients ORDER BY md5(id::text || 'checks') LIMIT %s", (count,)
    ).fetchall()
    return [row[0] for row in rows]


def _maybe_date(rng: random.Random, check: dict[str, str]) -> dict[str, str]:
    if rng.random() < DATED:
        check["data_date"] = (FIRST_DAY + timedelta(days=rng.randrange(DAYS))).isoformat()
    return check


def _category(rng: random.Random, granted: list[str]) -> str:
    if ALL in granted:
        pool = sorted(SENSITIVE) if rng.random() < SENSITIVE_UNDER_ALL else _NON_SENSITIVE
        return rng.choice(pool)
    return rng.choice(granted)


def _code(rng: random.Random, granted: list[str], every: dict[str, str]) -> str:
    return rng.choice(granted) if rng.random() < IN_SCOPE else rng.choice(list(every))


def targeted_check(rng: random.Random, row: tuple) -> dict[str, str]:
    """Return a check about one consent's patient, mostly within that consent's scope."""
    patient_ref, categories, purposes, actions = row
    check = {
        "patient_ref": patient_ref,
        "data_category": _category(rng, categories),
        "purpose": _code(rng, purposes, PURPOSES),
        "action": _code(rng, actions, ACTIONS),
    }
    return _maybe_date(rng, check)


def random_check(rng: random.Random, patient_ref: str) -> dict[str, str]:
    """Return a check about a random patient with random codes."""
    check = {
        "patient_ref": patient_ref,
        "data_category": rng.choice(list(CATEGORIES)),
        "purpose": rng.choice(list(PURPOSES)),
        "action": rng.choice(list(ACTIONS)),
    }
    return _maybe_date(rng, check)


def sample(url: str, count: int = SINGLE_CHECKS) -> list[dict[str, str]]:
    """Return `count` checks in a shuffled, reproducible order."""
    rng = random.Random(SEED)
    targeted = round(count * TARGETED_SHARE)
    with psycopg.connect(url, autocommit=True) as connection:
        rows = _targeted(connection, targeted)
        patients = _random_patients(connection, count - len(rows))
        # The hospital names each patient by the reference it knows them by.
        named = hospital_refs(connection, [row[0] for row in rows] + patients)
    rows = [(ref, *row[1:]) for ref, row in zip(named, rows, strict=False)]
    checks = [targeted_check(rng, row) for row in rows]
    checks += [random_check(rng, patient_ref) for patient_ref in named[len(rows) :]]
    rng.shuffle(checks)
    return checks


def _write_lines(path: Path, bodies: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("".join(body + "\n" for body in bodies))
    temporary.replace(path)


def write(url: str, directory: Path, batch_size: int) -> CheckFiles:
    """Write the single-check bodies and the batch bodies; return where they are."""
    checks = sample(url)
    if not checks:
        raise ValueError("the dataset has no patients to check")
    rng = random.Random(SEED + 1)
    compact = {"separators": (",", ":")}
    files = CheckFiles(directory / "checks.jsonl", directory / "batches.jsonl", batch_size)
    _write_lines(files.single, [json.dumps(check, **compact) for check in checks])
    batches = [
        json.dumps({"checks": rng.choices(checks, k=batch_size)}, **compact) for _ in range(BATCHES)
    ]
    _write_lines(files.batches, batches)
    return files
