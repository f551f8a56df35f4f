"""Research preferences of the bench dataset: who may be invited to studies, for what.

Dynamic-consent platforms report that 12-16% of their members opt in to be contacted about
research. Here 35% of the patients have a `research_preferences` row (they answered the app's
prompt at least once) and 40% of those are opted in: 14% of all patients. Of the rows opted
out, half opted in once and then out again (the app keeps their choices), half declined at
the first prompt (nothing chosen). Opted in, a patient accepts:

* purposes: health research (HRESCH) 85%, clinical trials (CLINTRL) 50%, public health
  (PUBHLTH) 45%; operations (HOPERAT) 5%, marketing (HMARKT) 3%; at least one;
* categories: a few each (about 4.7 on average), the non-sensitive clinical ones common
  (diagnoses, lab results, medications), genomics 20%, the other sensitive ones rare; at least
  one;
* organisation types: research 90%, pharma 55%, hospital 40%, insurer 3%; at least one;
* at most 2 invitations a month (the app's default) for 55%, otherwise 1 to 30, mostly few.

Drawn from an RNG of its own, so adding them changed none of the consents: the rest of the
dataset is exactly what generator 2 made. Inserted with one COPY (about 70,000 rows).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from consent_api.research import codes

SEED = "research-preferences-20261201"
ROW_SHARE = 0.35  # patients who answered the prompt at least once
OPTED_IN_SHARE = 0.40  # of those: 14% of all patients opted in
KEPT_CHOICES_SHARE = 0.5  # of those opted out: opted in once, then out (choices kept)
PURPOSES = (
    ("HRESCH", 0.85),
    ("CLINTRL", 0.50),
    ("PUBHLTH", 0.45),
    ("HOPERAT", 0.05),
    ("HMARKT", 0.03),
)
CATEGORIES = (
    ("diagnoses", 0.70),
    ("lab_results", 0.65),
    ("medications", 0.55),
    ("demographics", 0.45),
    ("vital_signs", 0.35),
    ("encounters", 0.30),
    ("procedures", 0.30),
    ("wearables", 0.30),
    ("allergies", 0.25),
    ("imaging", 0.25),
    ("immunizations", 0.20),
    ("genomics", 0.20),
    ("clinical_notes", 0.10),
    ("mental_health", 0.06),
    ("substance_use", 0.03),
    ("sexual_health", 0.02),
)
ORG_TYPES = (("research", 0.90), ("pharma", 0.55), ("hospital", 0.40), ("insurer", 0.03))
DEFAULT_CAP, DEFAULT_CAP_SHARE = 2, 0.55
CAPS = (1, 1, 1, 3, 3, 4, 5, 5, 10, 10, 15, 20, 30)  # the other 45%: mostly few
DAY = 86_400
SET_WITHIN_DAYS = 540  # when they last set them: within the last year and a half
CHANGED_WITHIN_DAYS = 365  # and first, up to a year before (patients are 3-4 years old)
COLUMNS = (
    "patient_id",
    "opted_in",
    "purposes_mask",
    "categories_mask",
    "org_types_mask",
    "max_invitations_per_month",
    "created_at",
    "updated_at",
)


@dataclass
class Loaded:
    """What was inserted."""

    rows: int = 0
    opted_in: int = 0


def _chosen(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> list[str]:
    chosen = [code for code, share in weighted if rng.random() < share]
    return chosen or [weighted[0][0]]


def _mask(rng: random.Random, weighted, positions: tuple[str, ...]) -> int:
    return codes.mask(_chosen(rng, weighted), positions)


def row(rng: random.Random, patient_id: str, now: int, ts) -> tuple[str, bool]:
    """Return one COPY line of a patient's preferences (`ts` formats epoch seconds), and
    whether they are opted in."""
    opted_in = rng.random() < OPTED_IN_SHARE
    if opted_in or rng.random() < KEPT_CHOICES_SHARE:
        masks = (
            _mask(rng, PURPOSES, codes.PURPOSES),
            _mask(rng, CATEGORIES, codes.DATA_CATEGORIES),
            _mask(rng, ORG_TYPES, codes.ORG_TYPES),
        )
    else:
        masks = (0, 0, 0)
    cap = DEFAULT_CAP if rng.random() < DEFAULT_CAP_SHARE else rng.choice(CAPS)
    updated = now - int(rng.random() * SET_WITHIN_DAYS * DAY)
    created = updated - int(rng.random() * CHANGED_WITHIN_DAYS * DAY)
    values = ("t" if opted_in else "f", *map(str, masks), str(cap), ts(created), ts(updated))
    return "\t".join((patient_id, *values)) + "\n", opted_in


def lines(patients: Sequence[str], now: int, ts, counted: Loaded) -> Iterator[str]:
    """Yield the COPY lines in chunks: a row for ROW_SHARE of the patients (counted)."""
    rng = random.Random(SEED)
    chunk = []
    for patient_id in patients:
        if rng.random() < ROW_SHARE:
            line, opted_in = row(rng, patient_id, now, ts)
            chunk.append(line)
            counted.rows += 1
            counted.opted_in += opted_in
        if len(chunk) == 10_000:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


def load(connection: psycopg.Connection, patients: Sequence[str], now: int, ts) -> Loaded:
    """COPY the generated patients' preferences (the table's keys stay: 70,000 rows)."""
    statement = sql.SQL("COPY research_preferences ({}) FROM STDIN").format(
        sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    )
    counted = Loaded()
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        for chunk in lines(patients, now, ts, counted):
            copy.write(chunk)
    connection.commit()
    return counted
