"""Each code a research preference can name, at a fixed bit of an integer mask.

Preferences are stored as masks so that "who accepts this scope" is one pass of
`mask & wanted = wanted` over the opted-in patients, in SQL, on any database. The positions
are part of the stored data: a new code is appended, never inserted or reordered
(tests/consent_api/research/test_codes.py holds these lists to the catalog).
"""

from __future__ import annotations

from collections.abc import Iterable

PURPOSES = ("TREAT", "ETREAT", "HPAYMT", "HOPERAT", "HRESCH", "CLINTRL", "PUBHLTH", "HMARKT")
DATA_CATEGORIES = (
    "demographics",
    "encounters",
    "diagnoses",
    "procedures",
    "medications",
    "allergies",
    "immunizations",
    "lab_results",
    "vital_signs",
    "imaging",
    "clinical_notes",
    "wearables",
    "genomics",
    "mental_health",
    "sexual_health",
    "substance_use",
)
ORG_TYPES = ("hospital", "pharma", "research", "insurer")


def mask(codes: Iterable[str], positions: tuple[str, ...]) -> int:
    """The mask with the bit of each code set."""
    bits = 0
    for code in codes:
        bits |= 1 << positions.index(code)
    return bits


def unmask(bits: int, positions: tuple[str, ...]) -> list[str]:
    """The codes a mask names, in the catalog's order."""
    return [code for i, code in enumerate(positions) if bits >> i & 1]
