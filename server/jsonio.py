"""JSON rendering for the whole API: timestamps and dates in ISO 8601, ids as strings."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Any

from flask.json.provider import DefaultJSONProvider


class ApiJSONProvider(DefaultJSONProvider):
    """Flask's provider, but ISO 8601 where Flask would write HTTP dates."""

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, datetime | date | time):
            return o.isoformat()
        if isinstance(o, uuid.UUID):
            return str(o)
        return DefaultJSONProvider.default(o)
