"""JSON for the whole API: timestamps and dates rendered in ISO 8601, ids as strings; bodies
read no deeper than MAX_DEPTH levels of nesting."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Any

from flask.json.provider import DefaultJSONProvider

# No request of ours nests deeper than a few levels; a cap keeps a hostile body from costing
# a deep recursion (or a RecursionError) in the parser or in what walks the parsed value.
MAX_DEPTH = 64


class TooDeep(ValueError):
    """A JSON document nested deeper than MAX_DEPTH (a ValueError: Flask's bad-JSON path)."""

    def __init__(self) -> None:
        super().__init__(f"JSON nested deeper than {MAX_DEPTH} levels")


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether containers nest deeper than `limit` in a parsed value (iterative)."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if level > limit:
            return True
        stack.extend((child, level + 1) for child in children)
    return False


class ApiJSONProvider(DefaultJSONProvider):
    """Flask's provider, but ISO 8601 where Flask would write HTTP dates."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse, refusing nesting deeper than MAX_DEPTH with `TooDeep`. Only a document with
        more brackets than that is walked, so ordinary bodies cost one count."""
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise TooDeep() from None
        opening = "[{" if isinstance(s, str) else b"[{"
        brackets = s.count(opening[0:1]) + s.count(opening[1:2])
        if brackets > MAX_DEPTH and depth_exceeds(value, MAX_DEPTH):
            raise TooDeep()
        return value

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, datetime | date | time):
            return o.isoformat()
        if isinstance(o, uuid.UUID):
            return str(o)
        return DefaultJSONProvider.default(o)
