"""Plain words for patients, shared by summaries and notices: lists, dates, who is meant,
and data categories."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import date, datetime

from marshmallow import ValidationError

from consent_api.catalog import CATEGORIES

ORG_TYPE_PLURALS = {
    "hospital": "every hospital",
    "pharma": "every pharmaceutical company",
    "insurer": "every insurer",
    "research": "every research organisation",
}


def join_words(items: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def day(value: date | datetime) -> str:
    """A date as a patient reads it: "3 March 2027"."""
    return f"{value.day} {value:%B %Y}"


def grantee_phrase(*, org_name: str | None, org_type: str | None) -> str:
    """Name the grantee the way a patient would read it."""
    if org_name:
        return org_name
    return ORG_TYPE_PLURALS.get(org_type or "", f"every {org_type}").capitalize()


def categories(codes: Iterable[str]) -> str:
    """Name data categories the way a patient reads them ("your lab results and ..."); more
    than three are counted instead, to keep a title short."""
    codes = list(codes)
    if len(codes) > 3:
        return f"{len(codes)} kinds of your data"
    return join_words([CATEGORIES[code] for code in codes])


# Spaces, controls and format characters (zero-width ones, direction marks): none shows.
_UNSEEN = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})


def visible(value: str) -> None:
    """Refuse a name that would show as blank: only spaces, controls or invisible marks."""
    if all(unicodedata.category(char) in _UNSEEN for char in value):
        raise ValidationError("Must not be blank.")
